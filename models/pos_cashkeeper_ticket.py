"""The drawer ticket ledger: one record per CKFast ticket, the source of truth for the POS.

Rules (see PRODUCT.md):
* The record is committed before ``C`` is sent, and its attempt counter before every send, so
  a crash, a reload or a dropped connection never loses a ticket that may collect cash.
* One live ticket per payment line (partial unique index): starting twice resumes it.
* Only CKMonitor's ``OK|OK`` makes a ticket paid. ``NOK Not found`` for a queued ticket is an
  anomaly. Connection and protocol errors leave the state unchanged (still unknown) and are
  reported as warnings; the POS keeps polling.
* Tickets that may still take cash while no POS follows them (abandoned by the cashier, or sent
  while the line was removed) are checked by a cron, which flags late payments.
* Cloud mode (method "Use on-site agent"): the exchanges are made by the shop's agent instead,
  which claims a ticket (the same attempt counter) before sending ``C`` and reports each reply;
  ``_apply_create`` and ``_apply_status`` are the one set of rules for both modes.
"""

import logging
import math
import secrets
import string
from datetime import timedelta

import psycopg2.errorcodes
import psycopg2.errors
from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare, float_is_zero

from ..ckfast import (
    AmountFormat,
    CKFastError,
    CKFastFieldError,
    CKFastProtocolError,
    CreateTicket,
    ReplyKind,
    TicketConflict,
    TicketStatus,
    encode_amount,
    error_from_dict,
    parse_reply,
)
from ..ckfast.protocol import AMOUNT_MAX, EXPECTED_REPLIES

_logger = logging.getLogger(__name__)


class ConcurrentStart(psycopg2.errors.SerializationFailure):
    """Raised to make Odoo retry a request that lost a race to start one line's ticket.
    Odoo's retry loop logs the exception's pgcode, which a hand-made error lacks."""

    pgcode = psycopg2.errorcodes.SERIALIZATION_FAILURE

STATES = [
    ("new", "Recorded"),  # written; CKMonitor has not (yet) confirmed C
    ("queued", "Queued"),  # CKMonitor accepted C
    ("pending", "Waiting for cash"),  # S said Pending
    ("paid", "Paid"),  # S said OK|OK
    ("cancelled", "Cancelled at drawer"),  # S said OK|Cancel
    ("failed", "Failed"),  # CKMonitor refused C or never received it: no cash can be taken
    ("abandoned", "Abandoned by cashier"),  # the POS gave up while the drawer may still take cash
    ("paid_after_abandon", "Paid after abandon"),  # the drawer collected after the POS gave up
    ("anomaly", "Anomaly"),  # CKMonitor lost a ticket it had queued (NOK Not found)
]
# States in which one payment line may have at most one ticket (resumed, never duplicated).
LIVE_STATES = ("new", "queued", "pending", "abandoned", "paid", "paid_after_abandon")
# States in which the drawer may still collect cash: keep asking CKMonitor.
OPEN_STATES = ("new", "queued", "pending", "abandoned")
FINAL_STATES = ("paid", "cancelled", "failed", "paid_after_abandon", "anomaly")
ID_ALPHABET = string.ascii_uppercase + string.digits
# How the POS follows a ticket: the one setting shared by the POS (sent with every result) and
# tools/bench.py. While the drawer waits the POS asks every interval_ms (each answer costs the
# server one short CKFast exchange); while CKMonitor or Odoo cannot be reached, the delay doubles
# up to max_interval_ms and drops back on the first good answer.
POLL_POLICY = {"interval_ms": 250, "max_interval_ms": 5000}
# Cloud mode: a C the agent may still be sending is given this long before CKMonitor's "not
# found" may fail the ticket (the agent's C takes at most connect + reply timeouts, 3 attempts).
CLAIM_GRACE = timedelta(seconds=60)
# Cloud mode: the agent stops resending C for a ticket CKMonitor never confirmed after this long;
# the ticket is then watched as abandoned (no POS waits that long for a drawer).
CLAIM_GIVE_UP = timedelta(minutes=10)


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
    _inherit = ["mail.thread"]
    _order = "id desc"

    name = fields.Char(string="Ticket", required=True, readonly=True, index=True, copy=False,
                       help="NumTiquet sent to CKMonitor.")
    payment_method_id = fields.Many2one("pos.payment.method", required=True, readonly=True, ondelete="restrict")
    session_id = fields.Many2one("pos.session", required=True, readonly=True, index=True, ondelete="restrict")
    config_id = fields.Many2one(related="session_id.config_id", store=True, string="Point of Sale")
    company_id = fields.Many2one(related="session_id.company_id", store=True)
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    amount = fields.Monetary(required=True, readonly=True)
    amount_sent = fields.Char(string="Importe sent", readonly=True, help="The amount as written for CKMonitor.")
    order_uuid = fields.Char(readonly=True, index=True)
    order_ref = fields.Char(string="Order reference", readonly=True)
    payment_uuid = fields.Char(string="Payment line", required=True, readonly=True, index=True)
    pos_order_id = fields.Many2one("pos.order", compute="_compute_pos_links", string="POS order")
    pos_payment_id = fields.Many2one("pos.payment", compute="_compute_pos_links", string="POS payment")
    state = fields.Selection(STATES, default="new", required=True, readonly=True, index=True, tracking=True)
    attempts = fields.Integer(string="C attempts", readonly=True,
                              help="How many times the create request was sent (same ticket id each time).")
    queued_at = fields.Datetime(readonly=True)
    claimed_at = fields.Datetime(readonly=True, help="Cloud mode: when the agent last claimed it to send C.")
    settled_at = fields.Datetime(string="Settled at", readonly=True, help="When the final state was seen.")
    abandoned_at = fields.Datetime(readonly=True)
    last_reply = fields.Char(readonly=True, help="Last raw answer from CKMonitor.")
    last_error = fields.Char(readonly=True)
    user_id = fields.Many2one("res.users", string="Cashier", readonly=True, default=lambda self: self.env.uid)

    _sql_constraints = [("name_unique", "unique(name)", "A CashKeeper ticket id is used once only.")]

    def init(self):
        # One live ticket per payment line; a second start for that line resumes it.
        states = ", ".join(f"'{state}'" for state in LIVE_STATES)
        self.env.cr.execute(
            f"CREATE UNIQUE INDEX IF NOT EXISTS pos_cashkeeper_ticket_live_line "
            f"ON {self._table} (payment_uuid) WHERE state IN ({states})"
        )

    def _compute_pos_links(self):
        orders = self.env["pos.order"].search([("uuid", "in", self.mapped("order_uuid"))])
        payments = self.env["pos.payment"].search([("uuid", "in", self.mapped("payment_uuid"))])
        for ticket in self:
            ticket.pos_order_id = orders.filtered(lambda o, t=ticket: o.uuid == t.order_uuid)[:1]
            ticket.pos_payment_id = payments.filtered(lambda p, t=ticket: p.uuid == t.payment_uuid)[:1]

    def action_open_pos_order(self):
        self.ensure_one()
        if not self.pos_order_id:
            raise UserError(_("The POS order of ticket %s is not in Odoo yet (the POS has not synced it).", self.name))
        return {"type": "ir.actions.act_window", "res_model": "pos.order", "res_id": self.pos_order_id.id,
                "views": [(False, "form")]}

    # -- entry points (called by the controller after its access checks) ----------------------
    @api.model
    def _cashkeeper_start(self, method, session, payment_uuid, amount, order_uuid="", order_ref=""):
        """Start, or resume, the drawer payment of one POS payment line."""
        ticket = self._live_ticket(payment_uuid)
        if ticket:
            ticket._check_same_payment(method, session, amount)
            if ticket.state == "abandoned":
                ticket._set_state("pending", last_error=False)  # the cashier came back to it
            elif ticket.state == "paid_after_abandon":
                ticket._set_state("paid")  # collected after the cancel: the line is here to take it
            return ticket._progress()
        amount_sent = self._encode_amount(method, session.currency_id, amount)
        agent = method.sudo().cashkeeper_agent_id if method.sudo().cashkeeper_use_agent else None
        if agent is not None and agent._offline_message():
            raise UserError(agent._offline_message())  # say it now rather than wait for it
        try:
            with self.env.cr.savepoint():
                ticket = self.create({
                    "name": self._new_ticket_id(),
                    "payment_method_id": method.id,
                    "session_id": session.id,
                    "currency_id": session.currency_id.id,
                    "amount": amount,
                    "amount_sent": amount_sent,
                    "payment_uuid": payment_uuid,
                    "order_uuid": order_uuid or "",
                    "order_ref": order_ref or "",
                })
        except psycopg2.errors.UniqueViolation:
            # Another request (second tab, double click) created it meanwhile: Odoo retries the
            # whole request on a serialization failure, and the retry resumes that ticket.
            raise ConcurrentStart("concurrent start of one CashKeeper payment") from None
        if agent is not None:
            self.env["pos.cashkeeper.agent"]._notify(agent.ids)
        self._commit()  # the ledger knows the ticket before CKMonitor does
        return ticket._progress()

    def _cashkeeper_status(self):
        self.ensure_one()
        return self._progress()

    def _cashkeeper_abandon(self):
        """The cashier cancels. Look once more: a paid ticket completes the line instead; a
        pending one is abandoned (still watched by the cron, so a late payment is flagged)."""
        self.ensure_one()
        # Only ask, never (re)send a create. A ticket CKMonitor has not confirmed yet may have a
        # create in flight: it is abandoned, not failed, and the cron decides later.
        if self.state in ("queued", "pending", "abandoned") and not self._agent():
            self._check_status()  # the agent reports changes by itself
        if self.state == "paid_after_abandon":
            self._set_state("paid")  # the cron saw it paid, and the line is still on the POS
        if self.state in ("new", "queued", "pending"):
            self._set_state("abandoned", abandoned_at=fields.Datetime.now())
        return self._result()

    # -- the state machine -------------------------------------------------------------------
    def _progress(self):
        """Move the ticket forward by one CKMonitor exchange when it is still open."""
        if self._agent():
            pass  # the agent makes the exchanges and reports them
        elif self.state == "new":
            self._send_create()
        elif self.state in ("queued", "pending", "abandoned"):
            self._check_status()
        return self._result()

    def _send_create(self):
        method = self.payment_method_id
        self.attempts += 1
        my_attempt = self.attempts
        self._commit()  # a crash from here on must count this attempt as possibly delivered

        def sent_before():
            # Asked on "NOK Already exists": did any attempt of ours (earlier, or a concurrent
            # request's) go out before this one? Re-read the committed counter.
            self.invalidate_recordset(["attempts"])
            return my_attempt > 1 or self.attempts > my_attempt

        settings = method.sudo()
        try:
            result = method._cashkeeper_client().create_ticket(
                self.name, self.amount,
                sent_before=sent_before,
                amount_format=AmountFormat(settings.cashkeeper_amount_format or "cents"),
                decimals=self.currency_id.decimal_places,
                id_caja=settings.cashkeeper_id_caja or "",
                terminal=settings.cashkeeper_terminal or "",
                vendedor=settings.cashkeeper_vendedor or "",
                forma_pago=settings.cashkeeper_forma_pago or "efectivo",
            )
        except TicketConflict as e:
            self._apply_create(e.reply, conflict=e)
        except CKFastError as e:
            self._note_error(e)
        else:
            self._apply_create(result.reply)

    def _apply_create(self, reply, conflict=None):
        """CKMonitor answered C: queued, or ``conflict`` (the id is refused, nothing collected)."""
        if conflict:
            self._set_state("failed", last_reply=_raw(reply.raw), last_error=str(conflict),
                            settled_at=fields.Datetime.now())
            return
        # A cancel may have abandoned the ticket while this create was on its way: keep that.
        self.invalidate_recordset(["state"])
        self._set_state("queued" if self.state == "new" else self.state, last_reply=_raw(reply.raw),
                        last_error=False, queued_at=fields.Datetime.now())

    def _check_status(self, watching=False):
        """Ask CKMonitor with S. ``watching``: called by the cron, no POS follows the ticket."""
        try:
            # No retries: the POS polls again shortly, and a poll must not hang on a dead drawer.
            reply = self.payment_method_id._cashkeeper_client(retries=0).ticket_status(self.name)
        except CKFastError as e:
            self._note_error(e)
            return
        self._apply_status(reply, watching)

    def _apply_status(self, reply, watching):
        """CKMonitor answered S. ``watching``: no POS follows the ticket (see ``_check_status``)."""
        raw, now = _raw(reply.raw), fields.Datetime.now()
        if reply.kind is not ReplyKind.NOT_FOUND and not self.queued_at:
            self.queued_at = now  # CKMonitor knows it, even if every reply to C was lost
        if reply.kind is ReplyKind.PAID:
            # Late only when no POS is there to take it (the cron asks); a POS asking, even about
            # a ticket its cashier abandoned, completes its line with it.
            late = watching and self.state in ("abandoned", "new")
            self._set_state("paid_after_abandon" if late else "paid", last_reply=raw, last_error=False,
                            settled_at=now)
        elif reply.kind is ReplyKind.PENDING:
            if watching and self.state == "new":  # queued, though no POS line follows it any more
                self._set_state("abandoned", last_reply=raw, abandoned_at=now)
            elif self.state in ("new", "queued"):
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
        if state != self.state:
            _logger.info("CashKeeper ticket %s: %s -> %s", self.name, self.state, state)
            if agent := self._agent():
                agent._notify(agent.ids)  # its poll answers with the new state
        self.write({"state": state, **values})
        self._commit()

    def _result(self):
        """What the POS needs, and nothing about the drawer's address beyond error texts."""
        message = False
        if self.state in ("cancelled", "failed", "anomaly"):
            message = {
                "cancelled": _("The payment was cancelled on the CashKeeper. Nothing was collected: retry or "
                               "remove the line."),
                "failed": _("The CashKeeper could not take this payment: %s Nothing was collected.",
                            self.last_error or ""),
                "anomaly": self.last_error,
            }[self.state]
        elif self.state in OPEN_STATES:
            agent = self._agent()
            message = (agent and agent._offline_message()) or self.last_error
        return {
            "ticket": self.name,
            "state": self.state,
            "final": self.state in FINAL_STATES,
            "message": message,
            "attempts": self.attempts,
            "amount": self.amount,
            "poll": POLL_POLICY,
        }

    # -- helpers -----------------------------------------------------------------------------
    def _agent(self):
        """The on-site agent making this ticket's exchanges (cloud mode), else an empty record."""
        method = self.payment_method_id.sudo()
        return method.cashkeeper_agent_id if method.cashkeeper_use_agent else method.cashkeeper_agent_id.browse()

    @api.model
    def _live_ticket(self, payment_uuid):
        return self.search([("payment_uuid", "=", payment_uuid), ("state", "in", LIVE_STATES)], limit=1)

    def _check_same_payment(self, method, session, amount):
        if self.payment_method_id != method or self.session_id != session:
            raise UserError(_("This payment line belongs to another CashKeeper payment (ticket %s).", self.name))
        if float_compare(self.amount, amount, precision_rounding=self.currency_id.rounding):
            raise UserError(_(
                "This payment line already has CashKeeper ticket %(ticket)s for %(amount)s. Remove the line "
                "and add a new one to collect another amount.", ticket=self.name, amount=self.amount))

    @api.model
    def _encode_amount(self, method, currency, amount):
        if isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount):
            raise UserError(_("The amount must be a number."))
        if amount < 0:
            raise UserError(_("The CashKeeper cannot pay out refunds: use another payment method for "
                              "negative amounts."))
        if float_is_zero(amount, precision_rounding=currency.rounding):
            raise UserError(_("The amount to collect must be more than zero."))
        if amount > AMOUNT_MAX:
            raise UserError(_("The amount %(amount)s is above the %(max)s limit of a CashKeeper payment.",
                              amount=amount, max=AMOUNT_MAX))
        if float_compare(amount, currency.round(amount), precision_rounding=currency.rounding / 100):
            raise UserError(_("The amount %(amount)s has more decimals than %(currency)s allows.",
                              amount=amount, currency=currency.name))
        try:
            return encode_amount(currency.round(amount), method.sudo().cashkeeper_amount_format or "cents",
                                 currency.decimal_places)
        except CKFastFieldError as e:
            raise UserError(_("The CashKeeper cannot take this amount: %s", e.reason)) from None

    @api.model
    def _new_ticket_id(self):
        """Short, plain and unique across every database and till sharing one CKMonitor:
        'K' + base36 of a per-database sequence + 6 random letters/digits (at most 15 chars)."""
        number = self.env["ir.sequence"].sudo().next_by_code("pos.cashkeeper.ticket") or "0"
        return "K" + _base36(int(number)) + "".join(secrets.choice(ID_ALPHABET) for _ in range(6))

    def _commit(self):
        # Outside tests, make each ledger step durable before talking to the drawer.
        if not self.env.registry.in_test_mode():
            self.env.cr.commit()

    # -- agent calls (cloud mode; the controller checked the ticket is this agent's) ---------
    def _agent_claim(self):
        """The agent is about to send C: count the attempt first, exactly as the server does."""
        if self.state == "new" and self.attempts and fields.Datetime.now() - self.create_date > CLAIM_GIVE_UP:
            # Resent for long enough: stop. Watched as abandoned, since an earlier C may have
            # reached CKMonitor unanswered; "not found" then fails it, a late payment is flagged.
            self._set_state("abandoned", abandoned_at=fields.Datetime.now(), last_error=_(
                "CKMonitor did not confirm this ticket in %s minutes: no longer sent.",
                int(CLAIM_GIVE_UP.total_seconds() // 60)))
        if self.state != "new":
            return {"ticket": self.name, "claimed": False, "state": self.state}
        self.attempts += 1
        self.claimed_at = fields.Datetime.now()
        self._commit()  # a crash from here on must count this attempt as possibly delivered
        method, currency = self.payment_method_id.sudo(), self.currency_id
        return {
            "ticket": self.name,
            "claimed": True,
            "state": self.state,
            "attempt": self.attempts,
            "create": {
                "amount": f"{self.amount:.{currency.decimal_places}f}",
                "amount_format": method.cashkeeper_amount_format or AmountFormat.CENTS.value,
                "decimals": currency.decimal_places,
                "id_caja": method.cashkeeper_id_caja or "",
                "terminal": method.cashkeeper_terminal or "",
                "vendedor": method.cashkeeper_vendedor or "",
                "forma_pago": method.cashkeeper_forma_pago or "efectivo",
            },
        }

    def _agent_report(self, command, reply=None, error=None, attempt=None, ours=False):
        """What CKMonitor answered the agent. Idempotent: a report about a ticket that has moved
        on already (a repeat, or a late duplicate) changes nothing."""
        if command not in ("C", "S") or (reply is None) == (error is None):
            raise UserError(_("Invalid agent report."))
        if command == "C" and not (
            isinstance(attempt, int) and not isinstance(attempt, bool) and 0 < attempt <= self.attempts
        ):
            raise UserError(_("Ticket %s was not claimed for that attempt.", self.name))
        reopen = command == "C" and self.state == "failed" and not self.queued_at and error is None
        if (self.state not in OPEN_STATES and not reopen) or (command == "C" and self.queued_at):
            return self._agent_answer()
        if error is not None:
            try:
                fault = error_from_dict(error)
            except ValueError as e:
                raise UserError(_("Invalid agent report: %s", e)) from None
            self._note_error(fault)
            return self._agent_answer()
        if not isinstance(reply, str) or len(reply) > 1024:
            raise UserError(_("Invalid agent report."))
        try:
            parsed = parse_reply(reply.encode("latin-1", "replace"))
            if parsed.kind not in EXPECTED_REPLIES[CreateTicket if command == "C" else TicketStatus]:
                raise CKFastProtocolError(parsed.raw, f"not an answer to {command}")
        except CKFastProtocolError as e:
            self._note_error(e)
            return self._agent_answer()
        if reopen and (parsed.kind is ReplyKind.ADDED or (parsed.kind is ReplyKind.ALREADY_EXISTS and attempt > 1)):
            # Failed on an earlier "not found", and yet CKMonitor has it: the drawer may take
            # cash after all. Watched again as abandoned, so a payment is flagged, not lost.
            self._set_state("abandoned", queued_at=fields.Datetime.now(), last_reply=_raw(parsed.raw),
                            abandoned_at=fields.Datetime.now(), settled_at=False, last_error=_(
                                "CKMonitor queued this ticket after it was marked failed: watched again."))
        elif reopen:
            pass  # still refused: it stays failed
        elif command == "S" and parsed.kind is ReplyKind.NOT_FOUND and not self.queued_at and self.claimed_at \
                and fields.Datetime.now() - self.claimed_at < CLAIM_GRACE:
            pass  # its C may still be on the way: "not found" proves nothing yet
        elif command == "S":
            # A ticket its cashier abandoned is watched, not followed: like the cron's look.
            self._apply_status(parsed, watching=self.state == "abandoned")
        elif parsed.kind is ReplyKind.ADDED or (
            parsed.kind is ReplyKind.ALREADY_EXISTS and (ours is True or attempt > 1 or self.attempts > attempt)
        ):
            self._apply_create(parsed)  # the server's rule: "already exists" after our own attempt
        else:
            self._apply_create(parsed, conflict=TicketConflict(self.name, parsed))
        return self._agent_answer()

    def _agent_answer(self):
        return {"ticket": self.name, "state": self.state, "final": self.state in FINAL_STATES}

    # -- cron -------------------------------------------------------------------------------
    @api.model
    def _cron_watch_open_tickets(self, older_than_seconds=60):
        """Ask CKMonitor about tickets no POS is following, so that cash collected after the
        cashier gave up (or after a crash) is flagged and never goes unnoticed."""
        now = fields.Datetime.now()
        tickets = self.sudo().search([  # the cron user has no write access to the ledger
            ("state", "in", OPEN_STATES),
            ("write_date", "<", now - timedelta(seconds=older_than_seconds)),
        ])
        for ticket in tickets:
            name = ticket.name
            # Read it afresh (a commit does not clear the cache): an agent may have claimed it
            # meanwhile; a claim committed after this read makes our write fail and roll back.
            ticket.invalidate_recordset()
            try:
                if ticket.state not in OPEN_STATES:
                    continue
                if ticket.state == "new" and not ticket.attempts:
                    ticket._set_state("failed", settled_at=now, last_error=_("Never sent to CKMonitor."))
                elif ticket._agent():
                    continue  # the shop's agent watches it (and Odoo cannot reach that drawer)
                else:
                    ticket._check_status(watching=True)  # commits each change it makes
            except Exception:  # one broken ticket must not stop the watch of the others
                if self.env.registry.in_test_mode():
                    raise
                self.env.cr.rollback()
                _logger.exception("CashKeeper ticket %s could not be checked", name)
        return len(tickets)


def _raw(raw):
    return raw.decode("ascii", "replace").strip()[:200]

