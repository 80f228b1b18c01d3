from . import pos_cashkeeper_ticket, pos_payment_method
