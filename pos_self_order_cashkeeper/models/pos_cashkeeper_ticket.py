"""Kiosk payments through the CashKeeper: the self-order kiosk takes the cashier's place.

The ledger's rules hold as they are (pos_cashkeeper's models/pos_cashkeeper_ticket.py); the kiosk
adds these:
* One payment line per kiosk order (``KIOSK_LINE`` + the order's uuid): every start for the order
  (Try again, a reload, a second tap) resumes its ticket. The amount is the order's total as the
  server computed it, never what the kiosk says.
* One customer at a time per drawer: while another ticket of the drawer may still take cash, a
  kiosk start is refused (CKMonitor queues tickets: the old one would take this customer's cash).
* No cashier validates a kiosk order: when its ticket turns paid, whichever request saw it (the
  kiosk's status call, the agent's report, the watch cron) pays the order with it, once.
* The kiosk is a public page: its answers say nothing of the drawer's address or of CKFast, only
  what a customer can act on. The staff's reasons are in the ledger and the log.
"""

import logging
import threading
import time
from contextlib import contextmanager

import psycopg2.errors
from odoo import _, api, fields, models
from odoo.addons.pos_cashkeeper.models.cashkeeper_states import (
    ASKED_STATES,
    FOLLOWED_STATES,
    NEW,
    OPEN_STATES,
    PAID_STATES,
)
from odoo.exceptions import AccessError, UserError

_logger = logging.getLogger(__name__)

KIOSK_LINE = "kiosk-"  # + the order's uuid: the payment line of a kiosk order
# The kiosk's calls make CKMonitor answer at most this often per ticket (per Odoo process); a
# faster caller gets what the ledger knows. The kiosk is public: a flood must not reach the drawer.
KIOSK_MIN_ASK_INTERVAL = 0.2
# At most this many of the drawer's other open tickets are asked about before a start is refused.
BUSY_LOOKS = 5
# pg_try_advisory_lock namespace ("CKK") for serialising the kiosk starts on one drawer.
KIOSK_LOCK = 0x434B4B
CRON_KIOSK_BATCH = 50  # kiosk orders the watch cron pays in one run (the rest: the next run)
# The kiosk's answer states besides the ledger's (as the page reads them: cashkeeper_payment.js).
WAITING, STUCK, BUSY, UNAVAILABLE = "waiting", "stuck", "busy", "unavailable"


class _Asked:
    """Per process: (database, ticket id) -> when a kiosk call last made CKMonitor answer for it."""

    lock = threading.Lock()
    at = {}

    @classmethod
    def may_ask(cls, ticket):
        key, now = (ticket.env.cr.dbname, ticket.id), time.monotonic()
        with cls.lock:
            if now - cls.at.get(key, float("-inf")) < KIOSK_MIN_ASK_INTERVAL:
                return False
            if len(cls.at) > 10000:  # bounded: forgetting only allows one more ask
                cls.at.clear()
            cls.at[key] = now
        return True


def _answer(state, message, retry=True, ticket=False):
    """A kiosk answer that no ticket backs (the start was refused) or that ends the payment."""
    return {"state": state, "final": True, "message": message, "retry": retry, "ticket": ticket, "amount": 0}


def _unavailable():
    """The drawer cannot take a payment now; why (agent offline, …) is for the staff's log."""
    return _answer(UNAVAILABLE, _(
        "The cash machine is not available right now. Nothing was charged: choose another way to pay, or ask staff."))


class PosCashKeeperTicket(models.Model):
    _inherit = "pos.cashkeeper.ticket"

    purpose = fields.Selection(selection_add=[("kiosk", "Kiosk payment")], ondelete={"kiosk": "set default"})

    def action_kiosk_pay_order(self):
        """Manager's way out: cash the drawer took for a kiosk order after the customer cancelled
        (or that could not be put on it at once) pays that order, if it still waits for it."""
        self.ensure_one()
        if not self.env.user.has_group("point_of_sale.group_pos_manager"):
            raise AccessError(_("Only Point of Sale managers can do this with a CashKeeper."))
        ticket, order = self.sudo(), self.sudo()._kiosk_order()
        if ticket.state not in PAID_STATES or ticket.pos_payment_id or order.state != "draft" \
                or order.session_id.state != "opened":
            raise UserError(_("Ticket %s cannot pay a kiosk order: only cash the drawer collected for a kiosk order "
                              "that is still unpaid, in an open session, can.", ticket.name))
        if why := order._kiosk_cash_problem(ticket):
            raise UserError(_("Kiosk order %(order)s cannot be paid with ticket %(ticket)s: %(why)s. Refund the "
                              "customer or record the sale otherwise.", order=order.pos_reference,
                              ticket=ticket.name, why=why))
        ticket.message_post(body=_("%s put this cash on its kiosk order.", self.env.user.name))
        if ticket.state == "paid_after_abandon":
            with ticket._announcing():  # a paid kiosk ticket pays its order (_settle_order)
                ticket._set_state("paid")
        else:
            order._kiosk_pay_with(ticket)
        if not ticket.pos_payment_id:
            raise UserError(ticket.last_error or _("Kiosk order %s could not be paid with this ticket.",
                                                   order.pos_reference))
        return True

    # -- the kiosk's calls (after the controller's checks of the kiosk's and the order's tokens) --
    @api.model
    def _kiosk_start(self, method, order):
        """Start, or resume, the CashKeeper payment of a kiosk order; returns the kiosk's answer.
        The drawer is asked for the order's total at the shop's prices (``_kiosk_reprice``), whatever
        the kiosk said, and no call waits for another: a drawer taken answers "busy"."""
        config, session = order.config_id, order.session_id
        if config.self_ordering_mode != "kiosk" or session.state != "opened" or session != config.current_session_id:
            return _answer(UNAVAILABLE, _("This kiosk is closed: please pay at the counter."), retry=False)
        payment_uuid, transport = KIOSK_LINE + order.uuid, method._cashkeeper_transport()
        ticket = self._live_ticket(payment_uuid)
        if order.state != "draft":
            if ticket:  # paid with it already: the kiosk shows it
                return ticket._kiosk_follow(order, transport)
            return _answer(STUCK, _("This order is already paid."), retry=False)
        if ticket and not _Asked.may_ask(ticket):
            return ticket._kiosk_result(order, transport)  # asked a moment ago (Odoo's route is public too)
        try:
            order._kiosk_reprice()
        except UserError as e:
            _logger.warning("CashKeeper kiosk %s, order %s refused: %s", config.name, order.pos_reference, e)
            return _answer(UNAVAILABLE, e.args[0], retry=False)
        amount = order._get_rounded_amount(order.amount_total, force_round=True)  # cash: rounded like cash
        if ticket and ticket.state == "abandoned":
            with ticket._announcing(transport) as made:  # its method's (the customer may have switched)
                made.ask(ticket)  # cancelled on the drawer since? then a new ticket
            ticket = self._live_ticket(payment_uuid)
        if ticket and ticket.currency_id.compare_amounts(ticket.amount, amount):
            return ticket._kiosk_other_amount()
        if ticket:
            return self._kiosk_send(method, session, order, amount, transport)  # Try again, a reload: resume it
        with self._kiosk_drawer_turn(transport) as mine:
            if not mine:  # another kiosk's customer is starting on this drawer right now
                return _answer(BUSY, _("The cash machine is serving another customer: try again in a moment."))
            busy = self._kiosk_busy_ticket(transport, payment_uuid)
            if busy:
                _logger.info("CashKeeper kiosk %s: order %s waits, the drawer may still take cash for ticket %s",
                             config.name, order.pos_reference, busy.name)
                return _answer(BUSY, _(
                    "The cash machine is still waiting for another payment (ticket %s). Press cancel on the cash "
                    "machine, then try again, or ask staff.", busy.name))
            if transport.drawer_unreachable():
                _logger.warning("CashKeeper kiosk %s: the agent cannot reach CKMonitor", config.name)
                return _unavailable()
            return self._kiosk_send(method, session, order, amount, transport)

    @api.model
    def _kiosk_send(self, method, session, order, amount, transport):
        """The ledger's start: a new ticket (C sent), or the order's ticket resumed (C resent while
        CKMonitor has not confirmed it, else asked about)."""
        try:
            self._cashkeeper_start(method, session, KIOSK_LINE + order.uuid, amount, order_uuid=order.uuid,
                                   order_ref=order.pos_reference or order.name, purpose="kiosk", transport=transport)
        except UserError as e:  # the staff's reason (agent offline, …) is for the log, not the customer
            _logger.warning("CashKeeper kiosk %s, order %s: %s", order.config_id.name, order.pos_reference, e)
            return _unavailable()
        return self._kiosk_ticket(order)._kiosk_result(order, transport)

    @contextmanager
    def _kiosk_drawer_turn(self, transport):
        """Yields whether this request may start a kiosk payment on the transport's drawer now: two
        kiosks tapping Pay together must not both find the drawer free, and a public call never
        waits for another (the second one is told the drawer is busy). A session lock (the ledger
        commits on the way), taken before a fresh snapshot, so that the ticket the previous
        holder committed is seen."""
        cr, key = self.env.cr, [KIOSK_LOCK, repr(transport.drawer)]
        cr.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", key)
        if not cr.fetchone()[0]:
            yield False
            return
        try:
            self._commit()  # a fresh snapshot: the ticket the previous holder committed is seen
            yield True
        finally:
            try:
                cr.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", key)
            except psycopg2.Error:  # the transaction failed: Odoo rolls it back (and may retry)
                cr.rollback()
                cr.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", key)

    def _kiosk_follow(self, order, transport=None):
        """The kiosk asks how its payment stands: CKMonitor answers once (rate-limited), and the
        order is paid if the drawer has the cash. (After a cancel the kiosk keeps asking: cash
        the drawer takes then is shown to the customer as taken after the cancel.)"""
        self.ensure_one()
        with self._announcing(transport) as made:
            if self.state in ASKED_STATES and _Asked.may_ask(self):
                made.ask(self)
            elif self.state == NEW and not self.attempts and _Asked.may_ask(self):
                made.send(self)  # its start ran out of time before the C: send it now
        if self.state == "paid" and not self.pos_payment_id:
            order._kiosk_pay_with(self)  # an earlier try failed, or was rolled back
        return self._kiosk_result(order, made)

    def _kiosk_cancel(self, order):
        """The customer cancels on the kiosk: a ticket the drawer has paid pays the order instead;
        one it may still collect is abandoned (watched: cash it takes later is flagged)."""
        self.ensure_one()
        transport = self._transport()
        if self.state in OPEN_STATES:
            self._cashkeeper_abandon(transport)
        return self._kiosk_result(order, transport)

    # -- rules -------------------------------------------------------------------------------
    @api.model
    def _kiosk_busy_ticket(self, transport, payment_uuid):
        """Another ticket of the transport's drawer (of any of the methods that reach it) that may
        still take cash (after asking CKMonitor), if any."""
        others = self.search([("payment_method_id", "in", transport.method._cashkeeper_same_drawer().ids),
                              ("state", "in", OPEN_STATES),
                              ("payment_uuid", "!=", payment_uuid)], order="id", limit=BUSY_LOOKS)
        for other in others:
            if (other.state != NEW or other.attempts) and _Asked.may_ask(other):
                with other._announcing(transport) as made:
                    made.ask(other)
        return others.filtered(lambda t: t.state in OPEN_STATES)[:1]

    def _kiosk_other_amount(self):
        """The order's ticket is for another amount (the order changed after it was started)."""
        amount = self.currency_id.format(self.amount)
        if self.state in OPEN_STATES:
            return _answer(BUSY, _(
                "Your earlier cash payment of %(amount)s (ticket %(ticket)s) may still take cash: press cancel on "
                "the cash machine, then try again.", amount=amount, ticket=self.name), ticket=self.name)
        return _answer(STUCK, _(
            "The cash machine collected %(amount)s for this order before it changed (ticket %(ticket)s): please "
            "ask staff.", amount=amount, ticket=self.name), retry=False, ticket=self.name)

    def _settle_order(self):
        super()._settle_order()
        if self.purpose == "kiosk":
            self._kiosk_order()._kiosk_pay_with(self)  # whichever request saw it paid: no cashier will

    def _kiosk_order(self):
        """The kiosk order this ticket pays (none for the tickets of a cashier's POS)."""
        self.ensure_one()
        if self.purpose != "kiosk" or not self.order_uuid:
            return self.env["pos.order"]
        return self.env["pos.order"].sudo().search([("uuid", "=", self.order_uuid),
                                                    ("config_id", "=", self.config_id.id)], limit=1)

    @api.model
    def _kiosk_ticket(self, order):
        """The kiosk order's latest ticket."""
        return self.sudo().search([("payment_uuid", "=", KIOSK_LINE + order.uuid)], order="id desc", limit=1)

    def _kiosk_result(self, order, transport=None):
        """What the kiosk shows: the state, and a message for the customer (never the staff's)."""
        self.ensure_one()
        state, name, transport = self.state, self.name, self._transport(transport)
        answer = {"ticket": name, "amount": self.amount, "state": state, "final": True, "retry": True,
                  "message": False, "poll": transport.poll_policy}
        if state == "paid":
            if self.pos_payment_id and self.pos_payment_id.pos_order_id == order and order._kiosk_paid():
                return answer
            answer.update(state=STUCK, retry=False, message=_(
                "The cash machine took your cash (ticket %s), but the order could not be completed: please ask "
                "staff.", name))
        elif transport.gave_up(self):
            # CKMonitor did not confirm it: only a new start (Try again) resends it.
            answer.update(message=_("The cash machine does not answer: do not insert cash. Nothing was charged: "
                                    "try again, or choose another way to pay."))
        elif state in FOLLOWED_STATES:
            trouble = self.last_error or transport.offline_message()
            answer.update(state=WAITING, final=False, message=trouble and _(
                "The cash machine is slow to answer: still waiting for it."))
        else:  # cancelled, failed, abandoned, paid_after_abandon, anomaly
            answer.update(retry=state != "anomaly", message={
                "cancelled": _("The payment was cancelled on the cash machine. Nothing was charged."),
                "failed": _("The cash machine could not take this payment. Nothing was charged."),
                "abandoned": _(
                    "Payment cancelled. If you inserted cash, press cancel on the cash machine too (ticket %s).", name),
                "paid_after_abandon": _(
                    "The cash machine took your cash after you cancelled (ticket %s): press Try again to pay this "
                    "order with it.", name),
                "anomaly": _("The cash machine lost track of this payment (ticket %s): please ask staff before "
                             "paying again.", name),
            }[state])
        return answer

    # -- cron --------------------------------------------------------------------------------
    @api.model
    def _cron_watch_open_tickets(self, *args, **kwargs):
        # Before the watch flags paid tickets on no order: a kiosk order whose payment could not
        # be put on it when its ticket was paid (a crash, a conflict) is paid now, if it still waits.
        for ticket in self.sudo().search([
            ("state", "=", "paid"), ("pos_payment_id", "=", False), ("purpose", "=", "kiosk"),
            ("session_id.state", "=", "opened"),
        ], limit=CRON_KIOSK_BATCH):
            name = ticket.name
            try:
                ticket._kiosk_order()._kiosk_pay_with(ticket)
                self._commit()  # each order on its own: one that fails rolls back alone
            except psycopg2.errors.SerializationFailure:  # the kiosk is completing it right now
                self.env.cr.rollback()
            except Exception:  # one broken order must not stop the watch
                if self.env.registry.in_test_mode():
                    raise
                self.env.cr.rollback()
                _logger.exception("CashKeeper ticket %s: its kiosk order could not be paid", name)
        return super()._cron_watch_open_tickets(*args, **kwargs)
