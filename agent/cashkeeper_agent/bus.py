"""Wake-ups from Odoo's bus websocket (agent/PROTOCOL.md, "bus").

Odoo's own on-site box learns of work the same way: it opens ``/websocket`` (served by Odoo's
websocket worker, so an idle connection costs no HTTP worker) and subscribes to a channel whose
name only it knows. Messages on it carry nothing: each one only says "poll now".

The websocket is ``websocket-client``'s, as for Odoo's box (frames, fragments, pings and the
closing handshake are its job). When the websocket cannot be opened (a proxy without websocket
support) ``listening`` stays false and the agent polls on a short interval; it tries the
websocket again now and then.
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

PING_EVERY = 25.0  # seconds; Odoo closes a connection silent for 60 s
READ_TIMEOUT = 60.0  # no frame at all (not even a pong) for this long: the connection is dead
RETRY_FIRST, RETRY_MAX = 1.0, 60.0  # seconds between attempts to (re)open the websocket
# Network failures and the websocket's own (refused handshake, closed connection, bad frame).
FAULTS = (OSError, websocket.WebSocketException)


class BusListener:
    """Keeps one websocket open to Odoo's bus and calls ``on_wake(payloads)`` for the messages of
    type ``wake_type`` on the channel it follows, and ``on_wake([])`` after each (re)subscription
    (what was sent meanwhile is not lost: the agent polls)."""

    def __init__(self, odoo_url, *, cookie=lambda: "", on_wake, stop, verify_tls=True, ca_file="", wake_type=""):
        split = urllib.parse.urlsplit(odoo_url)
        tls = split.scheme == "https"
        self.origin = f"{split.scheme}://{split.netloc}"
        self.url = f"{'wss' if tls else 'ws'}://{split.netloc}{split.path.rstrip('/')}/websocket"
        self._cookie, self._on_wake, self._stop = cookie, on_wake, stop
        self._sslopt = {"context": tls_context(verify_tls, ca_file)} if tls else None
        self.wake_type = wake_type
        self.listening = False  # subscribed on an open websocket
        self._opened_once = False
        self.refusal = None  # why the websocket could not be opened, while it cannot
        self._channel = None
        self._subscribed = None
        self._ws = None
        self._send_lock = threading.Lock()
        self._thread = None
        self._last = 0  # id of the last bus notification seen

    # -- control -----------------------------------------------------------------------------
    def follow(self, channel):
        """Listen on ``channel`` (from Odoo's poll answer); a new name resubscribes."""
        if not isinstance(channel, str) or not channel or channel == self._channel:
            return
        self._channel = channel
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._guarded, name="ck-bus", daemon=True)
            self._thread.start()
        elif self.listening:
            self._resubscribe()

    def _resubscribe(self):
        try:
            self._subscribe()
        except FAULTS:
            self._close()  # the reader sees the connection end, and opens a new one

    def close(self):
        self._stop.set()
        self._close()

    def probe(self):
        """Open and close the websocket once: None if it opens, else why not (``--check``)."""
        try:
            self._open()
        except FAULTS as e:
            return _why(e)
        finally:
            self._close()
        return None

    # -- the connection ----------------------------------------------------------------------
    def _guarded(self):
        """A bug must not silently end the listening for good: log it and start again."""
        while not self._stop.is_set():
            try:
                self._run()
            except Exception:
                _logger.exception("unexpected error in the bus listener; starting it again")
                self.listening = False
                self._close()
                self._stop.wait(RETRY_MAX / 2)

    def _run(self):
        delay = RETRY_FIRST
        while not self._stop.is_set():
            try:
                self._open()
                self._subscribe()
            except FAULTS as e:
                self._close()
                self._refused(e)
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            if self.refusal is not None or self._opened_once:  # back after a refusal or a drop
                _logger.info("Odoo's bus websocket is open at %s: new work arrives at once", self.url)
            else:
                _logger.info("listening to Odoo's bus at %s", self.url)
            self.refusal, self.listening, self._opened_once = None, True, True
            if self._subscribed != self._channel:  # rotated while this subscription was on its way
                self._resubscribe()
            self._on_wake([])  # catch up with what was sent while not listening
            opened = time.monotonic()
            try:
                self._read_forever()
            except FAULTS as e:
                if not self._stop.is_set():
                    _logger.warning("Odoo's bus websocket closed (%s): polling Odoo every few seconds until it "
                                    "is back", _why(e))
            finally:
                self.listening = False
                self._close()
                if not self._stop.is_set():
                    self._on_wake([])  # the agent polls on its short interval from now on
            # A connection that lived keeps retries quick; one closed at once (an overloaded Odoo
            # answering TRY_LATER) backs off like a refusal.
            delay = RETRY_FIRST if time.monotonic() - opened > READ_TIMEOUT else min(delay * 2, RETRY_MAX)
            self._stop.wait(delay)

    def _refused(self, error):
        why = _why(error)
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

    def _open(self):
        ws = websocket.WebSocket(sslopt=self._sslopt)
        self._ws = ws
        cookie = self._cookie()
        ws.connect(self.url, origin=self.origin, timeout=15, **({"cookie": cookie} if cookie else {}))
        ws.settimeout(PING_EVERY)

    def _subscribe(self):
        channel = self._channel
        with self._send_lock:
            self._connected().send(json.dumps({"event_name": "subscribe",
                                               "data": {"channels": [channel], "last": self._last}}))
        self._subscribed = channel

    def _read_forever(self):
        heard = time.monotonic()
        while not self._stop.is_set():
            try:
                opcode, payload = self._connected().recv_data(control_frame=True)  # pings answered by it
            except websocket.WebSocketTimeoutException:
                if time.monotonic() - heard > READ_TIMEOUT:
                    raise TimeoutError("no answer from Odoo for 60 s") from None
                with self._send_lock:
                    self._connected().ping()
                continue
            heard = time.monotonic()
            if opcode == websocket.ABNF.OPCODE_CLOSE:  # the closing handshake answered by it
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                raise ConnectionError(f"closed by Odoo, code {code} {payload[2:].decode('utf-8', 'replace')}".strip())
            if opcode == websocket.ABNF.OPCODE_TEXT:
                self._message(payload)

    def _message(self, payload):
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

    def _connected(self):
        ws = self._ws
        if ws is None:
            raise ConnectionError("not connected")
        return ws

    def _close(self):
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.shutdown()  # no closing handshake: the connection is being dropped


def _why(error):
    if isinstance(error, websocket.WebSocketBadStatusException):
        return f"HTTP {error.status_code} instead of a websocket"
    if isinstance(error, websocket.WebSocketException):
        return str(error) or type(error).__name__
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {error.verify_message}"
    return describe_network_error(error) if isinstance(error, OSError) else str(error)
