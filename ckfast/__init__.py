"""CKFast: the text protocol of CashKeeper's CKMonitor service, plus a simulator of it.

Plain Python with no Odoo import, so the addon, the diagnostic CLI and the later on-site agent
share one implementation. Only relative imports: this package is imported both as
``odoo.addons.pos_cashkeeper.ckfast`` and as top-level ``ckfast``.
"""

# The package's public names, imported from here by the addon, the agent and the tools.
from .client import CKFastClient, CreateResult
from .errors import (
    CKFastError,
    CKFastFieldError,
    CKFastProtocolError,
    CKMonitorTimeout,
    CKMonitorUnreachable,
    TicketConflict,
    error_from_dict,
    error_to_dict,
)
from .protocol import (
    AmountFormat,
    CreateTicket,
    Reply,
    ReplyKind,
    TicketStatus,
    amount_max,
    check_create_line,
    check_reply,
    create_is_ours,
    encode_amount,
    parse_reply,
)
