"""Wake-ups from Odoo's bus websocket (agent/PROTOCOL.md, "bus").

Odoo's own on-site box learns of work the same way (``hw_drivers/websocket_client.py``): a
``websocket-client`` ``WebSocketApp`` on ``/websocket`` (served by Odoo's websocket worker, so an
idle connection costs no HTTP worker), subscribed to a channel whose name only it knows. Messages
on it carry nothing: each one only says "poll now".

When the websocket cannot be opened (a proxy without websocket support) ``listening`` stays false
and the agent polls on a short interval; the websocket is tried again with a growing delay.
"""

import json
import logging
import ssl
import threading
import time
import urllib.parse

import websocket

from .odoo import describe_network_error, tls_context

_logger = logging.getLogger(__name__)
logging.getLogger("websocket").setLevel(logging.CRITICAL)  # its "goodbye" at each refusal; ours say what to do

PING_EVERY, PONG_WITHIN = 25.0, 20.0  # seconds; Odoo closes a connection silent for 60 s
CONNECT_TIMEOUT = 15.0
LIVED = 60.0  # a connection open this long was not refused at once
RETRY_FIRST, RETRY_MAX = 1.0, 60.0  # seconds between attempts to (re)open the websocket
# Network failures and the websocket's own (refused handshake, closed connection, bad frame).
FAULTS = (OSError, websocket.WebSocketException)


class BusListener:
    """Keeps one websocket open to Odoo's bus and calls ``on_wake(payloads)`` for the messages of
    type ``wake_type`` on the channel it follows, and ``on_wake([])`` after each (re)subscription
    and each drop (what was sent meanwhile is not lost: the agent polls)."""

    def __init__(self, odoo_url, *, cookie=lambda: "", on_wake, stop, verify_tls=True, ca_file="", wake_type=""):
        split = urllib.parse.urlsplit(odoo_url)
        tls = split.scheme == "https"
        self.origin = f"{split.scheme}://{split.netloc}"
        self.url = f"{'wss' if tls else 'ws'}://{split.netloc}{split.path.rstrip('/')}/websocket"
        self._cookie, self._on_wake, self._stop = cookie, on_wake, stop
        self._sslopt = {"context": tls_context(verify_tls, ca_file)} if tls else None
        self.wake_type = wake_type
        self.listening = False  # subscribed on an open websocket
        self.refusal = None  # why the websocket could not be opened, while it cannot
        self._opened_once = False
        self._channel = None
        self._app = None
        self._errors = []  # of the current connection
        self._thread = None
        self._last = 0  # id of the last bus notification seen

    def follow(self, channel):
        """Listen on ``channel`` (from Odoo's poll answer); a new name resubscribes."""
        if not isinstance(channel, str) or not channel:
            return
        changed, self._channel = channel != self._channel, channel
        if self._thread is None or not self._thread.is_alive():  # the first call, or a bug ended it
            self._thread = threading.Thread(target=self._run, name="ck-bus", daemon=True)
            self._thread.start()
        elif changed and self.listening:
            self._subscribe(self._app)

    def close(self):
        self._stop.set()
        if self._app is not None:
            self._app.close()

    def probe(self):
        """Open and close the websocket once: None if it opens, else why not (``--check``)."""
        try:
            websocket.create_connection(self.url, timeout=CONNECT_TIMEOUT, sslopt=self._sslopt, origin=self.origin,
                                        **self._cookie_option()).close()
        except FAULTS as e:
            return _why(e)
        return None

    def _cookie_option(self):
        cookie = self._cookie()  # fresh for each connection: the session may have been renewed
        return {"cookie": cookie} if cookie else {}

    def _run(self):
        websocket.setdefaulttimeout(CONNECT_TIMEOUT)  # the library's only way to bound the connect
        delay = RETRY_FIRST
        while not self._stop.is_set():
            self._errors = []
            self._app = websocket.WebSocketApp(self.url, on_open=self._opened, on_message=self._message,
                                               on_error=self._failed, **self._cookie_option())
            opened = time.monotonic()
            self._app.run_forever(sslopt=self._sslopt, origin=self.origin,
                                  ping_interval=PING_EVERY, ping_timeout=PONG_WITHIN)
            why = _why(self._errors[0]) if self._errors else "closed by Odoo"
            if self._stop.is_set():
                return
            if self.listening:
                self.listening = False
                _logger.warning("Odoo's bus websocket closed (%s): polling Odoo every few seconds until it is back",
                                why)
                self._on_wake([])  # the agent polls on its short interval from now on
            else:
                self._refused(why)
            # A connection that lived keeps retries quick; one closed at once (an overloaded Odoo
            # answering TRY_LATER) backs off like a refusal.
            delay = RETRY_FIRST if time.monotonic() - opened > LIVED else min(delay * 2, RETRY_MAX)
            self._stop.wait(delay)

    def _opened(self, ws):
        self._subscribe(ws)
        if self.refusal is not None or self._opened_once:  # back after a refusal or a drop
            _logger.info("Odoo's bus websocket is open at %s: new work arrives at once", self.url)
        else:
            _logger.info("listening to Odoo's bus at %s", self.url)
        self.refusal, self.listening, self._opened_once = None, True, True
        self._on_wake([])  # catch up with what was sent while not listening

    def _failed(self, _ws, error):
        self._errors.append(error)
        if not isinstance(error, FAULTS):  # a bug in a callback: the library would only drop it
            _logger.error("unexpected error in the bus listener: %r", error)

    def _subscribe(self, ws):
        try:
            ws.send(json.dumps({"event_name": "subscribe", "data": {"channels": [self._channel], "last": self._last}}))
        except FAULTS:
            ws.close()  # run_forever returns, and a new connection subscribes

    def _refused(self, why):
        if self.refusal is None:
            # It worked before: Odoo or its proxy is restarting. Never: most likely the proxy.
            hint = " (Odoo restarting?)" if self._opened_once else (
                ". If Odoo is behind a reverse proxy, pass /websocket to Odoo's gevent port (see 'Odoo behind a "
                "proxy' in the agent's README)")
            _logger.warning("Odoo's bus websocket cannot be opened at %s (%s): polling Odoo every few seconds "
                            "instead, which is slower%s", self.url, why, hint)
        else:
            _logger.debug("bus websocket still refused: %s", why)
        self.refusal = why

    def _message(self, _ws, payload):
        try:
            notifications = json.loads(payload)
        except ValueError:
            return
        payloads = []
        for item in notifications if isinstance(notifications, list) else ():
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("id"), int):
                self._last = max(self._last, item["id"])
            message = item.get("message")
            if isinstance(message, dict) and message.get("type") == self.wake_type:
                payloads.append(message.get("payload"))
        if payloads:
            self._on_wake(payloads)


def _why(error):
    if isinstance(error, websocket.WebSocketBadStatusException):
        return f"HTTP {error.status_code} instead of a websocket"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {error.verify_message}"
    if isinstance(error, OSError):
        return describe_network_error(error)
    return str(error) or type(error).__name__
