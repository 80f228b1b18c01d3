"""Wake-ups from Odoo's bus websocket (agent/PROTOCOL.md, "bus").

Odoo's own on-site box learns of work the same way: it opens ``/websocket`` (served by Odoo's
websocket worker, so an idle connection costs no HTTP worker) and subscribes to a channel whose
name only it knows. Messages on it carry nothing: each one only says "poll now".

A small RFC 6455 client on the standard library (the agent installs with no dependency): text
frames in, masked text/ping/pong/close frames out. When the websocket cannot be opened (a proxy
without websocket support) ``listening`` stays false and the agent polls on a short interval; it
tries the websocket again now and then.
"""

import base64
import contextlib
import hashlib
import json
import logging
import os
import socket
import ssl
import struct
import threading
import time
import urllib.parse

from .odoo import describe_network_error, tls_context

_logger = logging.getLogger(__name__)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 handshake constant
PING_EVERY = 25.0  # seconds; Odoo closes a connection silent for 60 s
READ_TIMEOUT = 60.0  # no frame at all (not even a pong) for this long: the connection is dead
RETRY_FIRST, RETRY_MAX = 1.0, 60.0  # seconds between attempts to (re)open the websocket
MAX_MESSAGE = 2**20

TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


class WebsocketRefused(Exception):
    """The server answered the handshake with something other than 101 Switching Protocols."""


class BusListener:
    """Keeps one websocket open to Odoo's bus and calls ``on_wake(payloads)`` for the messages of
    type ``wake_type`` on the channel it follows, and ``on_wake([])`` after each (re)subscription
    (what was sent meanwhile is not lost: the agent polls)."""

    def __init__(self, odoo_url, *, cookie=lambda: "", on_wake, stop, verify_tls=True, ca_file="", wake_type=""):
        split = urllib.parse.urlsplit(odoo_url)
        self.tls = split.scheme == "https"
        self.host = split.hostname or ""
        self.port = split.port or (443 if self.tls else 80)
        self.path = split.path.rstrip("/") + "/websocket"
        self.netloc = split.netloc  # the Host header as the URL gives it ([v6 address] included)
        self.origin = f"{split.scheme}://{split.netloc}"
        self.url = f"{'wss' if self.tls else 'ws'}://{split.netloc}{self.path}"
        self._cookie, self._on_wake, self._stop = cookie, on_wake, stop
        self._tls = tls_context(verify_tls, ca_file) if self.tls else None
        self.wake_type = wake_type
        self.listening = False  # subscribed on an open websocket
        self._opened_once = False
        self.refusal = None  # why the websocket could not be opened, while it cannot
        self._channel = None
        self._subscribed = None
        self._sock = None
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
        except OSError:
            self._close()  # the reader sees the connection end, and opens a new one

    def close(self):
        self._stop.set()
        self._close()

    def probe(self):
        """Open and close the websocket once: None if it opens, else why not (``--check``)."""
        try:
            self._open()
        except (OSError, WebsocketRefused) as e:
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
            except (OSError, WebsocketRefused) as e:
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
            except (OSError, ValueError) as e:
                if isinstance(e, ValueError):
                    self._last = 0  # do not ask for the same oversized message again
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
        raw = socket.create_connection((self.host, self.port), timeout=15)
        sock = self._tls.wrap_socket(raw, server_hostname=self.host) if self._tls else raw
        self._sock = sock
        key = base64.b64encode(os.urandom(16)).decode()
        headers = [f"GET {self.path} HTTP/1.1", f"Host: {self.netloc}", "Upgrade: websocket",
                   "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
                   f"Origin: {self.origin}"]
        if cookie := self._cookie():
            headers.append(f"Cookie: {cookie}")
        sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode("latin-1"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk or len(head) > 65536:
                raise WebsocketRefused("the server closed the connection during the handshake")
            head += chunk
        head, rest = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            raise WebsocketRefused(f"HTTP {' '.join(status[1:]) or '?'} instead of a websocket")
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if fields.get("sec-websocket-accept") != accept:
            raise WebsocketRefused("the handshake answer is not a websocket's")
        self._buffer = rest
        sock.settimeout(PING_EVERY)

    def _subscribe(self):
        channel = self._channel
        self._send(TEXT, json.dumps({"event_name": "subscribe",
                                     "data": {"channels": [channel], "last": self._last}}).encode())
        self._subscribed = channel

    def _read_forever(self):
        heard = time.monotonic()
        while not self._stop.is_set():
            try:
                opcode, payload = self._frame()
            except TimeoutError:
                if time.monotonic() - heard > READ_TIMEOUT:
                    raise TimeoutError("no answer from Odoo for 60 s") from None
                self._send(PING, b"")
                continue
            heard = time.monotonic()
            if opcode == PING:
                self._send(PONG, payload)
            elif opcode == CLOSE:
                with contextlib.suppress(OSError):
                    self._send(CLOSE, payload[:2])  # the closing handshake's answer
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                raise ConnectionError(f"closed by Odoo, code {code} {payload[2:].decode('utf-8', 'replace')}".strip())
            elif opcode == TEXT:
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

    # -- frames ------------------------------------------------------------------------------
    def _fill(self, count):
        """Read until ``count`` bytes are buffered. Consumes nothing, so a read timeout in the
        middle of a frame loses no byte of it."""
        sock = self._sock
        if sock is None:
            raise ConnectionError("connection closed")
        while len(self._buffer) < count:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self._buffer += chunk

    def _frame(self):
        """One whole message: (opcode, payload); fragments are joined."""
        opcode, message = None, b""
        while True:
            self._fill(2)
            first, second = self._buffer[0], self._buffer[1]
            length, start = second & 0x7F, 2
            if length >= 126:
                start += 2 if length == 126 else 8
                self._fill(start)
                length = struct.unpack("!H" if length == 126 else "!Q", self._buffer[2:start])[0]
            if len(message) + length > MAX_MESSAGE:
                raise ValueError("message too large")
            mask_end = start + (4 if second & 0x80 else 0)
            self._fill(mask_end + length)
            mask, payload = self._buffer[start:mask_end], self._buffer[mask_end:mask_end + length]
            self._buffer = self._buffer[mask_end + length:]
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if first & 0x0F >= 0x8:  # a control frame may come between fragments
                return first & 0x0F, payload
            opcode = opcode or first & 0x0F
            message += payload
            if first & 0x80:
                return opcode, message

    def _send(self, opcode, payload):
        mask = os.urandom(4)  # a client masks every frame (RFC 6455 5.3)
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 2**16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        with self._send_lock:
            sock = self._sock
            if sock is None:
                raise ConnectionError("not connected")
            sock.sendall(head + mask + masked)

    def _close(self):
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


def _why(error):
    if isinstance(error, WebsocketRefused):
        return str(error)
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {error.verify_message}"
    return describe_network_error(error) if isinstance(error, OSError) else str(error)
