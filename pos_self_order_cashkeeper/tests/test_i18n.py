from pathlib import Path

from odoo.addons.pos_cashkeeper.tests.test_i18n import assert_catalogues_complete
from odoo.tests import TransactionCase, tagged

I18N = Path(__file__).resolve().parents[1] / "i18n"


@tagged("post_install", "-at_install")
class TestKioskCatalogues(TransactionCase):
    def test_pot_is_up_to_date_and_every_term_is_translated(self):
        assert_catalogues_complete(self, "pos_self_order_cashkeeper", I18N)

    def test_spanish_messages_reach_the_customer(self):
        self.env["res.lang"]._activate_lang("es_ES")
        self.env["ir.module.module"]._load_module_terms(["pos_self_order_cashkeeper"], ["es_ES"], overwrite=True)
        answer = self.env["pos.cashkeeper.ticket"].with_context(lang="es_ES")._kiosk_start(
            self.env["pos.payment.method"], self.env["pos.order"])
        self.assertIn("caja", answer["message"].lower())
