from . import pos_cashkeeper_agent, pos_cashkeeper_ticket, pos_order, pos_payment, pos_payment_method, pos_session
