# pos_cashkeeper_payout before pos_cashkeeper_ticket: the ledger inherits its payout rules.
from . import (
    pos_cashkeeper_agent,
    pos_cashkeeper_payout,
    pos_cashkeeper_ticket,
    pos_order,
    pos_payment,
    pos_payment_method,
    pos_session,
)
