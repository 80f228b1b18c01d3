"""CKMonitor simulator: a real TCP server speaking CKFast, with a drawer and fault injection.

Run it:   python -m ckfast.simulator [--port 16501] [--pay-after 3|never] [--amount-format cents]
Control:  a line protocol on --control-port (default: CKFast port + 1, loopback only), driven by
          ``ckfast sim COMMAND`` or any TCP client (``nc 127.0.0.1 16502``)::

    pay ID | cancel ID | hold ID      settle a ticket at the "drawer", or keep it pending forever
    pay-all | cancel-all              settle every pending ticket
    pay-after SECONDS|never           how long new tickets wait before paying themselves
    cancel-after SECONDS|never        ... or before cancelling themselves (wins over pay-after)
    fault MODE [COUNT] [SECONDS]      inject a fault on the next COUNT connections (default: all)
    clear                             remove injected faults and start listening again
    forget                            drop every ticket (CKMonitor restarted and lost its queue)
    tickets | log [N] | help

The control port also answers HTTP, so a browser (a POS tour) or curl can drive it:
``GET /?cmd=pay-all`` runs one command and returns its answer as text (CORS open; loopback only).

Fault modes. ``refuse`` and ``reset`` act before the request is read; the others act after
the request was processed (the ticket IS created), which is the dangerous case for a client:

    refuse   stop listening: connections are refused (until ``clear``)
    reset    accept, then reset the connection
    close    close without replying
    delay    reply after SECONDS (default 10)
    garbage  reply with binary garbage
    half     reply with half a line, then close
    silent   never reply; hold the connection open until the client gives up

Replies beyond the known CKFast set (simulator-only, so a client sees them as protocol errors):
``NOK Invalid amount`` when Importe does not fit the configured format, ``NOK Unknown command``.
"""

import argparse
import contextlib
import enum
import signal
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from decimal import Decimal

from .cli import add_amount_format_option
from .client import DEFAULT_PORT
from .errors import CKFastFieldError
from .protocol import TICKET_ID_MAX_LEN, AmountFormat, decode_amount

GARBAGE = b"\x15\xfe\x00#!?garbage\xff\r\n"


class Fault(enum.Enum):
    REFUSE = "refuse"
    RESET = "reset"
    CLOSE = "close"
    DELAY = "delay"
    GARBAGE = "garbage"
    HALF = "half"
    SILENT = "silent"


class TicketState(enum.Enum):
    PENDING = "pending"
    PAID = "paid"
    CANCELLED = "cancelled"


@dataclass
class Ticket:
    ticket_id: str
    amount: Decimal
    pay_at: float | None  # monotonic time it settles itself; None = never
    state: TicketState = TicketState.PENDING
    settles_as: TicketState = TicketState.PAID


@dataclass
class Request:
    """One connection as the simulator saw it (for tests asserting what was sent)."""

    line: bytes
    reply: bytes | None
    fault: Fault | None
    at: float = field(default_factory=time.time)


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.server.simulator._handle_connection(self.request)


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class Simulator:
    """In-process CKMonitor. ``port=0`` picks a free port (read ``.port`` after ``start``)."""

    def __init__(
        self,
        host="127.0.0.1",
        port=DEFAULT_PORT,
        *,
        control_port=None,
        pay_after=3.0,
        cancel_after=None,
        amount_format=AmountFormat.CENTS,
        decimals=2,
        ticket_id_max_len=TICKET_ID_MAX_LEN,
        log=None,
    ):
        self.host = host
        self.port = port
        self.control_port = control_port
        self.pay_after = pay_after
        self.cancel_after = cancel_after
        self.amount_format = AmountFormat(amount_format)
        self.decimals = decimals
        self.ticket_id_max_len = ticket_id_max_len
        self.requests = []
        self._log = log
        self._tickets = {}
        self._faults = []  # [Fault, remaining count or None, seconds, garbage bytes]
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server = None
        self._control = None
        self._open_connections = set()

    # -- lifecycle --------------------------------------------------------------------------
    def start(self):
        self._stopping.clear()
        self._listen()
        if self.control_port is not None:
            self._control = _Server((self.host, self.control_port), _ControlHandler)
            self._control.simulator = self
            self.control_port = self._control.server_address[1]
            threading.Thread(target=self._control.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self):
        self._stopping.set()
        self._unlisten()
        if self._control:
            self._control.shutdown()
            self._control.server_close()
            self._control = None
        with self._lock:
            for conn in list(self._open_connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _listen(self):
        with self._lock:
            if self._server is None:
                self._server = _Server((self.host, self.port), _Handler)
                self._server.simulator = self
                self.port = self._server.server_address[1]
                threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def _unlisten(self):
        with self._lock:
            server, self._server = self._server, None
        if server:
            server.shutdown()
            server.server_close()

    # -- drawer and fault control -----------------------------------------------------------
    def pay(self, ticket_id):
        self._settle(ticket_id, TicketState.PAID)

    def cancel(self, ticket_id):
        self._settle(ticket_id, TicketState.CANCELLED)

    def settle_all(self, state):
        """Settle every pending ticket as ``state``; return their ids."""
        with self._lock:
            pending = [t for t in self.tickets().values() if t.state is TicketState.PENDING]
            for ticket in pending:
                ticket.state = TicketState(state)
            return [t.ticket_id for t in pending]

    def hold(self, ticket_id):
        """Keep a ticket pending forever (the customer never pays)."""
        with self._lock:
            self._ticket(ticket_id).pay_at = None

    def _settle(self, ticket_id, state):
        with self._lock:
            ticket = self._ticket(ticket_id)
            self._resolve(ticket)
            if ticket.state is not TicketState.PENDING:
                raise ValueError(f"ticket {ticket_id} is already {ticket.state.value}")
            ticket.state = state

    def _ticket(self, ticket_id):
        try:
            return self._tickets[ticket_id]
        except KeyError:
            raise KeyError(f"no ticket {ticket_id}") from None

    def ticket_state(self, ticket_id):
        with self._lock:
            ticket = self._ticket(ticket_id)
            self._resolve(ticket)
            return ticket.state

    def tickets(self):
        with self._lock:
            for ticket in self._tickets.values():
                self._resolve(ticket)
            return dict(self._tickets)

    def forget(self, ticket_id=None):
        """Drop every ticket (or one), as a CKMonitor restart that lost its queue would."""
        with self._lock:
            if ticket_id is None:
                self._tickets.clear()
            else:
                self._tickets.pop(ticket_id, None)

    def inject(self, fault, count=None, seconds=10.0, garbage=GARBAGE):
        """Apply ``fault`` to the next ``count`` connections (None: until ``clear``).

        ``seconds`` is the ``delay`` fault's delay; ``garbage`` what the ``garbage`` fault sends
        (tests use it to send a well-formed but unexpected reply).
        """
        fault = Fault(fault)
        with self._lock:
            if fault is Fault.REFUSE:
                self._unlisten()
            else:
                self._faults.append([fault, count, seconds, garbage])

    def clear_faults(self):
        with self._lock:
            self._faults.clear()
        if not self._stopping.is_set():
            self._listen()

    def _take_fault(self):
        with self._lock:
            if not self._faults:
                return None, 0, b""
            entry = self._faults[0]
            if entry[1] is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    self._faults.pop(0)
            return entry[0], entry[2], entry[3]

    # -- protocol ---------------------------------------------------------------------------
    def _handle_connection(self, conn):
        fault, seconds, garbage = self._take_fault()
        if fault is Fault.RESET:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self._record(b"", None, fault)
            return  # closing with linger 0 sends RST
        with self._lock:
            self._open_connections.add(conn)
        try:
            line = _read_request(conn)
            if line is None:
                return
            reply = self.handle_line(line)
            self._record(line, reply, fault)
            if fault is Fault.CLOSE:
                return
            if fault is Fault.DELAY:
                if self._stopping.wait(seconds):
                    return
            elif fault is Fault.GARBAGE:
                reply = garbage
            elif fault is Fault.HALF:
                reply = reply[: max(1, len(reply.rstrip()) // 2)]
            elif fault is Fault.SILENT:
                _wait_for_peer_close(conn, self._stopping)
                return
            conn.sendall(reply)
        except OSError:
            pass  # the client went away; nothing to do
        finally:
            with self._lock:
                self._open_connections.discard(conn)

    def _record(self, line, reply, fault):
        request = Request(line, reply, fault)
        with self._lock:
            self.requests.append(request)
        if self._log:
            self._log(_log_row(request))

    def handle_line(self, line):
        """Answer one request line (bytes, with or without terminator) as CKMonitor would."""
        text = line.rstrip(b"\r\n").decode("ascii", "replace")
        parts = text.split("|")
        with self._lock:
            if parts[0] == "C" and len(parts) == 8:
                return self._create(parts[1], parts[2])
            if parts[0] == "S" and len(parts) == 2:
                return self._status(parts[1])
        return b"NOK Unknown command\r\n"

    def _create(self, ticket_id, amount_text):
        if not (1 <= len(ticket_id) <= self.ticket_id_max_len and ticket_id.isascii() and ticket_id.isalnum()):
            return b"NOK Invalid ID\r\n"
        if ticket_id in self._tickets:
            return b"NOK Already exists\r\n"
        try:
            amount = decode_amount(amount_text, self.amount_format, self.decimals)
        except CKFastFieldError:
            return b"NOK Invalid amount\r\n"
        if self.cancel_after is not None:  # wins over pay-after
            after, settles_as = self.cancel_after, TicketState.CANCELLED
        else:
            after, settles_as = self.pay_after, TicketState.PAID
        settle_at = None if after is None else time.monotonic() + after
        self._tickets[ticket_id] = Ticket(ticket_id, amount, settle_at, settles_as=settles_as)
        return b"OK|Added\r\n"

    def _status(self, ticket_id):
        ticket = self._tickets.get(ticket_id)
        if ticket is None:
            return b"NOK Not found\r\n"
        self._resolve(ticket)
        return {
            TicketState.PENDING: b"OK|Pending\r\n",
            TicketState.PAID: b"OK|OK\r\n",
            TicketState.CANCELLED: b"OK|Cancel\r\n",
        }[ticket.state]

    @staticmethod
    def _resolve(ticket):
        due = ticket.pay_at is not None and time.monotonic() >= ticket.pay_at
        if ticket.state is TicketState.PENDING and due:
            ticket.state = ticket.settles_as

    # -- control port -----------------------------------------------------------------------
    def control(self, command):
        """Run one control command (see module doc); return the text answer."""
        words = command.split()
        if not words:
            return "error: empty command"
        verb, args = words[0].lower(), words[1:]
        try:
            if verb in ("pay", "cancel", "hold") and len(args) == 1:
                getattr(self, verb)(args[0])
                return f"ok {verb} {args[0]}"
            if verb in ("pay-all", "cancel-all") and not args:
                state = TicketState.PAID if verb == "pay-all" else TicketState.CANCELLED
                settled = self.settle_all(state)
                return f"ok {state.value}: {' '.join(settled) or '(no pending ticket)'}"
            if verb in ("pay-after", "cancel-after") and len(args) == 1:
                value = None if args[0] == "never" else float(args[0])
                setattr(self, verb.replace("-", "_"), value)
                return f"ok {verb} {args[0]}"
            if verb == "fault" and 1 <= len(args) <= 3:
                count = int(args[1]) if len(args) > 1 and args[1] != "all" else None
                seconds = float(args[2]) if len(args) > 2 else 10.0
                self.inject(args[0], count, seconds)
                return f"ok fault {args[0]} on {'all' if count is None else count} connection(s)"
            if verb == "clear" and not args:
                self.clear_faults()
                return "ok faults cleared"
            if verb == "forget" and not args:
                self.forget()
                return "ok tickets forgotten"
            if verb == "tickets" and not args:
                rows = [f"{t.ticket_id} {t.state.value} {t.amount}" for t in self.tickets().values()]
                return "\n".join(rows) or "(no tickets)"
            if verb == "log" and len(args) <= 1:
                count = int(args[0]) if args else 20
                return "\n".join(_log_row(r) for r in self.requests[-count:]) or "(no requests)"
            if verb == "help":
                return __doc__.split("Control:", 1)[1].split("Fault modes.")[0].strip()
        except (KeyError, ValueError) as e:
            return f"error: {e.args[0] if e.args else e}"
        return f"error: unknown command {command.strip()!r} (try: help)"


class _ControlHandler(socketserver.StreamRequestHandler):
    def handle(self):
        for raw in self.rfile:
            line = raw.decode("utf-8", "replace")
            if line.startswith(("GET ", "POST ", "OPTIONS ")):
                self._http(line)
                return
            answer = self.server.simulator.control(line)
            self.wfile.write(answer.encode() + b"\n.\n")  # "." line ends an answer

    def _http(self, request_line):
        while self.rfile.readline().strip():  # skip headers
            pass
        query = urllib.parse.urlsplit(request_line.split()[1]).query
        command = urllib.parse.parse_qs(query).get("cmd", ["help"])[0]
        body = self.server.simulator.control(command).encode() + b"\n"
        status = b"400 Bad Request" if body.startswith(b"error") else b"200 OK"
        self.wfile.write(
            b"HTTP/1.0 " + status + b"\r\nContent-Type: text/plain\r\nAccess-Control-Allow-Origin: *\r\n"
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )


def _log_row(request):
    line = request.line.rstrip(b"\r\n").decode("ascii", "replace") or "(no request)"
    reply = "-" if request.reply is None else request.reply.rstrip(b"\r\n").decode("ascii", "replace")
    fault = f"  [fault: {request.fault.value}]" if request.fault else ""
    return f"{line}  ->  {reply}{fault}"


def _read_request(conn, limit=1024, timeout=10.0):
    conn.settimeout(timeout)
    data = b""
    try:
        while b"\n" not in data and len(data) < limit:
            chunk = conn.recv(limit)
            if not chunk:
                break
            data += chunk
    except OSError:
        return None
    return data or None


def _wait_for_peer_close(conn, stopping):
    conn.settimeout(0.1)
    while not stopping.is_set():
        try:
            if not conn.recv(1024):
                return
        except TimeoutError:
            continue
        except OSError:
            return


def main(argv=None):
    parser = argparse.ArgumentParser(prog="ckmonitor-sim", description="CKMonitor simulator (CKFast over TCP)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="CKFast port (default 16501)")
    parser.add_argument("--control-port", type=int, help="control port (default: --port + 1)")
    parser.add_argument(
        "--pay-after", default="3", help="seconds before a new ticket pays itself, or 'never' (default 3)"
    )
    parser.add_argument(
        "--cancel-after", default="never", help="seconds before a new ticket cancels itself (default never)"
    )
    add_amount_format_option(parser, "Importe format CKMonitor expects; others are refused")
    parser.add_argument("--decimals", type=int, default=2, help="currency decimals (default 2)")
    parser.add_argument("--quiet", action="store_true", help="do not print each request")
    args = parser.parse_args(argv)
    pay_after = None if args.pay_after == "never" else float(args.pay_after)
    cancel_after = None if args.cancel_after == "never" else float(args.cancel_after)
    control_port = args.port + 1 if args.control_port is None else args.control_port

    def log(message):
        print(time.strftime("%H:%M:%S"), message, flush=True)

    sim = Simulator(
        "127.0.0.1" if args.host == "localhost" else args.host,
        args.port,
        control_port=control_port,
        pay_after=pay_after,
        cancel_after=cancel_after,
        amount_format=args.amount_format,
        decimals=args.decimals,
        log=None if args.quiet else log,
    )
    try:
        sim.start()
    except OSError as e:
        print(f"ckmonitor-sim: cannot listen on {args.host}:{args.port} or control port: {e}", file=sys.stderr)
        return 1
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(
        f"CKMonitor simulator listening on {sim.host}:{sim.port} (control {sim.host}:{sim.control_port}); "
        f"tickets pay after {args.pay_after} s; Importe format {args.amount_format}. Ctrl-C stops.",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
