"""A CashKeeper payment the drawer collected is what the books hold of that cash: once bound to
its ticket it keeps its amount, method, line and order (a tip added afterwards, say, was not
collected by the drawer), and it is not deleted from a validated order."""

from odoo import _, api, models
from odoo.exceptions import UserError

FROZEN = {"amount", "payment_method_id", "uuid", "pos_order_id"}


class PosPayment(models.Model):
    _inherit = "pos.payment"

    def _cashkeeper_bound(self):
        return self.env["pos.cashkeeper.ticket"].sudo().search([("pos_payment_id", "in", self.ids)])

    def write(self, vals):
        if FROZEN & set(vals) and self.ids:
            for ticket in self._cashkeeper_bound():
                payment = ticket.pos_payment_id
                if any(payment._fields[f].convert_to_write(payment[f], payment) != vals[f]
                       for f in FROZEN & set(vals)):
                    raise UserError(_(
                        "The CashKeeper payment of %(amount)s on order %(order)s is what drawer ticket %(ticket)s "
                        "collected: it cannot be changed. Record a change (a tip, another amount) as another payment.",
                        amount=payment.currency_id.format(payment.amount), ticket=ticket.name,
                        order=payment.pos_order_id.pos_reference or payment.pos_order_id.name))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_collected_by_the_drawer(self):
        for ticket in self._cashkeeper_bound():
            if ticket.pos_payment_id.pos_order_id.state not in ("draft", "cancel"):
                raise UserError(_("The CashKeeper payment of order %s is what the drawer collected: it cannot be "
                                  "deleted.", ticket.pos_payment_id.pos_order_id.pos_reference))
