from odoo import api, models
from odoo.osv import expression


class PosPaymentMethod(models.Model):
    _inherit = "pos.payment.method"

    @api.model
    def _load_pos_self_data_domain(self, data):
        # Odoo's kiosk offers Adyen and Stripe only: a CashKeeper is a terminal it can offer too
        # (its method books to a bank-type journal, so Odoo's "no cash method in a kiosk" holds).
        domain = super()._load_pos_self_data_domain(data) or [("id", "=", False)]
        config = data["pos.config"]["data"][0]
        if config["self_ordering_mode"] != "kiosk":
            return domain
        return expression.OR([domain, [("use_payment_terminal", "=", "cashkeeper"),
                                       ("id", "in", config["payment_method_ids"])]])

    def _payment_request_from_kiosk(self, order):
        if self.use_payment_terminal != "cashkeeper":
            return super()._payment_request_from_kiosk(order)
        # Odoo's /kiosk/payment route checked the kiosk's token and that this method is the
        # kiosk's; it sends back what this returns (always a dict: truthy, even for a refusal).
        return self.env["pos.cashkeeper.ticket"].sudo()._kiosk_start(self.sudo(), order.sudo())
