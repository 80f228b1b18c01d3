"""Diagnostic command-line client for CKMonitor (real or simulated).

    ckfast ping                       is CKMonitor reachable, and does it speak CKFast?
    ckfast create ID AMOUNT [opts]    queue ticket ID for AMOUNT (major units, e.g. 12.34)
    ckfast status ID                  ask a ticket's state
    ckfast wait ID                    poll a ticket until it is paid or cancelled
    ckfast sim COMMAND…               drive the simulator's control port (pay ID, fault close 1…)

Without the console script: ``python -m ckfast …``. Exit status: 0 done, 1 CKMonitor problem
(the message says what to check), 2 bad usage or input.
"""

import argparse
import socket
import sys
import time

from .client import DEFAULT_PORT, CKFastClient
from .errors import CKFastError, CKFastFieldError
from .protocol import AmountFormat, CreateTicket, ReplyKind


def add_amount_format_option(parser, what):
    """``--amount-format``, its choices and their meaning said once (the CLI's and the simulator's)."""
    choices = "; ".join(f"{f.value}: {f.label}" for f in AmountFormat)
    parser.add_argument("--amount-format", default=AmountFormat.CENTS.value, choices=[f.value for f in AmountFormat],
                        help=f"{what} (default {AmountFormat.CENTS.value}). {choices}")

def _client(args):
    return CKFastClient(
        args.host,
        args.port,
        connect_timeout=args.connect_timeout,
        read_timeout=args.read_timeout,
        retries=args.retries,
    )


def cmd_ping(args, out):
    started = time.monotonic()
    reply = _client(args).ping()
    ms = (time.monotonic() - started) * 1000
    out(f"CKMonitor at {args.host}:{args.port} answers CKFast ({reply.raw.strip().decode()!s}) in {ms:.1f} ms")


def cmd_create(args, out):
    # The options are named as CreateTicket's fields.
    names = ("decimals", "id2", "id_caja", "terminal", "vendedor", "forma_pago")
    fields = {name: getattr(args, name) for name in names}
    line = CreateTicket(args.ticket_id, args.amount, amount_format=AmountFormat(args.amount_format), **fields).encode()
    out(f"sending {line.decode().strip()}")
    result = _client(args).send_create(line, args.ticket_id, sent_before=args.resend)  # the very line shown
    note = " (it already existed from an earlier attempt)" if result.already_existed else ""
    out(f"ticket {args.ticket_id} queued: {result.reply.raw.strip().decode()}{note}")


_MEANING = {
    ReplyKind.PAID: "paid",
    ReplyKind.PENDING: "pending (waiting for cash)",
    ReplyKind.CANCELLED: "cancelled at the drawer",
    ReplyKind.NOT_FOUND: "not found (CKMonitor has no such ticket)",
}


def cmd_status(args, out):
    reply = _client(args).ticket_status(args.ticket_id)
    out(f"ticket {args.ticket_id}: {_MEANING[reply.kind]} ({reply.raw.strip().decode()})")
    return 0 if reply.kind is not ReplyKind.NOT_FOUND else 1


def cmd_wait(args, out):
    client = _client(args)
    deadline = time.monotonic() + args.timeout
    while True:
        reply = client.ticket_status(args.ticket_id)
        if reply.kind is not ReplyKind.PENDING or time.monotonic() >= deadline:
            break
        time.sleep(args.interval)
    out(f"ticket {args.ticket_id}: {_MEANING[reply.kind]} ({reply.raw.strip().decode()})")
    return 0 if reply.kind is ReplyKind.PAID else 1


def cmd_sim(args, out):
    port = args.control_port or args.port + 1
    try:
        with socket.create_connection((args.host, port), timeout=args.connect_timeout) as sock:
            sock.sendall(" ".join(args.words).encode() + b"\n")
            sock.settimeout(args.read_timeout)
            data = b""
            while not data.endswith(b"\n.\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        out(f"Cannot reach the simulator's control port {args.host}:{port} ({e}): is ckmonitor-sim running?")
        return 1
    answer = data.decode(errors="replace").removesuffix("\n.\n")
    out(answer)
    return 1 if answer.startswith("error") else 0


def build_parser():
    parser = argparse.ArgumentParser(prog="ckfast", description="CKFast diagnostic client for CKMonitor")
    parser.add_argument("--host", default="127.0.0.1", help="CKMonitor host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"CKMonitor port (default {DEFAULT_PORT})")
    parser.add_argument("--connect-timeout", type=float, default=3.0, help="seconds (default 3)")
    parser.add_argument("--read-timeout", type=float, default=5.0, help="seconds (default 5)")
    parser.add_argument("--retries", type=int, default=2, help="retries on connection failures (default 2)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("ping", help="check CKMonitor answers CKFast").set_defaults(run=cmd_ping)

    create = sub.add_parser("create", help="queue a ticket (C)")
    create.add_argument("ticket_id")
    create.add_argument("amount", help="in major units, e.g. 12.34")
    add_amount_format_option(create, "how Importe is written")
    create.add_argument("--decimals", type=int, default=2, help="currency decimals (default 2)")
    create.add_argument("--id2", default="")
    create.add_argument("--id-caja", default="", help="IDCaja (POS/till number)")
    create.add_argument("--terminal", default="")
    create.add_argument("--vendedor", default="", help="seller code")
    create.add_argument("--forma-pago", default="efectivo", help="FormaPago (default efectivo)")
    create.add_argument(
        "--resend", action="store_true", help="this id was sent before: 'Already exists' means queued"
    )
    create.set_defaults(run=cmd_create)

    status = sub.add_parser("status", help="ask a ticket's state (S)")
    status.add_argument("ticket_id")
    status.set_defaults(run=cmd_status)

    wait = sub.add_parser("wait", help="poll until paid or cancelled")
    wait.add_argument("ticket_id")
    wait.add_argument("--interval", type=float, default=0.5, help="seconds between polls (default 0.5)")
    wait.add_argument("--timeout", type=float, default=120.0, help="give up after (default 120 s)")
    wait.set_defaults(run=cmd_wait)

    sim = sub.add_parser("sim", help="send a command to ckmonitor-sim's control port")
    sim.add_argument("--control-port", type=int, help="default: --port + 1")
    sim.add_argument("words", nargs="+", help="e.g. pay T1 | fault close 1 | tickets | help")
    sim.set_defaults(run=cmd_sim)
    return parser


def main(argv=None, out=print):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args, out) or 0
    except CKFastError as e:
        out(f"error: {e}")
        return 2 if isinstance(e, CKFastFieldError) else 1  # bad input, or a CKMonitor problem


if __name__ == "__main__":
    sys.exit(main())
