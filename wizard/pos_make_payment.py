from odoo import _, models
from odoo.exceptions import UserError


class PosMakePayment(models.TransientModel):
    _inherit = "pos.make.payment"

    def check(self):
        # The backend's "Payment" button would book drawer cash that no ticket backs.
        if self.payment_method_id.use_payment_terminal == "cashkeeper":
            raise UserError(_("CashKeeper payments are taken at the POS, where the drawer collects them and Odoo "
                              "records the ticket. Use another payment method here."))
        return super().check()
