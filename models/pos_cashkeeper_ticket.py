"""The drawer ticket ledger: one record per CKFast ticket, the source of truth for the POS.

Rules (ckfast/PROTOCOL.md says what is known of CKFast):
* The record is committed before ``C`` is sent, and its attempt counter before every send, so
  a crash, a reload or a dropped connection never loses a ticket that may collect cash.
* One live ticket per payment line (partial unique index): starting twice resumes it.
* Once a cancel answered "abandoned", only a new start of that line (Retry) may make the ticket
  ``paid``; any later ``OK|OK`` is ``paid_after_abandon``, whoever asks.
* A ``C`` is encoded once (``request``) and every resend is that line byte for byte.
* The books: every paid ticket backs at most one ``pos.payment`` of its amount (``pos_payment_id``,
  unique), bound when the POS syncs the order (``_bind_payments``); a paid ticket on no order is
  flagged (``on_no_order``) for the manager.
* Only CKMonitor's ``OK|OK`` makes a ticket paid. ``NOK Not found`` for a queued ticket is an
  anomaly. Connection and protocol errors leave the state unchanged (still unknown) and are
  reported as warnings; the POS keeps polling.
* A refund paid out at the drawer is a ``payout`` entry (pos_cashkeeper_payout.py): CKFast as
  known has no payout command, so the cashier's (or a manager's) confirmation is its record, and
  it is bound to the refund's ``pos.payment`` by the same rules as a collection.
* Tickets that may still take cash while no POS follows them (abandoned by the cashier, or sent
  while the line was removed) are checked by a cron, which flags late payments.
* How a ticket reaches the drawer is its method's transport (cashkeeper_transport.py): this
  server directly, or the shop's on-site agent (cloud mode), which claims a ticket (the same
  attempt counter) before sending ``C`` and reports each reply (pos_cashkeeper_agent.py);
  ``_apply_create`` and ``_apply_status`` are the one set of rules for both.
"""

import logging
import math
import re
import secrets
import string
import time
from contextlib import contextmanager
from datetime import timedelta

import psycopg2.errors
from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare, float_is_zero, float_round

from ..ckfast import CKFastProtocolError, ReplyKind, amount_max
from .cashkeeper_states import (
    ASKED_STATES,
    FOLLOWED_STATES,
    LINE_STATES,
    MOVED_STATES,
    NEW,
    OPEN_STATES,
    PAID_STATES,
    SETTLED_STATES,
    STATES,
    WAITING_STATES,
)

_logger = logging.getLogger(__name__)

ID_ALPHABET = string.ascii_uppercase + string.digits
# A paid ticket whose payment has not reached Odoo after this long is flagged "collected, on no
# order" (an offline POS syncs later and clears the flag); at the latest when the session closes.
NO_ORDER_GRACE = timedelta(minutes=10)
# pg_advisory_xact_lock namespace ("CK") for serialising the starts of one payment line.
LINE_LOCK = 0x434B
# The watch cron's time budget per run (it runs every minute).
CRON_BUDGET = 30


def _base36(number):
    alphabet = string.digits + string.ascii_uppercase
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = alphabet[rest] + digits
        if not number:
            return digits


class PosCashKeeperTicket(models.Model):
    _name = "pos.cashkeeper.ticket"
    _description = "CashKeeper drawer ticket"
    _inherit = ["mail.thread", "pos.cashkeeper.payout"]
    _order = "id desc"

    name = fields.Char(string="Ticket", required=True, readonly=True, index=True, copy=False,
                       help="NumTiquet sent to CKMonitor.")
    purpose = fields.Selection([("sale", "POS payment"), ("commissioning", "Commissioning test"),
                                ("payout", "Refund paid out")], default="sale", required=True, readonly=True)
    payment_method_id = fields.Many2one("pos.payment.method", required=True, readonly=True, ondelete="restrict")
    session_id = fields.Many2one("pos.session", readonly=True, index=True, ondelete="restrict")
    config_id = fields.Many2one(related="session_id.config_id", store=True, string="Point of Sale")
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    amount = fields.Monetary(required=True, readonly=True)
    request = fields.Char(string="C request", readonly=True,
                          help="The create request as first written for CKMonitor; every resend is this line.")
    order_uuid = fields.Char(readonly=True, index=True)
    order_ref = fields.Char(string="Order reference", readonly=True)
    payment_uuid = fields.Char(string="Payment line", required=True, readonly=True, index=True)
    pos_payment_id = fields.Many2one("pos.payment", string="POS payment", readonly=True, index=True, copy=False,
                                     ondelete="set null", help="The payment in the books that this ticket backs.")
    pos_order_id = fields.Many2one("pos.order", compute="_compute_pos_order", string="POS order")
    on_no_order = fields.Boolean(string="Collected, on no order", readonly=True, tracking=True, copy=False,
                                 help="The drawer collected this cash, and no order in Odoo holds it.")
    amount_collected = fields.Monetary(compute="_compute_books", store=True, string="Collected by the drawer")
    amount_paid_out = fields.Monetary(compute="_compute_books", store=True, string="Paid out",
                                      help="A refund paid out at the drawer (declared in the POS).")
    amount_booked = fields.Monetary(compute="_compute_books", store=True, string="On orders",
                                    help="The CashKeeper payment of a POS order that this ticket backs (a refund's "
                                         "is negative).")
    amount_difference = fields.Monetary(compute="_compute_books", store=True, string="Difference",
                                        help="Collected minus paid out minus on orders: should be 0.")
    state = fields.Selection(STATES, default=NEW, required=True, readonly=True, index=True, tracking=True)
    attempts = fields.Integer(string="C attempts", readonly=True,
                              help="How many times the create request was sent (same ticket id each time).")
    queued_at = fields.Datetime(readonly=True)
    claimed_at = fields.Datetime(readonly=True, help="Cloud mode: when the agent last claimed it to send C.")
    watched_at = fields.Datetime(string="Last watched", readonly=True, index=True,
                                 help="When the watch cron last asked CKMonitor about it.")
    settled_at = fields.Datetime(string="Settled at", readonly=True, help="When the final state was seen.")
    abandoned_at = fields.Datetime(readonly=True)
    last_reply = fields.Char(readonly=True, help="Last raw answer from CKMonitor.")
    last_error = fields.Char(readonly=True)
    user_id = fields.Many2one("res.users", string="Cashier", readonly=True, default=lambda self: self.env.uid)
    confirmed_by = fields.Many2one("res.users", string="Payout confirmed by", readonly=True, copy=False,
                                   help="Who confirmed that the cash was paid out (the drawer does not confirm it).")
    confirmed_at = fields.Datetime(string="Payout confirmed at", readonly=True, copy=False)

    _sql_constraints = [
        ("name_unique", "unique(name)", "A CashKeeper ticket id is used once only."),
        ("payment_unique", "unique(pos_payment_id)", "A POS payment is backed by one CashKeeper ticket only."),
        ("sale_has_session", "CHECK(purpose = 'commissioning' OR session_id IS NOT NULL)",
         "A CashKeeper payment ticket belongs to a POS session."),
        ("payout_is_negative", "CHECK((purpose = 'payout') = (amount < 0))",
         "A payout is a negative amount, and only a payout is."),
    ]

    def init(self):
        # One live ticket per payment line; a second start for that line resumes it. A database of
        # an earlier release may hold the index over other states: it is made again then.
        cr = self.env.cr
        cr.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'pos_cashkeeper_ticket_live_line'")
        row = cr.fetchone()
        if row and set(re.findall(r"'(\w+)'", row[0])) != set(LINE_STATES):
            cr.execute("DROP INDEX pos_cashkeeper_ticket_live_line")
        states = ", ".join(f"'{state}'" for state in LINE_STATES)
        cr.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS pos_cashkeeper_ticket_live_line "
                   f"ON {self._table} (payment_uuid) WHERE state IN ({states})")

    def _compute_pos_order(self):
        orders = self.env["pos.order"].search([("uuid", "in", self.mapped("order_uuid"))])
        for ticket in self:
            ticket.pos_order_id = ticket.pos_payment_id.pos_order_id or orders.filtered(
                lambda o, t=ticket: o.uuid == t.order_uuid)[:1]

    @api.depends("state", "amount", "pos_payment_id.amount", "pos_payment_id.pos_order_id.state")
    def _compute_books(self):
        for ticket in self:
            ticket.amount_collected = ticket.amount if ticket.state in PAID_STATES else 0.0
            ticket.amount_paid_out = -ticket.amount if ticket.state == "paid_out" else 0.0
            ticket.amount_booked = ticket.pos_payment_id.amount if ticket._on_an_order() else 0.0
            ticket.amount_difference = ticket.amount_collected - ticket.amount_paid_out - ticket.amount_booked

    def _on_an_order(self):
        return bool(self.pos_payment_id) and self.pos_payment_id.pos_order_id.state != "cancel"

    def action_open_pos_order(self):
        self.ensure_one()
        if not self.pos_order_id:
            raise UserError(_("The POS order of ticket %s is not in Odoo yet (the POS has not synced it).", self.name))
        return {"type": "ir.actions.act_window", "res_model": "pos.order", "res_id": self.pos_order_id.id,
                "views": [(False, "form")]}

    # -- entry points (called by the controller after its access checks) ----------------------
    @api.model
    def _cashkeeper_start(self, method, session, payment_uuid, amount, order_uuid="", order_ref="", purpose="sale",
                          transport=None):
        """Start, or resume, the drawer payment of one POS payment line (``transport``: the method's,
        when the caller has made it already)."""
        self._check_amount(session, amount)
        transport = transport or method._cashkeeper_transport()
        ticket = self._live_ticket(payment_uuid)
        if not ticket:
            if offline := transport.offline_message():
                raise UserError(offline)  # say it now rather than wait for it
            with self._line_lock(payment_uuid):
                ticket = self._live_ticket(payment_uuid)  # a double click's first request made it
                created = not ticket
                if created:
                    ticket = self._create_sale_ticket(method, session, payment_uuid, amount, order_uuid, order_ref,
                                                      purpose)
                    ticket._state_changed(transport)  # recorded
            if created:  # the lock's commit: the ledger knows the ticket before CKMonitor does
                return ticket._advance(transport)
        ticket._check_same_payment(method, session, amount, order_uuid)
        with ticket._announcing(transport):
            if ticket.state == "abandoned":
                ticket._set_state("pending", last_error=False)  # the cashier came back to it (Retry)
            elif ticket.state == "paid_after_abandon":
                ticket._set_state("paid")  # collected after the cancel: this line's Retry takes it
        return ticket._advance(transport)

    def _create_sale_ticket(self, method, session, payment_uuid, amount, order_uuid, order_ref, purpose):
        name, amount = self._new_ticket_id(), session.currency_id.round(amount)
        return self.create({
            "name": name,
            "purpose": purpose,
            "payment_method_id": method.id,
            "session_id": session.id,
            "company_id": session.company_id.id,
            "currency_id": session.currency_id.id,
            "amount": amount,
            "request": method._cashkeeper_create_request(name, amount, session.currency_id),
            "payment_uuid": payment_uuid,
            "order_uuid": order_uuid or "",
            "order_ref": order_ref or "",
        })

    @api.model
    def _cashkeeper_commissioning_ticket(self, method, amount, amount_format):
        """A test ticket for commissioning: sent now (or by the agent), then watched like an
        abandoned one, since no POS follows it and the installer is asked to cancel it."""
        name, currency = self._new_ticket_id(), method.company_id.currency_id
        ticket = self.sudo().create({  # managers read the ledger; only its own rules write it
            "name": name,
            "purpose": "commissioning",
            "payment_method_id": method.id,
            "company_id": method.company_id.id,
            "currency_id": currency.id,
            "amount": float(amount),
            "request": method._cashkeeper_create_request(name, amount, currency, amount_format),
            "payment_uuid": f"commissioning-{name}",
            "order_ref": _("Commissioning test"),
        })
        transport = ticket._transport()
        ticket._state_changed(transport)  # recorded
        self._commit()  # the ledger knows the ticket before CKMonitor does
        with ticket._announcing(transport):
            transport.advance(ticket)
            if ticket.state == NEW and ticket.attempts:
                transport.ask(ticket)  # C answered oddly (a refused Importe) or not at all: does it know it?
            if ticket.state in WAITING_STATES:
                ticket._set_state("abandoned", abandoned_at=fields.Datetime.now())
        return ticket

    def _cashkeeper_abandon(self, transport=None):
        """The cashier cancels. Ask once more: a paid ticket completes the line instead; a
        pending one is abandoned (still watched by the cron, so a late payment is flagged)."""
        self.ensure_one()
        if self.purpose == "payout":
            return self._payout_withdraw()
        # Only ask, never (re)send a create. A ticket CKMonitor has not confirmed yet may have a
        # create in flight: it is abandoned, not failed, and the cron decides later.
        with self._announcing(transport) as made:
            if self.state in ASKED_STATES:
                made.ask(self)
            if self.state == NEW and not self.attempts:
                # No attempt counted, so no C went out: nothing can be collected. (A send racing
                # this cancel writes the same row first: one of the two is retried and sees the other.)
                self._set_state("failed", settled_at=fields.Datetime.now(), last_error=_("Never sent to CKMonitor."))
            if self.state in FOLLOWED_STATES:
                self._set_state("abandoned", abandoned_at=fields.Datetime.now())
        return self._result(made)

    # -- the state machine -------------------------------------------------------------------
    def _advance(self, transport=None):
        """Move the ticket on by one CKMonitor exchange when it is still open (its transport makes
        it now, or the agent does), and say where it stands."""
        with self._announcing(transport) as made:
            if self.purpose != "payout":  # a payout is declared, never sent: nothing to ask the drawer
                made.advance(self)
        return self._result(made)

    def _count_attempt(self, **values):
        """A C is about to go out (this server's, or the agent's after its claim): count it first,
        durably, whatever happens next. Returns this attempt's number."""
        self.write({"attempts": self.attempts + 1, **values})
        self._commit()  # a crash from here on must count this attempt as possibly delivered
        return self.attempts

    def _apply_create(self, reply, conflict=None):
        """CKMonitor answered C: queued, or ``conflict`` (the id is refused, nothing collected).
        One rule for both modes, whatever happened to the ticket while the C was on its way."""
        if self.purpose == "payout":
            return  # never sent: no answer of CKMonitor's is about it (an agent's report included)
        self.invalidate_recordset(["state", "queued_at"])
        raw, now = _raw(reply.raw), fields.Datetime.now()
        if conflict:
            if self.state in OPEN_STATES and not self.queued_at:
                self._set_state("failed", last_reply=raw, last_error=str(conflict), settled_at=now)
        elif self.state == "failed" and not self.queued_at:
            # Failed on an earlier "not found" (or never sent, said the cron), and yet CKMonitor
            # has it: the drawer may take cash after all. Watched as abandoned: a payment is flagged.
            # If the line has a newer ticket (Retry), that one is the line's: this one leaves it.
            values = {"payment_uuid": f"{self.payment_uuid}-reopened"} if self._live_ticket(self.payment_uuid) else {}
            self._set_state("abandoned", queued_at=now, last_reply=raw, abandoned_at=now, settled_at=False,
                            last_error=_("CKMonitor queued this ticket after it was marked failed: watched again."),
                            **values)
        elif not self.queued_at:
            # A cancel may have abandoned the ticket while this create was on its way: keep that.
            self._set_state("queued" if self.state == NEW else self.state, last_reply=raw, last_error=False,
                            queued_at=now)

    def _apply_status(self, reply, watching):
        """CKMonitor answered S. ``watching``: no POS follows the ticket (the watch cron, or an
        agent's report about an abandoned ticket)."""
        if self.purpose == "payout":
            return  # never sent (see _apply_create)
        raw, now = _raw(reply.raw), fields.Datetime.now()
        if reply.kind is not ReplyKind.NOT_FOUND and not self.queued_at:
            self.queued_at = now  # CKMonitor knows it, even if every reply to C was lost
        if reply.kind is ReplyKind.PAID:
            # Once a cancel answered "abandoned", only the line's Retry (a new start) may take the
            # cash: any other request (a poll that was in flight across the cancel, the cron, the
            # agent) finds it paid after abandon. A ticket no POS follows any more is the same.
            late = self.state == "abandoned" or (watching and self.state == NEW)
            self._set_state("paid_after_abandon" if late else "paid", last_reply=raw, last_error=False,
                            settled_at=now)
        elif reply.kind is ReplyKind.PENDING:
            if watching and self.state == NEW:  # queued, though no POS line follows it any more
                self._set_state("abandoned", last_reply=raw, abandoned_at=now)
            elif self.state in (NEW, "queued"):
                self._set_state("pending", last_reply=raw, last_error=False)
            elif self.last_reply != raw or self.last_error:
                self.write({"last_reply": raw, "last_error": False})
        elif reply.kind is ReplyKind.CANCELLED:
            self._set_state("cancelled", last_reply=raw, last_error=False, settled_at=now)
        elif reply.kind is ReplyKind.NOT_FOUND and not self.queued_at:
            # CKMonitor never confirmed the C and does not know the id: it never got it, so
            # nothing can be collected for this id.
            self._set_state("failed", last_reply=raw, settled_at=now,
                            last_error=_("CKMonitor never received this ticket."))
        elif reply.kind is ReplyKind.NOT_FOUND:
            self._set_state("anomaly", last_reply=raw, settled_at=now, last_error=_(
                "CKMonitor no longer knows ticket %s (was CKMonitor restarted?). Check the CashKeeper's "
                "own records before taking the payment again.", self.name))

    def _note_error(self, error):
        message = self.payment_method_id._cashkeeper_error_message(error)
        _logger.warning("CashKeeper ticket %s: %s", self.name, error)
        if self.last_error != message:
            self.write({"last_error": message})
            if isinstance(error, CKFastProtocolError):
                self.message_post(body=_("CKMonitor answered %s", error.printable))

    def _set_state(self, state, **values):
        """Write the state, durably: the next exchange with the drawer may follow. Who follows the
        ticket hears of the change from ``_announcing``."""
        if state != self.state:
            _logger.info("CashKeeper ticket %s: %s -> %s", self.name, self.state, state)
        self.write({"state": state, **values})
        self._commit()  # a state seen at the drawer is never lost to what fails next

    @contextmanager
    def _announcing(self, transport=None, from_agent=False):
        """Yields the ticket's ``transport`` (made if not given); when the block changed the
        ticket's state, says so to whoever follows it (``_state_changed``)."""
        transport, before = self._transport(transport), self.state
        yield transport
        if self.state != before:
            self._state_changed(transport, from_agent)

    def _state_changed(self, transport, from_agent=False):
        """The ticket was recorded or its state changed: the transport tells who follows it (the
        agent is not woken by its own report), and a paid ticket settles its order."""
        transport.announce(self, from_agent=from_agent)
        if self.state == "paid":
            self._settle_order()

    def _settle_order(self):
        """Paid: a cashier's POS validates its order itself; the kiosk bridge pays the kiosk's."""

    def _result(self, transport=None):
        """What the POS needs, and nothing about the drawer's address beyond error texts."""
        transport = self._transport(transport)
        if self.purpose == "payout":
            message = self._payout_message()
        elif self.state in OPEN_STATES:
            message = transport.offline_message() or self.last_error
        else:  # paid: no message
            message = {
                "cancelled": _("The payment was cancelled on the CashKeeper. Nothing was collected: retry or "
                               "remove the line."),
                "failed": _("The CashKeeper could not take this payment: %s Nothing was collected.",
                            self.last_error or ""),
                "anomaly": self.last_error,
                "paid_after_abandon": _(
                    "The CashKeeper collected ticket %s after it was cancelled. Press Retry on this line to put "
                    "the cash on this order; otherwise it is flagged for the manager.", self.name),
            }.get(self.state, False)
        return {
            "ticket": self.name,
            "state": self.state,
            "final": self.state in SETTLED_STATES,
            "message": message,
            "attempts": self.attempts,
            "amount": self.amount,
            "poll": transport.poll_policy,
        }

    # -- the books ---------------------------------------------------------------------------
    @api.model
    def _bind_payments(self, payments):
        """Bind each CashKeeper ``pos.payment`` to the paid ticket of its payment line. Returns
        the refusals (payment, text), and binds nothing when there is any."""
        refusals, bindings = [], []
        for payment in payments:
            ticket = self.sudo().search([("payment_uuid", "=", payment.uuid or ""), ("state", "in", LINE_STATES)],
                                        limit=1)
            why = ticket._binding_problem(payment) if ticket else _("no CashKeeper ticket was started for it")
            if not why and ticket in [t for t, _p in bindings]:
                why = _("ticket %s already backs another payment of this order", ticket.name)
            if why:
                refusals.append((payment, _("the CashKeeper payment of %(amount)s: %(why)s",
                                            amount=payment.currency_id.format(payment.amount), why=why)))
            else:
                bindings.append((ticket, payment))
        if refusals:
            return refusals
        for ticket, payment in bindings:
            state = "paid" if ticket.state in PAID_STATES else ticket.state  # paid after abandon, taken back
            if ticket.pos_payment_id != payment or ticket.state != state or ticket.on_no_order:
                # No commit here: the order and its binding are one transaction.
                ticket.write({"pos_payment_id": payment.id, "state": state, "on_no_order": False})
        return []

    def _binding_problem(self, payment):
        """Why this ticket cannot back ``payment`` (False when it can)."""
        order = payment.pos_order_id
        if self.payment_method_id != payment.payment_method_id:
            return _("ticket %s was taken with another payment method", self.name)
        if self.order_uuid != order.uuid:
            return _("ticket %s was started for another order", self.name)
        if self.config_id != order.config_id or (self.session_id != order.session_id
                                                 and self.session_id.state == "opened"):
            return _("ticket %s belongs to another POS session", self.name)
        if self.purpose == "payout":
            if problem := self._payout_binding_problem(payment):
                return problem
        elif self.state not in PAID_STATES:
            return _("the drawer has not collected ticket %(ticket)s (%(state)s)", ticket=self.name,
                     state=self._state_label())
        elif float_compare(self.amount, payment.amount, precision_rounding=self.currency_id.rounding):
            return _("the drawer collected %(collected)s for ticket %(ticket)s", ticket=self.name,
                     collected=self.currency_id.format(self.amount))
        bound = self.pos_payment_id.exists()
        if bound and bound != payment:
            return _("ticket %(ticket)s already pays order %(order)s", ticket=self.name,
                     order=bound.pos_order_id.pos_reference or bound.pos_order_id.name)
        return False

    @api.model
    def _flag_no_order(self, domain=(), grace=NO_ORDER_GRACE):
        """Flag the paid tickets on no order (settled more than ``grace`` ago); returns them."""
        tickets = self.sudo().search([
            ("state", "in", MOVED_STATES), ("on_no_order", "=", False),
            ("settled_at", "<=", fields.Datetime.now() - grace), *domain,
        ]).filtered(lambda t: not t._on_an_order())
        for ticket in tickets:
            _logger.warning("CashKeeper ticket %s: %s %s, on no order", ticket.name, ticket.amount,
                            "paid out" if ticket.purpose == "payout" else "collected")
            ticket.on_no_order = True
        return tickets

    # -- helpers -----------------------------------------------------------------------------
    def _transport(self, made=None):
        """Its method's transport: ``made`` (the request's, handed down) when it is that method's."""
        if made and made.method == self.payment_method_id:
            return made
        return self.payment_method_id._cashkeeper_transport()

    def _state_label(self):
        return dict(self._fields["state"]._description_selection(self.env))[self.state]

    @api.model
    def _live_ticket(self, payment_uuid):
        return self.search([("payment_uuid", "=", payment_uuid), ("state", "in", LINE_STATES)], limit=1)

    @contextmanager
    def _line_lock(self, payment_uuid):
        """Serialise the starts of one payment line (double click, two tabs): the second start
        waits for the first to commit its ticket, then sees it and resumes it. Read committed,
        so that the look after the lock sees that commit (Odoo's repeatable read would not); and
        only for that look: what follows runs in a repeatable read transaction of its own again,
        where a concurrent change of the ticket makes Odoo retry instead of silently losing it."""
        # Under Odoo's tests one request runs at a time and nothing commits: the concurrent
        # starts this guards are acted out on a real threaded server by tools/chaos.py
        # (double_start, two_tabs), run by the test suite.
        in_test = self.env.registry.in_test_mode()
        if not in_test:
            self.env.cr.commit()  # the isolation level can only be set at a transaction's start
            self.env.cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        self.env.cr.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [LINE_LOCK, payment_uuid])
        yield
        if not in_test:
            self.env.cr.commit()  # releases the lock
            self.env.invalidate_all()  # what was read under read committed is read again

    def write(self, vals):
        self._lock_rows()
        return super().write(vals)

    def _lock_rows(self):
        """Take the tickets' row locks before changing them. Two requests about one ticket (two
        tabs, a double click, the cron beside a POS) then queue instead of colliding in an UPDATE;
        when the first changed the row meanwhile, the second fails here, unlogged, and Odoo retries
        it from a fresh snapshot (an INFO line), instead of an UPDATE failing with an ERROR line."""
        if self.ids:
            self.env.cr.execute(f"SELECT 1 FROM {self._table} WHERE id IN %s FOR NO KEY UPDATE",
                                [tuple(self.ids)], log_exceptions=False)

    def _check_same_payment(self, method, session, amount, order_uuid):
        if self.payment_method_id != method or self.session_id != session or order_uuid != self.order_uuid:
            raise UserError(_("This payment line belongs to another CashKeeper payment (ticket %s).", self.name))
        if float_compare(self.amount, amount, precision_rounding=self.currency_id.rounding):
            raise UserError(_(
                "This payment line already has CashKeeper ticket %(ticket)s for %(amount)s. Remove the line "
                "and add a new one to collect another amount.", ticket=self.name, amount=self.amount))

    @api.model
    def _check_amount(self, session, amount, payout=False):
        """The money rules of an amount, said plainly: no refunds (a ``payout`` is negative, and
        then its size is checked), more than zero, within the wire's
        limit (ckfast's ``amount_max``, asked here to say it in the cashier's language), no more
        decimals than the currency's (Odoo's floats compared at its precision), cash rounding. The
        wire format is checked when the C is written (``_cashkeeper_create_request``); the POS only
        keeps the cashier from asking for <= 0."""
        currency = session.currency_id
        if isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount):
            raise UserError(_("The amount must be a number."))
        if payout:
            if amount >= 0:
                raise UserError(_("A refund paid out at the drawer is a negative amount."))
            amount = -amount
        elif amount < 0:
            raise UserError(_("The CashKeeper cannot pay out refunds: use another payment method for "
                              "negative amounts."))
        if float_is_zero(amount, precision_rounding=currency.rounding):
            raise UserError(_("The amount to collect must be more than zero."))
        if amount > amount_max(currency.decimal_places):
            raise UserError(_("The amount %(amount)s is above the %(max)s limit of a CashKeeper payment.",
                              amount=amount, max=amount_max(currency.decimal_places)))
        if float_compare(amount, currency.round(amount), precision_rounding=currency.rounding / 100):
            raise UserError(_("The amount %(amount)s has more decimals than %(currency)s allows.",
                              amount=amount, currency=currency.name))
        rounding = session.config_id.cash_rounding and session.config_id.rounding_method
        if rounding:  # the drawer gives change in the coins that exist: the POS rounds cash
            rounded = float_round(amount, precision_rounding=rounding.rounding, rounding_method="HALF-UP")
            if float_compare(amount, rounded, precision_rounding=currency.rounding):
                values = {"step": rounding.rounding, "rounded": currency.format(rounded),
                          "amount": currency.format(amount)}
                raise UserError(_(
                    "This point of sale rounds cash to %(step)s: the CashKeeper can pay out %(rounded)s, not "
                    "%(amount)s.", **values) if payout else _(
                    "This point of sale rounds cash to %(step)s: the CashKeeper can take %(rounded)s, not "
                    "%(amount)s.", **values))

    @api.model
    def _new_ticket_id(self):
        """Short, plain and unique across every database and till sharing one CKMonitor:
        'K' + base36 of a per-database sequence + 6 random letters/digits (at most 15 chars)."""
        number = self.env["ir.sequence"].sudo().next_by_code("pos.cashkeeper.ticket") or "0"
        return "K" + _base36(int(number)) + "".join(secrets.choice(ID_ALPHABET) for _ in range(6))

    def _commit(self):
        # Outside tests, make each ledger step durable before talking to the drawer. A no-op under
        # Odoo's tests: tools/chaos.py (run by the test suite) restarts the server and the agent's
        # links mid-payment and checks that no payment is lost or doubled.
        if not self.env.registry.in_test_mode():
            self.env.cr.commit()

    # -- cron -------------------------------------------------------------------------------
    @api.model
    def _cron_watch_open_tickets(self, older_than_seconds=60, budget_seconds=CRON_BUDGET):
        """Ask CKMonitor about tickets no POS is following, so that cash collected after the
        cashier gave up (or after a crash) is flagged and never goes unnoticed; then flag the
        paid tickets whose payment never reached an order. Longest-unwatched first, within a time
        budget: a drawer that does not answer cannot starve the watch of the others' tickets
        (the rest waits for the next run)."""
        now = fields.Datetime.now()
        deadline = time.monotonic() + budget_seconds
        tickets = self.sudo().search([  # the cron user has no write access to the ledger
            ("state", "in", OPEN_STATES),
            ("write_date", "<", now - timedelta(seconds=older_than_seconds)),
        ], order="watched_at ASC NULLS FIRST, id")
        watched = 0
        for ticket in tickets:
            if time.monotonic() > deadline:
                break
            name = ticket.name
            # Read it now: an agent may have claimed it since the search; a claim committed after
            # this read makes our write fail and roll back.
            ticket.invalidate_recordset()
            try:
                if ticket.state not in OPEN_STATES:
                    continue
                with ticket._announcing() as transport:
                    if ticket.state == NEW and not ticket.attempts:
                        ticket._set_state("failed", settled_at=now, last_error=_("Never sent to CKMonitor."))
                    else:
                        transport.ask(ticket, watching=True)  # no row lock held while it asks
                ticket.watched_at = fields.Datetime.now()
                self._commit()  # each ticket on its own (and the drawer's lock released)
                watched += 1
            except psycopg2.errors.SerializationFailure:  # a POS or the agent is on it right now
                self.env.cr.rollback()
            except Exception:  # one broken ticket must not stop the watch of the others
                if self.env.registry.in_test_mode():
                    raise
                self.env.cr.rollback()
                _logger.exception("CashKeeper ticket %s could not be checked", name)
        try:
            self._flag_no_order()
        except psycopg2.errors.SerializationFailure:  # an order binding a ticket right now: next run
            self.env.cr.rollback()
        return watched


def _raw(raw):
    return raw.decode("ascii", "replace").strip()[:200]
