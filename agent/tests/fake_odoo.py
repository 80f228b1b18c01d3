"""A tiny real HTTP server speaking the transport of agent/PROTOCOL.md, with knobs to make it fail.

It has none of Odoo's rules: a ticket's state is whatever the test sets, or scripts (``moves``:
this reply moves an open ticket to that state), and a report is recorded and answered with it.
What Odoo does with the agent's claims and reports is tested against the real Odoo
(tests/test_agent_api.py; the real agent process in the cloud tours and tests/test_agent_bus.py).
Here: the agent's own behaviour, what it sends and when, through Odoo's faults. It serves no
websocket: the agent polls on its fallback interval."""

import json
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OPEN_STATES = ("new", "queued", "pending", "abandoned")


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
    def __init__(self, api_key="test-api-key-0123456789", heartbeat=1.0, agent_name="Test shop"):
        self.api_key, self.heartbeat, self.agent_name = api_key, heartbeat, agent_name
        self.tickets = {}
        # What "Odoo" answers, scripted by the test: {reply line: the open ticket's next state}.
        self.moves = {}
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
        """Down: calls in progress are dropped without an answer, new connections refused."""
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
        with self.cond:
            if self._closing:
                return None  # dropped: the connection closes without an answer
            return {"agent": self.agent_name, "protocol": 2, "channel": "pos_cashkeeper.agent.fake",
                    "wake": "pos_cashkeeper.wake", "heartbeat": self.heartbeat,
                    "tickets": self._open_list()}

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
        """Recorded (by the handler); the ticket moves only as the test scripted in ``moves``."""
        with self.cond:
            ticket = self._ticket(params.get("ticket"))
            if ticket.state in OPEN_STATES and params.get("reply") in self.moves:
                ticket.state = self.moves[params["reply"]]
            return {"ticket": ticket.name, "state": ticket.state, "final": ticket.state not in OPEN_STATES}


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
