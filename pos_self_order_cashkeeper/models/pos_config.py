from odoo import api, models


class PosConfig(models.Model):
    _inherit = "pos.config"

    @api.constrains("self_ordering_mode", "payment_method_ids")
    def _check_kiosk_cashkeeper_of_its_own(self):
        self.payment_method_ids._kiosk_check_drawer_of_its_own()
