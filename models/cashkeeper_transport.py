"""How a payment method's tickets reach the drawer: the one seam between direct and agent mode.

The ledger's rules (pos_cashkeeper_ticket.py) never ask which mode a method is in: they ask its
transport, which ``pos.payment.method._cashkeeper_transport()`` chooses, in that one place.
* ``DirectTransport``: this Odoo server talks CKFast to CKMonitor (on-premise), during the request.
* ``AgentTransport``: the shop's on-site agent makes the exchanges and reports them (cloud mode);
  Odoo records the work and wakes the agent. The agent's side: pos_cashkeeper_agent.py.
"""

import contextlib
import threading
import time

from odoo import _

from ..ckfast import CKFastClient, CKFastError, CKMonitorTimeout, CKMonitorUnreachable

# How the POS follows a ticket on a drawer this server asks (sent with every result, read by the
# POS and the benchmark): while the drawer waits the POS asks every interval_ms (each answer costs
# one short CKFast exchange); while CKMonitor or Odoo cannot be reached the delay doubles up to
# max_interval_ms and drops back on the first good answer.
POLL_POLICY = {"interval_ms": 250, "max_interval_ms": 5000}

# A drawer that does not answer (PC off, a firewall dropping packets, CKMonitor hung after
# accepting the connection) must not tie up Odoo's workers while every till polls it. After an
# exchange timed out, the drawer's requests answer from that fault for COOL_DOWN seconds without
# opening a socket (per worker process); status asks use STATUS_TIMEOUT at most (the POS asks again
# anyway), and one request at a time asks a drawer (across processes: a PostgreSQL advisory lock;
# a poll that finds it taken answers from the ledger at once).
# The system parameter pos_cashkeeper.drawer_guard = off turns this off: only the benchmark does
# that, to measure the unguarded baseline in the same run.
COOL_DOWN = 5.0
STATUS_TIMEOUT = 1.5
DRAWER_LOCK = 0x434B44  # pg_try_advisory_lock namespace ("CKD")
# A public caller (the self-order kiosk's page) gets one status ask's time in all for its call
# (``public_call``): every exchange it makes (S or C, never retried) fits in what is left of it,
# and one that would not fit is not made, so no public request ties up a worker longer than that.
PUBLIC_CONTEXT = "cashkeeper_public_since"
MIN_EXCHANGE = 0.05  # seconds: less than this left of a public call's time, no exchange starts


def public_call(records):
    """``records`` in a public caller's request: its exchanges share one status ask's time."""
    return records.with_context(**{PUBLIC_CONTEXT: time.monotonic()})


class _Breakers:
    """Per process: endpoint -> (until, the fault that opened it)."""

    _lock = threading.Lock()
    _open = {}

    @classmethod
    def fault(cls, endpoint):
        with cls._lock:
            until, fault = cls._open.get(endpoint, (0.0, None))
        return fault if time.monotonic() < until else None

    @classmethod
    def note(cls, endpoint, fault):
        """Open the breaker on a slow failure (a timeout); a quick answer closes it."""
        slow = isinstance(fault, CKMonitorTimeout) or (
            isinstance(fault, CKMonitorUnreachable) and "timed out" in fault.cause)
        with cls._lock:
            if slow:
                cls._open[endpoint] = (time.monotonic() + COOL_DOWN, fault)
            else:
                cls._open.pop(endpoint, None)


class DirectTransport:
    sends_now = True  # a request that records a ticket also sends its C
    poll_policy = POLL_POLICY  # each status ask is what moves the ticket on

    def __init__(self, method):
        self.method = method.sudo()  # the drawer's address is for managers only
        self.endpoint = (method.env.cr.dbname, method.cashkeeper_host, method.cashkeeper_port)
        self.guarded = self.method.env["ir.config_parameter"].get_param("pos_cashkeeper.drawer_guard") != "off"
        since = method.env.context.get(PUBLIC_CONTEXT)
        self.deadline = since + min(self.method.cashkeeper_read_timeout, STATUS_TIMEOUT) if since else None

    def time_left(self):
        """Seconds this request may still spend on the drawer (a public call's budget)."""
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    def known_fault(self):
        """The fault this drawer gave a moment ago, if it is still cooling down (see COOL_DOWN)."""
        return _Breakers.fault(self.endpoint) if self.guarded else None

    def create(self, line, ticket_id, sent_before):
        """Send a stored C line (retried on connection failures, same line)."""
        return self._exchange(lambda: self.client().send_create(line, ticket_id, sent_before=sent_before))

    def status(self, ticket_id):
        """S for ``ticket_id``: the Reply, or None when another request is asking this drawer right
        now (the caller keeps what the ledger knows); raises CKFastError."""
        if fault := self.known_fault():
            raise fault
        if self.time_left() < MIN_EXCHANGE:
            return None  # a public call's time is up: what the ledger knows
        with self.turn() as mine:
            if not mine:
                return None
            return self._exchange(lambda: self.client(retries=0, short=self.guarded).ticket_status(ticket_id))

    @contextlib.contextmanager
    def turn(self):
        """Yields whether it is this request's turn to talk to the drawer: False when another
        request is doing so right now. A session lock, held around the exchange only (no SQL runs
        in between, so the transaction cannot fail before it is released)."""
        if not self.guarded:
            yield True
            return
        cr, key = self.method.env.cr, [DRAWER_LOCK, repr(self.endpoint)]
        cr.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", key)
        mine = cr.fetchone()[0]
        try:
            yield mine
        finally:
            if mine:
                cr.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", key)

    def _exchange(self, call):
        try:
            reply = call()
        except (CKMonitorTimeout, CKMonitorUnreachable) as fault:
            _Breakers.note(self.endpoint, fault)
            raise
        _Breakers.note(self.endpoint, None)
        return reply

    def offline_message(self):
        return False

    def hand_over(self, ticket):
        """A ticket was recorded or changed state: nothing to wake, this server sends itself."""

    def progress(self, ticket):
        """Move an open ticket forward by one CKMonitor exchange."""
        if ticket.state == "new":
            ticket._send_create(self)
        elif ticket.state in ("queued", "pending", "abandoned"):
            self.look(ticket)

    def look(self, ticket, watching=False):
        """Ask CKMonitor about a ticket (S), never (re)send it."""
        ticket._ask_ckmonitor(self, watching)

    def client(self, retries=2, short=False):
        """``retries``: 0 for S (the POS or the cron asks again shortly), 2 for C (resent with the
        same line). ``short``: timeouts of at most STATUS_TIMEOUT (S). A public call: no retry,
        within what is left of its time."""
        method = self.method
        if method.use_payment_terminal != "cashkeeper" or not (method.cashkeeper_host or "").strip():
            raise CKMonitorUnreachable(method.cashkeeper_host or "?", method.cashkeeper_port,
                                       "the payment method is no longer set up for CashKeeper")
        cap = STATUS_TIMEOUT if short else float("inf")
        if self.deadline is not None:
            retries, cap = 0, min(cap, max(self.time_left(), MIN_EXCHANGE))
        return CKFastClient(method.cashkeeper_host.strip(), method.cashkeeper_port, retries=retries,
                            connect_timeout=min(method.cashkeeper_connect_timeout, cap),
                            read_timeout=min(method.cashkeeper_read_timeout, cap))

    def connection_report(self, started):
        """(notification type, title, message) for the method's Test connection button."""
        try:
            reply = self.client(retries=0).ping()
        except CKFastError as e:
            return "danger", _("CashKeeper not reachable"), self.method._cashkeeper_error_message(e)
        return "success", _("CashKeeper reachable"), _(
            "CKMonitor at %(endpoint)s answered CKFast in %(ms)d ms (%(reply)s).",
            endpoint=self.method._cashkeeper_endpoint(), ms=started(), reply=reply.raw.decode("ascii").strip())


class AgentTransport:
    sends_now = False  # the agent claims new tickets and sends their C
    # The POS hears of each change on its bus (hand_over) and then asks; this slow poll only
    # catches a missed message.
    poll_policy = {"interval_ms": 3000, "max_interval_ms": 6000}

    def __init__(self, method, agent):
        self.method, self.agent = method.sudo(), agent

    def offline_message(self):
        return self.agent._offline_message()

    def hand_over(self, ticket):
        """A ticket was recorded or changed state: the agent polls for it, the POS asks its status
        (both through the bus, once the transaction commits)."""
        self.agent._wake()
        config = ticket.sudo().config_id  # sudo: the POS's bus token may be minted on the way
        if config:
            # The ticket's name only: no amount, no state. A name grants nothing (every call about
            # a ticket checks the POS session and order), though self-order devices may hear it.
            config._notify("CASHKEEPER_TICKET", {"ticket": ticket.name})

    def progress(self, ticket):
        """The agent makes the exchanges and reports them."""

    def look(self, ticket, watching=False):
        """The agent watches its open tickets itself (and Odoo cannot reach that drawer)."""

    def connection_report(self, started):
        ok = self.agent.status == "online" and self.agent.ckmonitor_reachable
        title = _("CashKeeper reachable through agent %s", self.agent.name) if ok else _("CashKeeper not reachable")
        return ("success" if ok else "danger"), title, self.agent.status_text
