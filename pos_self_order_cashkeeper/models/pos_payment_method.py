from odoo import _, api, models
from odoo.addons.pos_cashkeeper.models.cashkeeper_transport import public_call
from odoo.exceptions import ValidationError
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
        # A public caller: the drawer gets one status ask's time in all (public_call).
        tickets = public_call(self.env["pos.cashkeeper.ticket"].sudo())
        return tickets._kiosk_start(public_call(self.sudo()), order.sudo())

    @api.constrains("use_payment_terminal", "cashkeeper_agent_id", "cashkeeper_host", "cashkeeper_port", "config_ids")
    def _check_kiosk_cashkeeper_of_its_own(self):
        self._kiosk_check_drawer_of_its_own()

    def _kiosk_check_drawer_of_its_own(self):
        """A self-service kiosk has a CashKeeper of its own: CKMonitor queues tickets, so a till's
        ticket waiting on the kiosk's drawer would take the next kiosk customer's cash (or a kiosk
        ticket a till customer's). Kiosks may share one; a kiosk and a till may not."""
        for method in self.sudo().filtered(lambda m: m.use_payment_terminal == "cashkeeper"):
            configs = method._cashkeeper_same_drawer().config_ids
            kiosks = configs.filtered(lambda c: c.self_ordering_mode == "kiosk")
            tills = configs - kiosks
            if kiosks and tills:
                raise ValidationError(_(
                    "The CashKeeper of %(method)s serves the self-service kiosk %(kiosk)s and the point of sale "
                    "%(till)s. A kiosk needs a CashKeeper of its own: CKMonitor queues tickets, so a ticket of "
                    "one could take the cash of the other's customer. Give the point of sale another CashKeeper "
                    "(another CKMonitor host, port or agent), or take this one off it.",
                    method=method.name, kiosk=kiosks[0].name, till=tills[0].name))
