from . import pos_cashkeeper_ticket, pos_config, pos_order, pos_order_cash_payment, pos_payment_method
