"""The books match the drawer: a POS order is saved as paid only if each of its CashKeeper
payments is backed by the ledger ticket of that payment line (same method, session, amount; a
ticket backs one payment). The server decides; whatever the browser sends is checked here.

A refused order never holds back the till's other orders: the POS syncs them in one batch, so
each order is saved in a savepoint of its own, and a refused one is kept in Odoo as an unpaid
order without the payments the drawer does not back, carrying the reason for the cashier."""

import copy
import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .cashkeeper_states import MOVED_STATES

_logger = logging.getLogger(__name__)


class CashKeeperRefusal(UserError):
    """The books refuse an order (the message says why, for the cashier and the manager);
    ``payment_uuids``: its CashKeeper lines that nothing backs."""

    def __init__(self, message, payment_uuids):
        super().__init__(message)
        self.payment_uuids = set(payment_uuids)


class PosOrder(models.Model):
    _inherit = "pos.order"

    cashkeeper_refusal = fields.Char(
        string="CashKeeper refusal", readonly=True, copy=False,
        help="Why this order was kept unpaid when the POS synced it: a CashKeeper payment the drawer does not back "
             "was taken off. Pay it again, or cancel it.")

    def _process_order(self, order, existing_order):
        pristine = copy.deepcopy(order)  # Odoo's processing consumes the dict
        try:
            with self.env.cr.savepoint():
                order_id = super()._process_order(order, existing_order)
        except CashKeeperRefusal as refusal:
            return self._cashkeeper_keep_refused(pristine, existing_order, refusal)
        saved = self.browse(order_id)
        if saved.cashkeeper_refusal:
            saved.cashkeeper_refusal = False  # saved with payments the drawer backs: settled
        return order_id

    def _cashkeeper_keep_refused(self, data, existing_order, refusal):
        """Keep a refused order as an unpaid draft without the payments nothing backs, so that the
        cashier finds it in the POS (pay it again) and the manager in Odoo (or cancel it)."""
        refused = refusal.payment_uuids
        payments = self.env["pos.payment"].sudo()
        if existing_order:  # its unbacked lines saved earlier (a draft synced before) go too
            payments = existing_order.payment_ids.filtered(lambda p: p.uuid in refused).sudo()
            payments.unlink()
        data["state"] = "draft"
        data["payment_ids"] = [
            command for command in data.get("payment_ids") or []
            if not (command[0] == 0 and command[2].get("uuid") in refused) and command[1] not in payments.ids
        ]
        order = self.browse(super()._process_order(data, existing_order))
        order.cashkeeper_refusal = text = refusal.args[0]
        # sudo: a cashier without an email address may not post, and this must never fail the sync
        order.sudo().message_post(body=text)
        order.session_id.sudo().message_post(body=_("CashKeeper refused an order of %(user)s. %(text)s",
                                             user=self.env.user.name, text=text))
        return order.id

    def _process_payment_lines(self, pos_order, order, pos_session, draft):
        # The POS's sync (sync_from_ui): ``order`` is the record, its payments are written.
        super()._process_payment_lines(pos_order, order, pos_session, draft)
        order._cashkeeper_bind_payments(draft)

    def write(self, vals):
        # Every other way an order gets paid (action_pos_order_paid, the backend's payment wizard,
        # another addon, a plain write over RPC) passes here.
        result = super().write(vals)
        if vals.get("state") in ("paid", "done", "invoiced"):
            for order in self:
                order._cashkeeper_bind_payments(draft=False)
        return result

    def action_pos_order_cancel(self):
        self._cashkeeper_check_not_collected()
        return super().action_pos_order_cancel()

    @api.ondelete(at_uninstall=False)
    def _unlink_except_collected_by_the_drawer(self):
        self._cashkeeper_check_not_collected()

    def _cashkeeper_check_not_collected(self):
        """The ledger, not what the browser says of a line, tells whether the drawer took cash for
        an order: one that holds such cash is not cancelled or deleted."""
        tickets = self.env["pos.cashkeeper.ticket"].sudo().search([
            ("order_uuid", "in", [uuid for uuid in self.mapped("uuid") if uuid]), ("state", "in", MOVED_STATES)])
        if tickets:
            held = self.filtered(lambda o: o.uuid in tickets.mapped("order_uuid"))
            raise UserError(_(
                "Order %s holds cash the CashKeeper paid out or collected: it cannot be deleted. Validate it, or "
                "ask a manager.", ", ".join(held.mapped(lambda o: o.pos_reference or o.name))))

    def _cashkeeper_refund_problem(self):
        """Why these orders' refunds may not be paid out at a CashKeeper (False when they may)."""
        return False

    def _cashkeeper_payments(self):
        return self.payment_ids.filtered(lambda p: p.payment_method_id.use_payment_terminal == "cashkeeper"
                                         and not self.currency_id.is_zero(p.amount))

    def _cashkeeper_bind_payments(self, draft):
        """Bind the order's CashKeeper payments to their tickets, or refuse the whole order. A draft
        (restaurant, saved for later) only needs its done lines bound: the others are still being paid."""
        self.ensure_one()
        payments = self._cashkeeper_payments()
        if draft:
            payments = payments.filtered(lambda p: p.payment_status == "done")
        refusals = payments and self.env["pos.cashkeeper.ticket"]._bind_payments(payments)
        if not refusals:
            return
        text = _(
            "Order %(order)s was not saved as paid: %(reasons)s. It is kept as an unpaid order without that "
            "CashKeeper payment, nothing is lost. Check the drawer's screen (or ask a manager to check Point of Sale "
            "> Orders > CashKeeper Tickets), then open the order from the Orders list and take the payment again.",
            order=self.pos_reference or self.name, reasons="; ".join(text for _payment, text in refusals))
        _logger.warning("CashKeeper: %s (user %s, session %s)", text, self.env.user.login, self.session_id.name)
        raise CashKeeperRefusal(text, [payment.uuid for payment, _text in refusals])

    def _get_rounded_amount(self, amount, force_round=False):
        # A CashKeeper payment is cash: where the POS rounds cash only, it is rounded like cash.
        force_round = force_round or (self.config_id.cash_rounding and bool(self._cashkeeper_payments()))
        return super()._get_rounded_amount(amount, force_round=force_round)
