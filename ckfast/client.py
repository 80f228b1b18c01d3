"""CKFast client: one TCP connection per command, timeouts, retries on connection failures only.

Retry policy (the safety rules of ckfast/PROTOCOL.md):
* Connection-level failures (refused, reset, closed before any reply byte, no answer within the
  read timeout) are retried with exponential backoff and jitter. A status query is harmless to
  repeat; a create is repeated with the **same** ticket id, and ``NOK Already exists`` after our
  own earlier attempt means the first attempt reached CKMonitor: the ticket is queued.
* A definite reply is never retried, even one we do not understand (``CKFastProtocolError``):
  CKMonitor did answer, and guessing what it meant could charge a customer twice.
"""

import itertools
import random
import socket
import time
from dataclasses import dataclass

from .errors import CKMonitorTimeout, CKMonitorUnreachable, TicketConflict
from .protocol import (
    MAX_REPLY_BYTES,
    CreateTicket,
    Reply,
    ReplyKind,
    TicketStatus,
    check_create_line,
    check_reply,
    create_is_ours,
)

DEFAULT_PORT = 16501


@dataclass(frozen=True)
class CreateResult:
    """A ticket is queued at CKMonitor. ``already_existed``: it was our earlier attempt's."""

    ticket_id: str
    reply: Reply
    attempts: int
    already_existed: bool


class CKFastClient:
    """Talks CKFast to one CKMonitor.

    ``connect_timeout``: seconds to establish TCP. ``read_timeout``: seconds from sending the
    request to the end of the reply. ``retries``: extra attempts after a connection-level
    failure; the delay before retry n (1-based) is ``min(backoff_max, backoff_base * 2**(n-1))``
    scaled by a random factor in [0.5, 1] so that tills retrying together spread out.
    """

    def __init__(
        self,
        host,
        port=DEFAULT_PORT,
        *,
        connect_timeout=3.0,
        read_timeout=5.0,
        retries=2,
        backoff_base=0.25,
        backoff_max=2.0,
        sleep=time.sleep,
        rng=None,
    ):
        self.host = host
        self.port = int(port)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retries = retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        self._rng = rng or random.Random()

    # -- public commands --------------------------------------------------------------------
    def create_ticket(self, ticket_id, amount, *, sent_before=False, **fields):
        """Queue ``ticket_id`` for ``amount`` (major units). ``fields``: see ``CreateTicket``.

        ``sent_before``: a ``C`` for this id may already have reached CKMonitor (an earlier
        call timed out, the server restarted…): ``NOK Already exists`` then means queued.
        It may be a callable, asked only when that reply arrives: a ledger re-reads its
        attempt counter then, which also covers a concurrent attempt made meanwhile.
        Raises ``TicketConflict`` when CKMonitor refuses the id for any other reason.
        """
        return self.send_create(CreateTicket(ticket_id, amount, **fields).encode(), ticket_id,
                                sent_before=sent_before)

    def send_create(self, line, ticket_id, *, sent_before=False):
        """Send a ``C`` request encoded earlier (a ledger stores its first one), byte for byte,
        with the same rules as ``create_ticket``."""
        line = check_create_line(line, ticket_id)
        reply, attempts = self._send(line, CreateTicket)
        if reply.kind is ReplyKind.ALREADY_EXISTS:  # asked only then: a ledger re-reads its counter
            sent_before = attempts > 1 or (sent_before() if callable(sent_before) else sent_before)
        if not create_is_ours(reply, sent_before):
            raise TicketConflict(ticket_id, reply)
        return CreateResult(ticket_id, reply, attempts, already_existed=reply.kind is ReplyKind.ALREADY_EXISTS)

    def ticket_status(self, ticket_id):
        """Return the ``Reply`` (PAID, PENDING, CANCELLED or NOT_FOUND) for ``ticket_id``."""
        return self._send(TicketStatus(ticket_id).encode(), TicketStatus)[0]

    def ping(self):
        """Prove CKMonitor is reachable and speaks CKFast: ask the status of a probe ticket.

        Any status reply will do (normally ``NOK Not found``); returns it.
        """
        return self.ticket_status("CKPING0")

    # -- transport --------------------------------------------------------------------------
    def _send(self, line, command):
        """Return (reply, number of attempts made)."""
        for attempt in itertools.count(1):
            try:
                raw = self._exchange(line)
            except (CKMonitorUnreachable, CKMonitorTimeout):  # connection-level: retryable
                if attempt > self.retries:
                    raise
                self._sleep(self._backoff(attempt))
            else:
                return check_reply(raw, command), attempt

    def _backoff(self, attempt):
        delay = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return delay * self._rng.uniform(0.5, 1.0)

    def _exchange(self, line):
        """Send one request line on a fresh connection and return the raw reply line."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except TimeoutError:
            raise CKMonitorUnreachable(self.host, self.port, "connection timed out") from None
        except ConnectionRefusedError:
            raise CKMonitorUnreachable(self.host, self.port, "connection refused") from None
        except OSError as e:  # unknown host, no route, network down…
            raise CKMonitorUnreachable(self.host, self.port, e.strerror or str(e)) from None
        with sock:
            deadline = time.monotonic() + self.read_timeout
            try:
                sock.sendall(line)
                return self._read_line(sock, deadline)
            except TimeoutError:
                raise CKMonitorTimeout(self.host, self.port, self.read_timeout) from None
            except OSError as e:  # reset, broken pipe
                raise CKMonitorUnreachable(self.host, self.port, e.strerror or str(e)) from None

    def _read_line(self, sock, deadline):
        """Read until LF, the peer closing, or ``deadline``. Raises TimeoutError at the deadline."""
        data = b""
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            chunk = sock.recv(MAX_REPLY_BYTES + 1)
            if not chunk:
                if not data:
                    raise CKMonitorUnreachable(self.host, self.port, "connection closed without a reply")
                return data  # the peer closing ends a reply (a half line is parsed, and refused)
            data += chunk
            if len(data) > MAX_REPLY_BYTES:
                return data  # parse_reply refuses it as oversize
        return data[: data.index(b"\n") + 1]

