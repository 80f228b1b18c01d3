"""Request encoding and reply parsing: examples and hypothesis properties."""

import contextlib
from decimal import Decimal

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from ckfast.errors import CKFastFieldError, CKFastProtocolError
from ckfast.protocol import (
    AMOUNT_MAX_MINOR_UNITS,
    REPLIES,
    TICKET_ID_MAX_LEN,
    AmountFormat,
    CreateTicket,
    ReplyKind,
    TicketStatus,
    amount_max,
    check_create_line,
    decode_amount,
    encode_amount,
    parse_reply,
)


# -- encoding: examples ---------------------------------------------------------------------
@pytest.mark.parametrize("decimals, amount", [(2, "150000.00"), (2, "21474836.47"), (0, "2147483647")])
def test_amount_limit_is_in_minor_units_so_large_currencies_fit(decimals, amount):
    """IDR, HUF or COP sales run to hundreds of thousands: the limit counts minor units."""
    assert encode_amount(amount, AmountFormat.CENTS, decimals) == str(int(Decimal(amount).scaleb(decimals)))
    assert amount_max(decimals) == Decimal(AMOUNT_MAX_MINOR_UNITS).scaleb(-decimals)
    with pytest.raises(CKFastFieldError, match="above the"):
        encode_amount(amount_max(decimals) + 1, AmountFormat.CENTS, decimals)


def test_a_stored_create_line_is_sent_back_byte_for_byte():
    line = CreateTicket("K1AB", "12.34", id_caja="2", terminal="TX").encode()
    assert check_create_line(line, "K1AB") == line
    assert check_create_line(line.decode().rstrip("\r\n"), "K1AB") == line


@pytest.mark.parametrize("line, field", [
    ("C|K2|1234|||||efectivo", "NumTiquet"),  # another ticket's line
    ("S|K1", "C"),
    ("C|K1|1234||||efectivo", "C"),  # a field short
    ("C|K1|12a4|||||efectivo", "Importe"),
    ("C|K1|1234||\n||V|efectivo", "IDCaja"),
    ("C|K1|1234||||V|", "FormaPago"),
    (None, "C"),
])
def test_a_corrupt_or_foreign_create_line_is_never_sent(line, field):
    with pytest.raises(CKFastFieldError) as err:
        check_create_line(line, "K1")
    assert err.value.field == field


def test_create_line_has_every_field_in_order():
    line = CreateTicket("T1", "12.34", id2="X", id_caja="3", terminal="TPV1", vendedor="V9").encode()
    assert line == b"C|T1|1234|X|3|TPV1|V9|efectivo\r\n"


def test_status_line():
    assert TicketStatus("AB12").encode() == b"S|AB12\r\n"


@pytest.mark.parametrize(
    ("fmt", "amount", "decimals", "wire"),
    [
        (AmountFormat.CENTS, "12.34", 2, "1234"),
        (AmountFormat.CENTS, 5, 2, "500"),
        (AmountFormat.CENTS, 0.1, 2, "10"),
        (AmountFormat.CENTS, 12.3, 2, "1230"),
        (AmountFormat.CENTS, "7", 0, "7"),
        (AmountFormat.DECIMAL_DOT, "12.3", 2, "12.30"),
        (AmountFormat.DECIMAL_COMMA, 12.34, 2, "12,34"),
        (AmountFormat.DECIMAL_DOT, "1.234", 3, "1.234"),
    ],
)
def test_amount_formats(fmt, amount, decimals, wire):
    assert encode_amount(amount, fmt, decimals) == wire
    assert decode_amount(wire, fmt, decimals) == Decimal(str(amount))


def test_format_example_for_settings_screen():
    assert AmountFormat.CENTS.example() == "12.34 is sent as 1234"
    assert AmountFormat.DECIMAL_COMMA.example() == "12.34 is sent as 12,34"


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (0, "must be positive"),
        (-5, "must be positive"),
        ("-0.01", "must be positive"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        ("NaN", "finite"),
        (True, "must be a number"),
        (None, "must be a number"),
        ("12,34", "not a number"),
        ("abc", "not a number"),
        ("12.345", "more than 2 decimals"),
        (Decimal(AMOUNT_MAX_MINOR_UNITS + 1).scaleb(-2), "above the"),
    ],
)
def test_bad_amounts_name_the_field(amount, message):
    with pytest.raises(CKFastFieldError, match=message) as err:
        encode_amount(amount)
    assert err.value.field == "Importe"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ticket_id": ""}, "NumTiquet"),
        ({"ticket_id": "A" * (TICKET_ID_MAX_LEN + 1)}, "NumTiquet"),
        ({"ticket_id": "T-1"}, "NumTiquet"),
        ({"ticket_id": "T1|9"}, "NumTiquet"),
        ({"ticket_id": "TÉ1"}, "NumTiquet"),
        ({"id2": "a|b"}, "ID2"),
        ({"id_caja": "1\r\nS|X"}, "IDCaja"),
        ({"terminal": "T\n"}, "Terminal"),
        ({"vendedor": "Peña"}, "Vendedor"),
        ({"vendedor": "x" * 41}, "Vendedor"),
        ({"forma_pago": ""}, "FormaPago"),
        ({"forma_pago": "ef\x00"}, "FormaPago"),
        ({"id2": 5}, "ID2"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(kwargs, field):
    args = {"ticket_id": "T1", "amount": 1, **kwargs}
    with pytest.raises(CKFastFieldError) as err:
        CreateTicket(**args).encode()
    assert err.value.field == field
    assert field in str(err.value)


# -- encoding: properties --------------------------------------------------------------------
text_fields = st.text(max_size=50)


@given(
    ticket_id=st.text(max_size=25),
    id2=text_fields,
    id_caja=text_fields,
    terminal=text_fields,
    vendedor=text_fields,
    forma_pago=text_fields,
)
@example(ticket_id="T1", id2="|", id_caja="", terminal="", vendedor="", forma_pago="efectivo")
@example(ticket_id="T1", id2="", id_caja="\r\n", terminal="", vendedor="", forma_pago="efectivo")
def test_encoder_never_injects(ticket_id, id2, id_caja, terminal, vendedor, forma_pago):
    """Whatever the input: refused with a field error, or one line of exactly 8 fields that
    splits back into the inputs."""
    fields = (id2, id_caja, terminal, vendedor, forma_pago)
    try:
        line = CreateTicket(ticket_id, "1.00", id2=id2, id_caja=id_caja, terminal=terminal,
                            vendedor=vendedor, forma_pago=forma_pago).encode()
    except CKFastFieldError:
        return
    assert line.endswith(b"\r\n")
    body = line[:-2]
    assert b"\r" not in body and b"\n" not in body
    assert all(0x20 <= b < 0x7F for b in body)
    assert body.decode().split("|") == ["C", ticket_id, "100", *fields]


@given(
    cents=st.integers(min_value=1, max_value=AMOUNT_MAX_MINOR_UNITS),
    fmt=st.sampled_from(AmountFormat),
)
def test_amount_round_trip(cents, fmt):
    amount = Decimal(cents).scaleb(-2)
    wire = encode_amount(amount, fmt)
    assert decode_amount(wire, fmt) == amount
    assert "|" not in wire and wire.isascii()


@given(amount=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.decimals(), st.text()))
def test_amount_encoder_only_raises_field_errors(amount):
    try:
        wire = encode_amount(amount)
    except CKFastFieldError:
        return
    assert wire.isdigit() and int(wire) > 0


@given(text=st.text(max_size=12), fmt=st.sampled_from(AmountFormat))
def test_amount_decoder_refuses_cleanly(text, fmt):
    with contextlib.suppress(CKFastFieldError):
        assert decode_amount(text, fmt) > 0


# -- parsing ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "kind"), list(REPLIES.items()))
@pytest.mark.parametrize("ending", [b"\r\n", b"\n", b""])
def test_every_known_reply(text, kind, ending):
    reply = parse_reply(text.encode() + ending)
    assert reply.kind is kind
    assert reply.raw == text.encode() + ending


def test_only_ok_ok_is_paid():
    paid = [text for text, kind in REPLIES.items() if kind is ReplyKind.PAID]
    assert paid == ["OK|OK"]


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"  ok|pending \r\n", ReplyKind.PENDING),
        (b"NOK|Not found\r\n", ReplyKind.NOT_FOUND),
        (b"nok already exists\n", ReplyKind.ALREADY_EXISTS),
    ],
)
def test_cosmetic_variants_are_tolerated(raw, kind):
    assert parse_reply(raw).kind is kind


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n",
        b"OK",
        b"OK|",
        b"OK|Pen",  # half a line
        b"OK|OK|OK",
        b"OK OK",
        b"NOK",
        b"NOK Invalid amount\r\n",
        b"\x15\xfe\x00#!?garbage\xff\r\n",
        b"OK|OK\r\nOK|Pending\r\n",  # two lines are not one reply
        b"OK|\x00OK",
        b"OK|Pendiente",
        "ÓK|OK".encode(),
        b"X" * 600,
    ],
)
def test_anything_else_is_a_protocol_error_keeping_raw_bytes(raw):
    with pytest.raises(CKFastProtocolError) as err:
        parse_reply(raw)
    assert err.value.raw == raw[:512]
    assert "do not understand" in str(err.value)


@given(st.binary(max_size=600))
@example(b"OK|OK")
@example(b"\xff\xfe")
def test_parser_returns_a_reply_or_a_protocol_error(raw):
    try:
        reply = parse_reply(raw)
    except CKFastProtocolError as err:
        assert raw.startswith(err.raw)
        return
    # Accepted bytes are one known reply, nothing more.
    normalised = raw.decode("ascii").strip().upper().replace("NOK|", "NOK ")
    assert normalised in {t.upper() for t in REPLIES}
    assert reply.kind is REPLIES[next(t for t in REPLIES if t.upper() == normalised)]


@given(
    text=st.sampled_from(sorted(REPLIES)),
    lead=st.sampled_from(["", " ", "\t"]),
    trail=st.sampled_from(["", "\r\n", "\n", " \r\n"]),
    upper=st.booleans(),
)
def test_known_replies_survive_whitespace_and_case(text, lead, trail, upper):
    wire = lead + (text.upper() if upper else text) + trail
    assert parse_reply(wire.encode()).kind is REPLIES[text]


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30))
def test_printable_text_is_known_or_refused(text):
    assume(text.strip().upper().replace("NOK|", "NOK ") not in {t.upper() for t in REPLIES})
    with pytest.raises(CKFastProtocolError):
        parse_reply(text.encode())


def test_protocol_error_has_a_printable_form():
    with pytest.raises(CKFastProtocolError) as err:
        parse_reply(b"\x15\xfe\x00#!?garbage\xff\r\n")
    assert err.value.printable == "???#!?garbage?"
