from odoo.addons.pos_cashkeeper.tests.screenshots import SHOTS, ScreenshotMixin
from odoo.tests import tagged

from .common import KioskCommon

if SHOTS:  # only for tools/screenshots.py

    @tagged("post_install", "-at_install")
    class TestKioskScreenshots(ScreenshotMixin, KioskCommon):
        def test_screenshots(self):
            self.open_kiosk()
            route = self.kiosk._get_self_order_route() + self.tour_query()
            self.shoot_tour(lambda: self.start_tour(route, "CashKeeperKioskPaidTour", timeout=180),
                            at_pay="kiosk_waiting_for_cash.png")
