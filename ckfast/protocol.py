"""CKFast wire format: request encoding and reply parsing.

No public CKFast specification exists. Everything below that goes beyond the lines known from
CashKeeper's integrators (``C|…`` / ``S|…`` requests and the replies in ``REPLIES``) is a choice
made here, in this one module, and mirrored by the simulator:

* Line terminator: requests end with CR LF; a reply ends at CR LF, a bare LF, or the peer
  closing the connection (see ``client.py``).
* Encoding: every field is printable ASCII (0x20-0x7E) without ``|``, so no encoding question
  arises and no field can inject a separator or a line break.
* Ticket id (``NumTiquet``): 1-20 letters or digits (``TICKET_ID_MAX_LEN``). CKMonitor rejects
  "too long or special characters" ids without saying its limit; ids we generate stay shorter.
* Amount (``Importe``): the riskiest unknown, a wrong guess charges 100x too much or too little.
  ``AmountFormat`` names the three candidates; integer minor units (cents) is the default, like
  CashKeeper's ActiveX API and comparable cash machines. ``encode_amount`` is the only encoder;
  ``AMOUNT_MAX_MINOR_UNITS`` the only limit.
* A ``C`` is encoded once, stored, and every resend is that line byte for byte
  (``check_create_line`` re-validates a stored line before it goes out again).
* Replies are matched case-insensitively after trimming surrounding white space, and ``NOK|x``
  is read like ``NOK x``: tolerant of cosmetic variation, never of a different meaning.
"""

import enum
import math
import re
import string
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .errors import CKFastFieldError, CKFastProtocolError

TERMINATOR = b"\r\n"
FIELD_SEPARATOR = "|"
TICKET_ID_MAX_LEN = 20
TEXT_FIELD_MAX_LEN = 40
# The largest Importe, in the currency's minor units (cents for EUR, so 21,474,836.47 EUR; the
# same count of hundredths for IDR, HUF or COP, whose sales run to millions): the largest signed
# 32-bit integer, what a Windows service most plausibly reads a number into. A limit in major
# units cannot fit every currency; the 100x format mistake is caught at commissioning instead.
AMOUNT_MAX_MINOR_UNITS = 2**31 - 1

_PRINTABLE = frozenset(chr(c) for c in range(0x20, 0x7F)) - {FIELD_SEPARATOR}
_TICKET_ID_CHARS = frozenset(string.ascii_letters + string.digits)


class AmountFormat(enum.Enum):
    """How ``Importe`` is written on the wire. Values are the setting's stored keys."""

    CENTS = "cents"  # integer minor units: 12.34 -> "1234"
    DECIMAL_DOT = "decimal_dot"  # 12.34 -> "12.34"
    DECIMAL_COMMA = "decimal_comma"  # 12.34 -> "12,34"

    def example(self):
        """Human explanation for settings screens, e.g. '12.34 is sent as 1234'."""
        return f"12.34 is sent as {encode_amount('12.34', self)}"

    @property
    def label(self):
        """The setting's label (the payment method's choices, the command lines' help), e.g.
        'Integer cents (12.34 is sent as 1234)'."""
        return f"{_FORMAT_NAMES[self.value]} ({self.example()})"


_FORMAT_NAMES = {"cents": "Integer cents", "decimal_dot": "Decimal with a dot", "decimal_comma": "Decimal with a comma"}


def validate_text_field(field, value, *, allow_empty=True):
    """Return ``value`` if it is a safe free-text CKFast field (may be empty unless ``allow_empty`` is false)."""
    if not isinstance(value, str):
        raise CKFastFieldError(field, f"must be text, got {type(value).__name__}")
    if not value and not allow_empty:
        raise CKFastFieldError(field, "must not be empty")
    if len(value) > TEXT_FIELD_MAX_LEN:
        raise CKFastFieldError(field, f"is {len(value)} characters long, at most {TEXT_FIELD_MAX_LEN} allowed")
    bad = sorted({c for c in value if c not in _PRINTABLE})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:5])
        raise CKFastFieldError(
            field, f"contains {shown}; only printable ASCII without '|' (no line breaks) is allowed"
        )
    return value


def validate_ticket_id(ticket_id):
    """Return ``ticket_id`` if it is 1-20 ASCII letters/digits, else raise CKFastFieldError."""
    field = "NumTiquet"
    if not isinstance(ticket_id, str):
        raise CKFastFieldError(field, f"must be text, got {type(ticket_id).__name__}")
    if not 1 <= len(ticket_id) <= TICKET_ID_MAX_LEN:
        raise CKFastFieldError(field, f"must be 1 to {TICKET_ID_MAX_LEN} characters, got {len(ticket_id)}")
    if not set(ticket_id) <= _TICKET_ID_CHARS:
        raise CKFastFieldError(field, "may only contain ASCII letters and digits")
    return ticket_id


def to_decimal(amount):
    """Convert an int, float, Decimal or numeric string to a finite Decimal (no bools)."""
    if isinstance(amount, bool) or not isinstance(amount, int | float | Decimal | str):
        raise CKFastFieldError("Importe", f"must be a number, got {type(amount).__name__}")
    if isinstance(amount, float):
        if not math.isfinite(amount):
            raise CKFastFieldError("Importe", f"must be a finite number, got {amount}")
        amount = repr(amount)  # shortest repr: 12.34 stays 12.34, not 12.3399999…
    try:
        value = Decimal(amount.strip() if isinstance(amount, str) else amount)
    except InvalidOperation:
        raise CKFastFieldError("Importe", f"is not a number: {amount!r}") from None
    if not value.is_finite():
        raise CKFastFieldError("Importe", f"must be a finite number, got {amount!r}")
    return value


def encode_amount(amount, amount_format=AmountFormat.CENTS, decimals=2):
    """Write a positive amount in major units (e.g. euros) as ``Importe``.

    ``decimals`` is the currency's precision; an amount with more decimals is refused rather
    than rounded, because rounding money silently is how drawers and books disagree.
    """
    fmt = AmountFormat(amount_format)
    if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 6:
        raise CKFastFieldError("Importe", f"currency precision must be 0 to 6 decimals, got {decimals!r}")
    value = to_decimal(amount)
    if value <= 0:
        raise CKFastFieldError("Importe", f"must be positive, got {value}")
    if value > amount_max(decimals):
        raise CKFastFieldError("Importe", f"{value} is above the {amount_max(decimals)} limit")
    quantum = Decimal(1).scaleb(-decimals)
    if value != value.quantize(quantum):
        raise CKFastFieldError("Importe", f"{value} has more than {decimals} decimals")
    if fmt is AmountFormat.CENTS:
        return str(int(value.scaleb(decimals)))
    text = f"{value.quantize(quantum):f}"
    return text.replace(".", ",") if fmt is AmountFormat.DECIMAL_COMMA else text


def amount_max(decimals=2):
    """The largest amount ``encode_amount`` takes, in major units, for a currency with ``decimals``."""
    return Decimal(AMOUNT_MAX_MINOR_UNITS).scaleb(-decimals)


def decode_amount(text, amount_format=AmountFormat.CENTS, decimals=2):
    """Read ``Importe`` back into a Decimal in major units; raise CKFastFieldError if it does
    not fit ``amount_format`` exactly (used by the simulator to reject a wrong format)."""
    fmt = AmountFormat(amount_format)
    sep = {AmountFormat.DECIMAL_DOT: r"\.", AmountFormat.DECIMAL_COMMA: ","}.get(fmt)
    # Only the shape encode_amount writes: a decimal format has exactly ``decimals`` digits after
    # its separator, and no separator at all for a currency without decimals.
    shape = rf"[0-9]+{sep}[0-9]{{{decimals}}}" if sep and decimals else "[0-9]+"
    value = None
    if re.fullmatch(shape, text):
        value = Decimal(text.replace(",", ".")) if sep else Decimal(text).scaleb(-decimals)
    if value is None or value <= 0:
        raise CKFastFieldError("Importe", f"{text!r} is not a positive amount in {fmt.value} format")
    return value


def encode_command(code, *fields):
    """Join a command code and its already validated fields into one request line."""
    line = FIELD_SEPARATOR.join((code, *fields))
    # Defence in depth: validators above must make this impossible.
    if any(c not in _PRINTABLE and c != FIELD_SEPARATOR for c in line):
        raise CKFastFieldError(code, "request would contain a non-printable character")
    return line.encode("ascii") + TERMINATOR


@dataclass(frozen=True)
class CreateTicket:
    """``C|NumTiquet|Importe|ID2|IDCaja|Terminal|Vendedor|FormaPago``: queue a ticket."""

    ticket_id: str
    amount: object  # major units (Decimal, int, float or numeric str)
    amount_format: AmountFormat = AmountFormat.CENTS
    decimals: int = 2
    id2: str = ""
    id_caja: str = ""
    terminal: str = ""
    vendedor: str = ""
    forma_pago: str = "efectivo"

    def encode(self):
        return encode_command(
            "C",
            validate_ticket_id(self.ticket_id),
            encode_amount(self.amount, self.amount_format, self.decimals),
            validate_text_field("ID2", self.id2),
            validate_text_field("IDCaja", self.id_caja),
            validate_text_field("Terminal", self.terminal),
            validate_text_field("Vendedor", self.vendedor),
            validate_text_field("FormaPago", self.forma_pago, allow_empty=False),
        )


def check_create_line(line, ticket_id):
    """Return a stored ``C`` request (text or bytes, with or without its terminator) as the bytes
    to send, after checking it is a well-formed ``C`` for ``ticket_id``: a resend must be the
    first request byte for byte, and a corrupted or foreign line must never reach the drawer."""
    text = line.decode("ascii", "replace") if isinstance(line, bytes) else line
    if not isinstance(text, str):
        raise CKFastFieldError("C", f"must be text, got {type(line).__name__}")
    text = text.removesuffix(TERMINATOR.decode())
    fields = text.split(FIELD_SEPARATOR)
    if len(fields) != 8 or fields[0] != "C":
        raise CKFastFieldError("C", "is not a create request (C and 7 fields)")
    if fields[1] != validate_ticket_id(ticket_id):
        raise CKFastFieldError("NumTiquet", f"is {fields[1]!r}, not {ticket_id!r}")
    if not (fields[2].isascii() and fields[2].replace(".", "", 1).replace(",", "", 1).isdigit()):
        raise CKFastFieldError("Importe", f"{fields[2]!r} is not an amount")
    for name, value in zip(("ID2", "IDCaja", "Terminal", "Vendedor"), fields[3:7], strict=True):
        validate_text_field(name, value)
    validate_text_field("FormaPago", fields[7], allow_empty=False)
    return encode_command(*fields)


@dataclass(frozen=True)
class TicketStatus:
    """``S|NumTiquet``: ask for a ticket's state."""

    ticket_id: str

    def encode(self):
        return encode_command("S", validate_ticket_id(self.ticket_id))


class ReplyKind(enum.Enum):
    ADDED = "added"  # C: ticket queued
    INVALID_ID = "invalid_id"  # C: id too long or special characters
    ALREADY_EXISTS = "already_exists"  # C: id already used
    PAID = "paid"  # S: collected; the ONLY reply that makes a payment done
    PENDING = "pending"  # S: waiting for cash
    CANCELLED = "cancelled"  # S: cancelled at the drawer
    NOT_FOUND = "not_found"  # S: no such ticket


# The replies as known, in their canonical spelling.
REPLIES = {
    "OK|Added": ReplyKind.ADDED,
    "NOK Invalid ID": ReplyKind.INVALID_ID,
    "NOK Already exists": ReplyKind.ALREADY_EXISTS,
    "OK|OK": ReplyKind.PAID,
    "OK|Pending": ReplyKind.PENDING,
    "OK|Cancel": ReplyKind.CANCELLED,
    "NOK Not found": ReplyKind.NOT_FOUND,
}
_REPLY_LOOKUP = {text.upper(): kind for text, kind in REPLIES.items()}

# Which replies are an answer to which command; anything else is a protocol error.
EXPECTED_REPLIES = {
    CreateTicket: frozenset({ReplyKind.ADDED, ReplyKind.INVALID_ID, ReplyKind.ALREADY_EXISTS}),
    TicketStatus: frozenset(
        {ReplyKind.PAID, ReplyKind.PENDING, ReplyKind.CANCELLED, ReplyKind.NOT_FOUND}
    ),
}

MAX_REPLY_BYTES = 512


def check_reply(raw, command):
    """The reply ``raw`` to a ``command`` (CreateTicket or TicketStatus): a ``Reply`` of a kind that
    answers it, else ``CKFastProtocolError``. The one check, for the client and for what the
    on-site agent reports."""
    reply = parse_reply(raw)
    if reply.kind not in EXPECTED_REPLIES[command]:
        code = "C" if command is CreateTicket else "S"
        raise CKFastProtocolError(reply.raw, f"not an answer to {code}")
    return reply


def create_is_ours(reply, sent_before):
    """Is the ticket queued for us after this reply to C? ``OK|Added``, or ``NOK Already exists``
    when a C of ours for that id may have gone out before (a timeout, a restart, a concurrent
    attempt): then the id is ours, already queued. Anything else is a conflict."""
    return reply.kind is ReplyKind.ADDED or (reply.kind is ReplyKind.ALREADY_EXISTS and bool(sent_before))


@dataclass(frozen=True)
class Reply:
    kind: ReplyKind
    raw: bytes


def parse_reply(raw):
    """Turn one reply line into a ``Reply``; raise ``CKFastProtocolError`` for anything else.

    Never raises any other exception, whatever the bytes.
    """
    raw = bytes(raw)
    if not raw.strip():
        raise CKFastProtocolError(raw, "empty reply")
    if len(raw) > MAX_REPLY_BYTES:
        raise CKFastProtocolError(raw[:MAX_REPLY_BYTES], f"reply longer than {MAX_REPLY_BYTES} bytes")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise CKFastProtocolError(raw, "reply is not ASCII text") from None
    text = text.strip()
    if any(c not in _PRINTABLE and c != FIELD_SEPARATOR for c in text):
        raise CKFastProtocolError(raw, "reply holds control characters or several lines")
    key = text.upper()
    if key.startswith("NOK|"):
        key = "NOK " + key[4:]
    kind = _REPLY_LOOKUP.get(key)
    if kind is None:
        raise CKFastProtocolError(raw)
    return Reply(kind, raw)
