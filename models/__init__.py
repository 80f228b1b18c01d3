# Odoo models of pos_cashkeeper (payment method settings, drawer ticket ledger) live here.
