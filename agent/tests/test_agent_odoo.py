"""The JSON-RPC client: how each kind of failure is classified, redirects, TLS defaults."""

import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cashkeeper_agent.odoo import OdooAuthError, OdooClient, OdooError, OdooUnavailable, tls_context


class Canned:
    """An HTTP server answering every request with one canned response; records requests."""

    def __init__(self, status=200, body=b"", headers=(), delay=0.0):
        self.status, self.body, self.headers, self.delay = status, body, dict(headers), delay
        self.requests = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                canned.requests.append((self.command, self.path, dict(self.headers), self.rfile.read(length)))
                if canned.delay:
                    threading.Event().wait(canned.delay)
                self.send_response(canned.status)
                for name, value in canned.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(canned.body)))
                self.end_headers()
                self.wfile.write(canned.body)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canned():
    servers = []

    def make(*args, **kwargs):
        servers.append(Canned(*args, **kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def rpc_error(name, message, code=200):
    return json.dumps({"jsonrpc": "2.0", "id": 1, "error": {
        "code": code, "message": "Odoo Server Error", "data": {"name": name, "message": message}}}).encode()


def test_a_call_is_a_json_rpc_post_with_the_bearer_key(canned):
    server = canned(body=json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"ticket": "K1", "claimed": False}}).encode())
    assert OdooClient(server.url, "secret-key").claim("K1") == {"ticket": "K1", "claimed": False}
    method, path, headers, body = server.requests[0]
    assert (method, path) == ("POST", "/pos_cashkeeper/agent/claim")
    assert headers["Authorization"] == "Bearer secret-key"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("cashkeeper-agent/")
    payload = json.loads(body)
    assert (payload["jsonrpc"], payload["method"], payload["params"]) == ("2.0", "call", {"ticket": "K1"})


@pytest.mark.parametrize(("status", "body", "error", "text"), [
    (401, b"Unauthorized", OdooAuthError, "HTTP 401"),
    (403, b"Forbidden", OdooAuthError, "HTTP 403"),
    (200, rpc_error("odoo.exceptions.AccessDenied", "not a CashKeeper agent's"), OdooAuthError, "not a CashKeeper"),
    (200, rpc_error("werkzeug.exceptions.Unauthorized", "401 Unauthorized: Invalid apikey"), OdooAuthError, "apikey"),
    (200, rpc_error("odoo.exceptions.AccessError", "Ticket K1 is not one of this agent's."), OdooAuthError, "K1"),
    (200, rpc_error("odoo.exceptions.UserError", "Invalid agent report."), OdooError, "Invalid agent report"),
    (200, rpc_error("werkzeug.exceptions.NotFound", "404", code=404), OdooError, "up to date"),
    (502, b"<html>Bad Gateway</html>", OdooUnavailable, "HTTP 502"),
    (503, b"maintenance", OdooUnavailable, "HTTP 503"),
    (429, b"slow down", OdooUnavailable, "HTTP 429"),
    (404, b"not found", OdooError, "is pos_cashkeeper installed"),
    (200, b"<html>captive portal</html>", OdooUnavailable, "not JSON"),
    (200, b'{"jsonrpc": "2.0", "id": 1}', OdooError, "neither result nor error"),
])
def test_failures_are_classified(canned, status, body, error, text):
    server = canned(status=status, body=body)
    with pytest.raises(OdooError, match=text) as info:
        OdooClient(server.url, "k").poll(version="x", ckmonitor={})
    assert type(info.value) is error


def test_access_error_is_about_one_ticket_not_the_key(canned):
    server = canned(body=rpc_error("odoo.exceptions.AccessError", "Ticket K1 is not one of this agent's."))
    with pytest.raises(OdooAuthError) as info:
        OdooClient(server.url, "k").claim("K1")
    assert not info.value.retry_later
    server = canned(body=rpc_error("odoo.exceptions.AccessDenied", "archived"))
    with pytest.raises(OdooAuthError) as info:
        OdooClient(server.url, "k").claim("K1")
    assert info.value.retry_later


def test_a_redirect_is_not_followed_with_the_key(canned):
    elsewhere = canned(body=b"{}")
    server = canned(status=302, headers={"Location": f"{elsewhere.url}/steal"})
    with pytest.raises(OdooError, match="redirected to") as info:
        OdooClient(server.url, "secret-key").claim("K1")
    assert type(info.value) is OdooError
    assert elsewhere.requests == []


def test_connection_refused_and_timeout_are_unavailable(canned):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    with pytest.raises(OdooUnavailable, match="refused"):
        OdooClient(f"http://127.0.0.1:{port}", "k").claim("K1")
    slow = canned(body=b"{}", delay=1.0)
    with pytest.raises(OdooUnavailable, match="timeout"):
        OdooClient(slow.url, "k").claim("K1", timeout=0.2)


def test_database_selection_failure(canned):
    server = canned(status=404, body=b"no such database")
    with pytest.raises(OdooError, match="cannot select database 'shop'"):
        OdooClient(server.url, "k", database="shop").claim("K1")
    assert server.requests[0][1] == "/web/login?db=shop"
    assert "Authorization" not in server.requests[0][2]  # the key only goes to the agent endpoints


def test_tls_verification_is_on_by_default():
    context = tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    context = tls_context(verify=False)
    assert context.verify_mode is ssl.CERT_NONE and not context.check_hostname


def test_https_against_a_plain_http_server_is_unavailable_not_a_crash(canned):
    server = canned(body=b"{}")
    with pytest.raises(OdooUnavailable):
        OdooClient(server.url.replace("http://", "https://"), "k").claim("K1", timeout=2)


def test_repr_hides_the_key():
    assert "secret-key" not in repr(OdooClient("https://x.example.com", "secret-key"))
