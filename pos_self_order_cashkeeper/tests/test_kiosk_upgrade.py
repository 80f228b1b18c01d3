import importlib.util
from pathlib import Path

from odoo.tests import tagged

from .common import KioskCommon

MIGRATION = Path(__file__).parents[1] / "migrations" / "18.0.1.1.0" / "post-migrate.py"


@tagged("post_install", "-at_install")
class TestKioskUpgrade(KioskCommon):
    """A database of a release before 18.0.1.1.0, which knew kiosk tickets by their line's
    ``kiosk-`` prefix only: after the upgrade they are kiosk tickets, and pay their orders."""

    def test_kiosk_tickets_of_an_earlier_release_pay_their_orders(self):
        self.open_kiosk()
        answer, _error, order = self.kiosk_pay()
        kiosk_ticket = self.kiosk_tickets(order)
        cashier_ticket = kiosk_ticket.sudo().copy({"name": "KCASHIER", "purpose": "sale", "state": "cancelled",
                                                   "payment_uuid": "a-till-line", "order_uuid": ""})
        self.env.flush_all()
        self.env.cr.execute("UPDATE pos_cashkeeper_ticket SET purpose = 'sale' WHERE id = %s", [kiosk_ticket.id])
        spec = importlib.util.spec_from_file_location("kiosk_purpose_migration", MIGRATION)
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        for _run in range(2):  # idempotent
            migration.migrate(self.env.cr, "18.0.1.0.0")
        self.env.invalidate_all()
        self.assertEqual((kiosk_ticket.purpose, cashier_ticket.purpose), ("kiosk", "sale"))
        self.sim.pay(answer["ticket"])
        self.assertEqual(self.kiosk_status(order)[0]["state"], "paid")
        self.assertPaidOnce(order)
