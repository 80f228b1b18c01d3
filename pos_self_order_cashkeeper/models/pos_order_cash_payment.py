"""A kiosk order paid by its CashKeeper ticket: no cashier validates a kiosk order, so whichever
request sees its ticket paid (the kiosk's call, the agent's report, the watch cron, a manager)
pays the order with it, once (``_kiosk_pay_with``)."""

import logging

from odoo import _, fields, models
from odoo.exceptions import UserError

_logger = logging.getLogger(__name__)

PAID_ORDER_STATES = ("paid", "done", "invoiced")


class PosOrder(models.Model):
    _inherit = "pos.order"

    def _kiosk_paid(self):
        return self.state in PAID_ORDER_STATES

    def _kiosk_pay_with(self, ticket):
        """Pay this kiosk order with its paid ``ticket`` and send it to preparation. An order that is
        not waiting for it any more (paid otherwise, its session closed) is left: the ticket is then
        on no order and flagged for the manager, like a cashier's."""
        ticket, order = ticket.sudo(), self.sudo()
        if not order or ticket.state != "paid" or ticket.pos_payment_id or order.state != "draft" \
                or order.session_id.state != "opened":
            return False
        # One completion at a time: a concurrent one makes this transaction retry, and the retry
        # finds the order paid.
        self.env.cr.execute("SELECT 1 FROM pos_order WHERE id = %s FOR NO KEY UPDATE", [order.id],
                            log_exceptions=False)
        order = order.with_user(order.config_id.self_ordering_default_user_id).with_company(order.company_id)
        try:
            with self.env.cr.savepoint():
                if why := order._kiosk_cash_problem(ticket):
                    raise UserError(why)
                order.add_payment({
                    "pos_order_id": order.id,
                    "payment_method_id": ticket.payment_method_id.id,
                    "amount": ticket.amount,
                    "payment_date": fields.Datetime.now(),
                    "uuid": ticket.payment_uuid,  # the ledger binds the payment by its line
                    "transaction_id": ticket.name,
                    "payment_status": "done",
                })
                order.action_pos_order_paid()  # binds the payment to the ticket, or refuses
                order._send_order()
        except UserError as e:
            why = _("Kiosk order %(order)s could not be paid with this ticket: %(why)s",
                    order=order.pos_reference or order.name, why=e.args[0])
            if ticket.last_error != why:  # said once (the cron tries again every minute)
                _logger.warning("CashKeeper ticket %s: %s", ticket.name, why)
                ticket.write({"last_error": why, "on_no_order": True})  # the manager's to settle
                ticket.message_post(body=why)
            return False
        _logger.info("CashKeeper ticket %s paid kiosk order %s", ticket.name, order.pos_reference)
        order.sudo()._kiosk_tell_paid()
        return True

    def _kiosk_tell_paid(self):
        """Odoo's kiosk shows a paid order's confirmation on PAYMENT_STATUS, as Adyen's and Stripe's
        bridges send it (on commit, to the config's kiosks: each acts on its own orders only)."""
        data = {model: records.read(records._load_pos_self_data_fields(self.config_id.id), load=False)
                for model, records in (("pos.order", self), ("pos.order.line", self.lines))}
        self.config_id._notify("PAYMENT_STATUS", {"payment_result": "Success", "data": data})

    def _kiosk_cash_problem(self, ticket):
        """Why ``ticket``'s cash cannot pay this order (False when it can): exactly the order's total
        at the shop's prices, rounded like cash (the lines may have been saved again since the start)."""
        try:
            self._kiosk_reprice()
        except UserError as e:
            return e.args[0]
        total, currency = self._get_rounded_amount(self.amount_total, force_round=True), ticket.currency_id
        if currency.compare_amounts(ticket.amount, total):
            return _("the drawer collected %(collected)s, and the order now comes to %(total)s",
                     collected=currency.format(ticket.amount), total=currency.format(total))
        return False
