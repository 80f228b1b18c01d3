"""How a payment method's tickets reach the drawer: the one seam between direct and agent mode.

One way: the ledger (pos_cashkeeper_ticket.py) decides and calls its transport; the transport
makes the exchange and reports CKMonitor's answer back (``ticket._apply_create``/``_apply_status``/
``_note_error``). Nothing outside this file asks which mode a method is in: ``transport_for``
chooses the transport, made once per request and handed down (``ticket._transport``); its
``drawer`` says which drawer it reaches.
* ``DirectTransport``: this Odoo server talks CKFast to CKMonitor (on-premise), during the request.
* ``AgentTransport``: the shop's on-site agent makes the exchanges and reports them (cloud mode,
  pos_cashkeeper_agent.py); Odoo records the work and wakes the agent.
Both count a C attempt the same way before it goes out (``ticket._count_attempt``).
"""

import contextlib
import threading
import time

from odoo import _

from ..ckfast import CKFastClient, CKFastError, CKMonitorTimeout, CKMonitorUnreachable, TicketConflict
from .cashkeeper_states import ASKED_STATES, NEW

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
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def transport_for(method):
    """How the method's tickets reach the drawer: the one place direct and agent mode part."""
    return (AgentTransport if method.sudo().cashkeeper_agent_id else DirectTransport)(method)


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


class Transport:
    """What the ledger asks of a transport; by default nothing happens (the agent's exchanges).
    ``drawer``: which CashKeeper it reaches (methods of one drawer share one CKMonitor queue)."""
    method = drawer = None  # the payment method's (sudo) and its drawer's key, set by each transport

    def send(self, ticket):
        """Send the ticket's stored C, counting the attempt first, and report the answer."""

    def ask(self, ticket, watching=False):
        """Ask CKMonitor about the ticket (S, never a C) and report the answer. ``watching``: no
        POS follows the ticket (the watch cron asks)."""

    def advance(self, ticket):
        """Move an open ticket on by one exchange: its C while CKMonitor has not confirmed it, else S."""

    def announce(self, ticket, from_agent=False):
        """A ticket was recorded or changed state: tell whoever follows it."""

    def offline_message(self):
        """Why no payment can start now, for the cashier (False when one can)."""
        return False

    def drawer_unreachable(self):
        """Known, without trying, that the drawer cannot be reached."""
        return False

    def gave_up(self, ticket):
        """Whether nobody sends this ticket's C again until its line is started anew."""
        return False


class DirectTransport(Transport):
    poll_policy = POLL_POLICY  # each status ask is what moves the ticket on

    def __init__(self, method):
        self.method = method.sudo()  # the drawer's address is for managers only
        host = (self.method.cashkeeper_host or "").strip().lower()  # as typed, whatever the case
        self.drawer = ("direct", "localhost" if host in LOOPBACK_HOSTS else host, self.method.cashkeeper_port)
        self.endpoint = (method.env.cr.dbname, self.drawer)  # one CKMonitor, however it is named
        self.guarded = self.method.env["ir.config_parameter"].get_param("pos_cashkeeper.drawer_guard") != "off"
        since = method.env.context.get(PUBLIC_CONTEXT)
        self.deadline = since + min(self.method.cashkeeper_read_timeout, STATUS_TIMEOUT) if since else None

    def time_left(self):
        """Seconds this request may still spend on the drawer (a public call's budget)."""
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    def may_exchange(self, ticket):
        """Whether an exchange about the ticket may start: not when the drawer did not answer a
        moment ago (said on the ticket; see COOL_DOWN), nor when a public call's time is up (the
        next call makes it; nothing was counted)."""
        if fault := self.guarded and _Breakers.fault(self.endpoint):
            ticket._note_error(fault)
            return False
        return self.time_left() >= MIN_EXCHANGE

    def send(self, ticket):
        # Retried on connection failures, the same line.
        if not self.may_exchange(ticket):
            return
        my_attempt = ticket._count_attempt()

        def sent_before():
            # Asked on "NOK Already exists": did any attempt of ours (earlier, or a concurrent
            # request's) go out before this one? Re-read the committed counter.
            ticket.invalidate_recordset(["attempts"])
            return my_attempt > 1 or ticket.attempts > my_attempt

        try:
            # Not behind the drawer's turn (status asks are): a C must not wait for the next poll.
            result = self._exchange(lambda: self.client().send_create(ticket.request, ticket.name,
                                                                      sent_before=sent_before))
        except TicketConflict as e:
            ticket._apply_create(e.reply, conflict=e)
        except CKFastError as e:
            ticket._note_error(e)
        else:
            ticket._apply_create(result.reply)

    def ask(self, ticket, watching=False):
        # Nothing is asked when another request is asking this drawer right now: the ledger keeps
        # what it knows.
        if not self.may_exchange(ticket):
            return
        try:
            with self.turn() as mine:
                if not mine:
                    return
                reply = self._exchange(lambda: self.client(retries=0, short=self.guarded).ticket_status(ticket.name))
        except CKFastError as e:
            ticket._note_error(e)
            return
        ticket._apply_status(reply, watching)

    def advance(self, ticket):
        if ticket.state == NEW:
            self.send(ticket)
        elif ticket.state in ASKED_STATES:
            self.ask(ticket)

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

    def gave_up(self, ticket):
        # A C that did not get through is resent by the next start only (the POS asks this server:
        # nothing to announce).
        return ticket.state == NEW and bool(ticket.last_error)

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


class AgentTransport(Transport):
    """The agent makes the exchanges itself and reports them (pos_cashkeeper_agent.py)."""

    # The POS hears of each change on its bus (announce) and then asks; this slow poll only
    # catches a missed message.
    poll_policy = {"interval_ms": 3000, "max_interval_ms": 6000}

    def __init__(self, method):
        self.method = method.sudo()
        self.agent = self.method.cashkeeper_agent_id
        self.drawer = ("agent", self.agent.id)  # the agent knows where its CKMonitor is

    def offline_message(self):
        return self.agent._offline_message()

    def drawer_unreachable(self):
        # The agent is online and says it cannot reach CKMonitor.
        return self.agent.status == "online" and not self.agent.ckmonitor_reachable

    # gave_up: never, the agent resends an unconfirmed C itself (until CLAIM_GIVE_UP).

    def announce(self, ticket, from_agent=False):
        # The agent polls for it (unless the change is its own report), the POS asks its status
        # (both woken through the bus, once the transaction commits).
        if not from_agent:
            self.agent._wake()
        config = ticket.sudo().config_id  # sudo: the POS's bus token may be minted on the way
        if config:
            # The ticket's name only: no amount, no state. A name grants nothing (every call about
            # a ticket checks the POS session and order), though self-order devices may hear it.
            config._notify("CASHKEEPER_TICKET", {"ticket": ticket.name})

    def connection_report(self, started):
        ok = self.agent.status == "online" and self.agent.ckmonitor_reachable
        title = _("CashKeeper reachable through agent %s", self.agent.name) if ok else _("CashKeeper not reachable")
        return ("success" if ok else "danger"), title, self.agent.status_text
