from odoo.addons.pos_cashkeeper.tests.screenshots import SHOTS, ScreenshotMixin
from odoo.tests import tagged

from .common import KioskCommon

if SHOTS:  # only for tools/screenshots.py

    @tagged("post_install", "-at_install")
    class TestKioskScreenshots(ScreenshotMixin, KioskCommon):
        def test_screenshots(self):
            self.open_kiosk()
            self.shoot_tour(lambda: self.run_tour("CashKeeperKioskPaidTour"), at_pay="kiosk_waiting_for_cash.png")
