"""JSON-RPC client for the agent endpoints of Odoo (agent/PROTOCOL.md).

Outbound HTTPS only, the API key as a Bearer header, TLS verified by default. Failures come out
as three exceptions the agent's loop treats differently:

* ``OdooAuthError``: the key is refused (HTTP 401/403, AccessDenied, AccessError): retrying soon
  cannot help, so the agent waits the longest backoff between tries.
* ``OdooUnavailable``: no answer (connection refused or reset, timeout, HTTP 5xx, a proxy page):
  retry with backoff; a report is idempotent, so it is kept and sent again.
* ``OdooError``: Odoo answered with any other error.
"""

import http.client
import http.cookiejar
import itertools
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
import uuid

from ckfast.agent_link import AGENT_PROTOCOL

from . import __version__

CALL_TIMEOUT = 15.0  # seconds, for every call (Odoo answers each at once)
# This process, for Odoo: a poll that was already on its way when the process said goodbye must
# not show the agent online again.
INSTANCE = uuid.uuid4().hex
# Odoo exception names (error.data.name) that mean "this key may not do that".
AUTH_ERROR_NAMES = ("AccessDenied", "AccessError", "Unauthorized", "SessionExpiredException")
# Odoo's deliberate refusals of a request. Any other server error (a serialization failure after
# Odoo's retries, a database restart, a bug) says nothing about the request: retry it later, so a
# report such as OK|OK is never dropped.
REFUSAL_NAMES = ("UserError", "ValidationError", "MissingError")


class OdooError(Exception):
    """Odoo answered with an error. ``name``: Odoo's exception name, e.g. odoo.exceptions.UserError."""

    def __init__(self, message, name=""):
        super().__init__(message)
        self.name = name

    @property
    def retry_later(self):
        """Odoo is away or refuses the key: back off and try again. Otherwise the error is about
        the request (e.g. AccessError: a ticket no longer this agent's), and retrying cannot help."""
        return isinstance(self, OdooUnavailable) or (isinstance(self, OdooAuthError)
                                                     and not self.name.endswith("AccessError"))


class OdooAuthError(OdooError):
    """The API key is unknown, revoked, or not a CashKeeper agent's."""


class OdooUnavailable(OdooError):
    """No usable answer from Odoo (network, timeout, 5xx): try again later."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """JSON-RPC calls never follow redirects: that would resend the Bearer key elsewhere."""

    def redirect_request(self, *args, **kwargs):
        return None


class OdooClient:
    def __init__(self, url, api_key, *, database="", verify_tls=True, ca_file=""):
        self.url = url.rstrip("/")
        self.database = database
        self._api_key = api_key
        self._ids = itertools.count(1)
        self._pinned = not database
        self.cookies = http.cookiejar.CookieJar()  # thread-safe; shared by both openers
        https = urllib.request.HTTPSHandler(context=tls_context(verify_tls, ca_file))
        cookies = urllib.request.HTTPCookieProcessor(self.cookies)
        self._rpc = urllib.request.build_opener(https, cookies, _NoRedirect())
        self._browser = urllib.request.build_opener(https, cookies)  # follows redirects, never sends the key

    def __repr__(self):
        return f"OdooClient({self.url!r}, database={self.database!r})"

    # -- agent calls (agent/PROTOCOL.md) ---------------------------------------------------
    def poll(self, *, version, ckmonitor, bye=False, timeout=CALL_TIMEOUT):
        """Heartbeat; the answer lists the open tickets and names the agent's bus channel."""
        params = {"protocol": AGENT_PROTOCOL, "version": version, "instance": INSTANCE, "ckmonitor": ckmonitor,
                  "bye": bye}
        return self.call("poll", params, timeout=timeout)

    def claim(self, ticket, timeout=CALL_TIMEOUT):
        return self.call("claim", {"ticket": ticket}, timeout=timeout)

    def report(self, params, timeout=CALL_TIMEOUT):
        return self.call("report", params, timeout=timeout)

    def cookie_header(self):
        """The session cookie that pins the database, for the bus websocket's handshake."""
        return "; ".join(f"{c.name}={c.value}" for c in self.cookies if c.name == "session_id")

    # -- transport --------------------------------------------------------------------------
    def pin_database(self, timeout=CALL_TIMEOUT):
        """``GET /web/login?db=NAME``: Odoo sets the session cookie that selects the database."""
        url = f"{self.url}/web/login?{urllib.parse.urlencode({'db': self.database})}"
        request = urllib.request.Request(url, headers={"User-Agent": _user_agent()})
        try:
            with self._browser.open(request, timeout=timeout) as response:
                response.read()
        except urllib.error.HTTPError as e:
            e.close()
            if e.code >= 500 or e.code in (408, 429):
                raise OdooUnavailable(
                    f"Odoo answered HTTP {e.code} when selecting database {self.database!r}"
                ) from None
            raise OdooError(
                f"cannot select database {self.database!r} (HTTP {e.code} on /web/login): check [odoo] database"
            ) from None
        except (OSError, http.client.HTTPException) as e:
            raise OdooUnavailable(describe_network_error(e)) from None
        self._pinned = True

    def call(self, name, params, timeout=CALL_TIMEOUT):
        """POST one JSON-RPC call to /pos_cashkeeper/agent/<name>; return its result."""
        if not self._pinned:
            self.pin_database(timeout=min(timeout, CALL_TIMEOUT))
        body = json.dumps({"jsonrpc": "2.0", "method": "call", "id": next(self._ids), "params": params}).encode()
        request = urllib.request.Request(
            f"{self.url}/pos_cashkeeper/agent/{name}",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Authorization": f"Bearer {self._api_key}",
                "User-Agent": _user_agent(),
            },
        )
        try:
            with self._rpc.open(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            e.close()
            raise self._http_error(e) from None
        except (OSError, http.client.HTTPException) as e:
            self._pinned = not self.database  # a new connection may meet a restarted Odoo: select again
            raise OdooUnavailable(describe_network_error(e)) from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise OdooUnavailable(
                f"{name}: the answer is not JSON (a proxy or maintenance page?): {raw[:80]!r}"
            ) from None
        if not isinstance(answer, dict):
            raise OdooError(f"{name}: unexpected answer {str(answer)[:80]!r}")
        if answer.get("error") is not None:
            raise self._rpc_error(name, answer["error"])
        if "result" not in answer:
            raise OdooError(f"{name}: the answer has neither result nor error")
        return answer["result"]

    def _http_error(self, e):
        if e.code in (401, 403):
            return OdooAuthError(f"Odoo refused the API key (HTTP {e.code})", name=f"HTTP {e.code}")
        if e.code >= 500 or e.code in (408, 429):
            return OdooUnavailable(f"Odoo answered HTTP {e.code} {e.reason}")
        if 300 <= e.code < 400:
            return OdooError(
                f"Odoo redirected to {e.headers.get('Location', '?')}: set [odoo] url to the final address"
            )
        if e.code == 404:
            return OdooError(
                "HTTP 404 on /pos_cashkeeper/agent/: is pos_cashkeeper installed and up to date on this "
                "database? On a server with several databases set [odoo] database"
            )
        return OdooError(f"Odoo answered HTTP {e.code} {e.reason}")

    def _rpc_error(self, call, error):
        error = error if isinstance(error, dict) else {"message": str(error)}
        data = error.get("data") if isinstance(error.get("data"), dict) else {}
        name = str(data.get("name") or "")
        message = str(data.get("message") or error.get("message") or "unknown error")
        if error.get("code") == 100 or "Invalid apikey" in message or name.endswith(AUTH_ERROR_NAMES):
            if error.get("code") == 100:
                self._pinned = not self.database
            return OdooAuthError(f"{call}: {message}", name=name)
        if error.get("code") == 404:
            return OdooError(f"{call}: 404 Not Found: is pos_cashkeeper up to date on this database?", name=name)
        if not name.endswith(REFUSAL_NAMES):
            return OdooUnavailable(f"{call}: Odoo failed ({name or 'server error'}: {message}); trying again",
                                   name=name)
        return OdooError(f"{call}: {message}", name=name)


def tls_context(verify=True, ca_file=""):
    """The system's trusted CAs (or ``ca_file``); ``verify=False`` only when configured so."""
    context = ssl.create_default_context(cafile=ca_file or None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def describe_network_error(error):
    """One line saying why Odoo could not be reached."""
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, ssl.SSLCertVerificationError):
        return (f"Odoo's TLS certificate is not trusted ({reason.verify_message}): fix the certificate, "
                "or set [odoo] ca_file to the CA that signed it")
    if isinstance(reason, TimeoutError):
        return "no answer in time (timeout)"
    if isinstance(reason, socket.gaierror):
        return f"unknown host name ({reason.strerror or reason})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _user_agent():
    return f"cashkeeper-agent/{__version__}"
