"""The books match the drawer: a POS order is saved only if each of its CashKeeper payments is
backed by the paid ledger ticket of that payment line (same method, session, amount; a ticket
backs one payment). The server decides; whatever the browser sends is checked here."""

import logging

from odoo import SUPERUSER_ID, _, api, models
from odoo.exceptions import UserError

from .pos_cashkeeper_ticket import PAID_STATES

_logger = logging.getLogger(__name__)


class PosOrder(models.Model):
    _inherit = "pos.order"

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
            ("order_uuid", "in", [uuid for uuid in self.mapped("uuid") if uuid]), ("state", "in", PAID_STATES)])
        if tickets:
            held = self.filtered(lambda o: o.uuid in tickets.mapped("order_uuid"))
            raise UserError(_(
                "Order %s holds a CashKeeper payment the drawer collected: it cannot be deleted. Validate it, or "
                "refund the customer and ask a manager.", ", ".join(held.mapped(lambda o: o.pos_reference or o.name))))

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
        text = _("Order %(order)s was not saved: %(reasons)s.", order=self.pos_reference or self.name,
                 reasons="; ".join(refusals))
        self._cashkeeper_log_refusal(text)
        raise UserError(_(
            "%s It stays in this POS, nothing is lost. Check the CashKeeper line against the drawer's screen, or ask "
            "a manager to check Point of Sale > Orders > CashKeeper Tickets before taking any payment again.", text))

    def _cashkeeper_log_refusal(self, text):
        """Tell the manager on the session's chatter. Written by a cursor of its own and committed:
        the refused order's transaction is rolled back."""
        _logger.warning("CashKeeper: %s (user %s, session %s)", text, self.env.user.login, self.session_id.name)
        with self.env.registry.cursor() as cr:
            session = api.Environment(cr, SUPERUSER_ID, {})["pos.session"].browse(self.session_id.id)
            if session.exists():
                session.message_post(body=_("CashKeeper refused an order of %(user)s. %(text)s",
                                            user=self.env.user.name, text=text))

    def _get_rounded_amount(self, amount, force_round=False):
        # A CashKeeper payment is cash: where the POS rounds cash only, it is rounded like cash.
        force_round = force_round or (self.config_id.cash_rounding and bool(self._cashkeeper_payments()))
        return super()._get_rounded_amount(amount, force_round=force_round)
