"""The ledger's states and their groups, named once for the ledger, the transport, the agent's
endpoints and the kiosk bridge."""

from ..ckfast.agent_link import FINAL_STATES, NEW

STATES = [
    (NEW, "New"),  # recorded; CKMonitor has not (yet) confirmed its C
    ("queued", "Queued"),  # CKMonitor accepted C
    ("pending", "Pending"),  # S said Pending: waiting for the cash
    ("paid", "Paid"),  # S said OK|OK
    ("cancelled", "Cancelled"),  # S said OK|Cancel: cancelled at the drawer
    ("failed", "Failed"),  # CKMonitor refused C or never received it: no cash can be taken
    ("abandoned", "Abandoned"),  # the POS (or kiosk) gave up while the drawer may still take cash
    ("paid_after_abandon", "Paid after abandon"),  # the drawer collected after the POS gave up
    ("anomaly", "Anomaly"),  # CKMonitor lost a ticket it had queued (NOK Not found)
    # Payouts (refunds paid out at the drawer), declared in the POS: see pos_cashkeeper_payout.py.
    ("payout_waiting", "Payout waiting"),  # declared by the cashier, to be confirmed by a manager
    ("paid_out", "Paid out"),  # declared (and confirmed where a manager must): the cash left
    ("payout_cancelled", "Payout cancelled"),  # withdrawn or refused before it was confirmed
]
# CKMonitor has confirmed the C and a POS line (or the kiosk) waits for the cash.
WAITING_STATES = ("queued", "pending")
# CKMonitor has confirmed the C and the drawer may still take cash: ask it (S).
ASKED_STATES = (*WAITING_STATES, "abandoned")
# The drawer may still collect cash: keep asking CKMonitor (or send the C first).
OPEN_STATES = (NEW, *ASKED_STATES)
# A POS line follows these: the cashier abandons them on cancel (an abandoned one stays abandoned).
FOLLOWED_STATES = (NEW, *WAITING_STATES)
PAYOUT_FINAL_STATES = ("paid_out", "payout_cancelled")
# Nothing more happens to the ticket by itself: the POS stops following it.
SETTLED_STATES = FINAL_STATES + PAYOUT_FINAL_STATES
# The drawer holds the cash of these tickets: each must be on one order, or flagged.
PAID_STATES = ("paid", "paid_after_abandon")
# Cash moved in or out of the drawer for these: each must be on one order, or flagged.
MOVED_STATES = (*PAID_STATES, "paid_out")
# A ticket bound to a payment of an order is in one of these (binding makes a paid after abandon paid).
BOUND_STATES = ("paid", "paid_out")
# A ticket in these holds its payment line: one per line (resumed, never duplicated).
LINE_STATES = (*OPEN_STATES, *PAID_STATES, "payout_waiting", "paid_out")
