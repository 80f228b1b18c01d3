"""A tiny real HTTP server speaking agent/PROTOCOL.md from memory, with Odoo's state rules for
reports (models/pos_cashkeeper_agent.py ``_report``), and knobs to make it fail."""

import json
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ckfast import CKFastProtocolError, ReplyKind, error_from_dict, parse_reply

OPEN_STATES = ("new", "queued", "pending", "abandoned")
C_REPLIES = {ReplyKind.ADDED, ReplyKind.INVALID_ID, ReplyKind.ALREADY_EXISTS}


def wait_until(predicate, timeout=5.0, step=0.01):
    """True as soon as ``predicate()`` is true, False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


@dataclass
class Ticket:
    name: str
    state: str = "new"
    attempts: int = 0
    queued: bool = False
    last_error: object = None
    request: str = ""  # the C line Odoo stored; made from the name when empty


@dataclass
class Call:
    name: str  # poll, claim, report, login
    params: dict
    status: object  # "ok", an HTTP status, "rpc-error", "dropped"
    cookie: str = ""
    at: float = 0.0


class RpcError(Exception):
    def __init__(self, name, message):
        super().__init__(message)
        self.name, self.message = name, message


class FakeOdoo:
    def __init__(self, api_key="test-api-key-0123456789", max_wait=2.0, agent_name="Test shop"):
        self.api_key, self.max_wait, self.agent_name = api_key, max_wait, agent_name
        self.tickets = {}
        self.calls = []
        self.cond = threading.Condition()
        self.failures = {}  # call name -> [HTTP status, ...] answered (without applying) to the next calls
        self.auth_failure = "http"  # how a wrong key is refused: "http" (401) or "rpc" (AccessDenied)
        self.port = 0
        self._server = None
        self._closing = False

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        fake = self

        class Handler(_Handler):
            odoo = fake

        self._closing = False
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self):
        """Down: held polls are dropped without an answer, new connections refused."""
        with self.cond:
            self._closing = True
            self.cond.notify_all()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- test helpers ------------------------------------------------------------------------
    def add_ticket(self, name, **values):
        with self.cond:
            self.tickets[name] = Ticket(name, **values)
            self.cond.notify_all()

    def set_state(self, name, state):
        with self.cond:
            self.tickets[name].state = state
            self.cond.notify_all()

    def state(self, name):
        with self.cond:
            return self.tickets[name].state

    def fail_next(self, call, status, count=1):
        with self.cond:
            self.failures.setdefault(call, []).extend([status] * count)

    def params(self, name, status="ok"):
        with self.cond:
            return [c.params for c in self.calls if c.name == name and (status is None or c.status == status)]

    def count(self, name, status="ok"):
        return len(self.params(name, status))

    # -- protocol ----------------------------------------------------------------------------
    def _open_list(self):
        return [{"ticket": t.name, "state": t.state, "attempts": t.attempts}
                for t in self.tickets.values() if t.state in OPEN_STATES]

    def poll(self, params):
        known = params.get("known") if isinstance(params.get("known"), dict) else {}
        wait = params.get("wait", 0)
        seconds = 0 if params.get("bye") else max(0.0, min(float(wait), self.max_wait))
        deadline = time.monotonic() + seconds
        with self.cond:
            while True:
                tickets = self._open_list()
                remaining = deadline - time.monotonic()
                if self._closing:
                    return None  # dropped: the connection closes without an answer
                if {t["ticket"]: t["state"] for t in tickets} != known or remaining <= 0:
                    return {"agent": self.agent_name, "wait": self.max_wait, "status_interval_ms": 250,
                            "tickets": tickets}
                self.cond.wait(remaining)

    def _ticket(self, name):
        ticket = self.tickets.get(name)
        if ticket is None:
            raise RpcError("odoo.exceptions.AccessError", f"Ticket {name} is not one of this agent's.")
        return ticket

    def claim(self, params):
        with self.cond:
            ticket = self._ticket(params.get("ticket"))
            if ticket.state != "new":
                return {"ticket": ticket.name, "claimed": False, "state": ticket.state}
            ticket.attempts += 1
            return {"ticket": ticket.name, "claimed": True, "state": ticket.state, "attempt": ticket.attempts,
                    "request": ticket.request or f"C|{ticket.name}|1234||1|TPV1||efectivo"}

    def report(self, params):
        with self.cond:
            ticket = self._ticket(params.get("ticket"))
            self._apply_report(ticket, params)
            self.cond.notify_all()
            return {"ticket": ticket.name, "state": ticket.state,
                    "final": ticket.state not in OPEN_STATES}

    def _apply_report(self, ticket, params):
        command, reply, error = params.get("command"), params.get("reply"), params.get("error")
        attempt, ours = params.get("attempt"), params.get("ours")
        if command not in ("C", "S") or (reply is None) == (error is None):
            raise RpcError("odoo.exceptions.UserError", "Invalid agent report.")
        if command == "C" and not (isinstance(attempt, int) and 0 < attempt <= ticket.attempts):
            raise RpcError("odoo.exceptions.UserError", f"Ticket {ticket.name} was not claimed for that attempt.")
        if command == "S" and not ticket.attempts:
            raise RpcError("odoo.exceptions.UserError", f"Ticket {ticket.name} was never claimed by an agent.")
        if ticket.state not in OPEN_STATES or (command == "C" and ticket.queued):
            return
        if error is not None:
            try:
                ticket.last_error = error_from_dict(error)
            except ValueError as e:
                raise RpcError("odoo.exceptions.UserError", f"Invalid agent report: {e}") from None
            return
        try:
            parsed = parse_reply(reply.encode("latin-1", "replace"))
        except CKFastProtocolError as e:
            ticket.last_error = e
            return
        if command == "C":
            if parsed.kind not in C_REPLIES:
                return
            if parsed.kind is ReplyKind.ADDED or (
                parsed.kind is ReplyKind.ALREADY_EXISTS and (ours is True or attempt > 1 or ticket.attempts > attempt)
            ):
                ticket.queued = True
                ticket.state = "queued" if ticket.state == "new" else ticket.state
            else:
                ticket.state = "failed"
            return
        if parsed.kind is not ReplyKind.NOT_FOUND:
            ticket.queued = True
        if parsed.kind is ReplyKind.PAID:
            ticket.state = "paid_after_abandon" if ticket.state == "abandoned" else "paid"
        elif parsed.kind is ReplyKind.PENDING and ticket.state in ("new", "queued"):
            ticket.state = "pending"
        elif parsed.kind is ReplyKind.CANCELLED:
            ticket.state = "cancelled"
        elif parsed.kind is ReplyKind.NOT_FOUND:
            ticket.state = "anomaly" if ticket.queued else "failed"


class _Handler(BaseHTTPRequestHandler):
    odoo = None  # set by FakeOdoo.start
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _record(self, name, params, status):
        call = Call(name, params, status, self.headers.get("Cookie", ""), time.monotonic())
        with self.odoo.cond:
            self.odoo.calls.append(call)
        return call

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/web/login":
            self._send(404, b"not found", "text/plain")
            return
        db = urllib.parse.parse_qs(url.query).get("db", [""])[0]
        self._record("login", {"db": db}, "ok")
        if db:  # like Odoo: select the database in the session, then show the login page
            self.send_response(303)
            self.send_header("Location", "/web/login")
            self.send_header("Set-Cookie", f"session_id=session-of-{db}; Path=/; HttpOnly")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send(200, b"<html>login</html>", "text/html")

    def do_POST(self):
        odoo = self.odoo
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length))
            params = body.get("params") or {}
        except ValueError:
            self._send(400, b"bad json", "text/plain")
            return
        name = self.path.rsplit("/", 1)[-1]
        if not self.path.startswith("/pos_cashkeeper/agent/") or name not in ("poll", "claim", "report"):
            self._send(404, b"not found", "text/plain")
            return
        if self.headers.get("Authorization") != f"Bearer {odoo.api_key}":
            if odoo.auth_failure == "http":
                self._record(name, params, 401)
                self._send(401, b"Unauthorized", "text/plain")
            else:
                self._record(name, params, "rpc-error")
                self._rpc_error(body, "odoo.exceptions.AccessDenied", "This API key is not a CashKeeper agent's.")
            return
        with odoo.cond:
            queue = odoo.failures.get(name)
            status = queue.pop(0) if queue else None
        if status is not None:
            self._record(name, params, status)
            self._send(status, b"<html>Bad Gateway</html>", "text/html")
            return
        call = self._record(name, params, "in-flight")  # a held poll is visible while held
        try:
            result = getattr(odoo, name)(params)
        except RpcError as e:
            call.status = "rpc-error"
            self._rpc_error(body, e.name, e.message)
            return
        if result is None:  # stopping: drop the connection without an answer
            call.status = "dropped"
            self.close_connection = True
            return
        call.status = "ok"
        self._json({"jsonrpc": "2.0", "id": body.get("id"), "result": result})

    def _rpc_error(self, body, name, message):
        self._json({"jsonrpc": "2.0", "id": body.get("id"), "error": {
            "code": 200, "message": "Odoo Server Error",
            "data": {"name": name, "message": message, "arguments": [message]}}})

    def _json(self, data):
        self._send(200, json.dumps(data).encode(), "application/json")

    def _send(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
