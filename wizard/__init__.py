from . import pos_cashkeeper_commissioning, pos_make_payment
