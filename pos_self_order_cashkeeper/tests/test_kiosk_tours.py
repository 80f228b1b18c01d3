from datetime import timedelta
from unittest.mock import patch

from odoo.addons.bus.websocket import WebsocketConnectionHandler
from odoo.tests import tagged

from .common import KioskCloudCommon, KioskCommon


@tagged("post_install", "-at_install")
class TestKioskTours(KioskCommon):
    """The customer at the kiosk in headless Chromium, the simulator as the drawer."""

    def setUp(self):
        super().setUp()
        self.open_kiosk()

    def test_paid_at_the_drawer(self):
        order = self.run_tour("CashKeeperKioskPaidTour")
        self.assertPaidOnce(order)

    def test_the_customer_sees_and_pays_the_shops_price(self):
        order = self.run_tour("CashKeeperKioskShopPriceTour")
        self.assertEqual(self.assertPaidOnce(order).amount, 4.2)
        self.assertEqual((order.lines.price_unit, order.amount_total), (4.2, 4.2))

    def test_another_kiosks_paid_order_is_not_shown_here(self):
        answer, _error, other = self.kiosk_pay()  # another kiosk of the config, its customer pays
        self.sim.pay(answer["ticket"])
        self.assertEqual(self.kiosk_status(other)[0]["state"], "paid")
        told = self.env["bus.bus"].sudo().search([("channel", "like", self.kiosk.access_token)]).mapped("message")
        self.assertTrue([m for m in told if "PAYMENT_STATUS" in m and other.access_token in m])
        self.sim.requests.clear()  # this kiosk's payment is the tour's
        self.startPatcher(patch.object(WebsocketConnectionHandler, "websocket_allowed", return_value=True))
        # Once this kiosk's customer has started paying, the config's kiosks are told again that
        # the other order is paid (on the bus, which Odoo's tests turn off unless told).
        told = self.after_call("pos.cashkeeper.ticket", "_kiosk_start",
                               lambda env: env["pos.order"].browse(other.id)._kiosk_tell_paid())
        self.assertPaidOnce(self.run_tour("CashKeeperKioskOtherKioskPaidTour") - other)
        self.assertTrue(told.is_set())

    def test_drawer_cancel_then_try_again(self):
        order = self.run_tour("CashKeeperKioskDrawerCancelTour")
        self.assertEqual(self.kiosk_tickets(order).mapped("state"), ["cancelled", "paid"])
        self.assertPaidOnce(order)

    def test_customer_cancels_then_the_drawer_pays_is_flagged(self):
        order = self.run_tour("CashKeeperKioskCustomerCancelTour")
        ticket = self.kiosk_tickets(order)
        self.assertEqual(ticket.state, "paid_after_abandon")
        self.assertEqual((order.state, order.payment_ids), ("draft", self.env["pos.payment"]))
        self.age(ticket)
        self.env["pos.cashkeeper.ticket"]._flag_no_order(grace=timedelta(0))
        self.assertTrue(ticket.on_no_order)  # for the manager, with its order:
        self.assertEqual(ticket.pos_order_id, order)

    def test_cancelled_then_paid_with_the_kiosks_other_method(self):
        other = self.make_cashkeeper_method(name="Coins and notes")
        self.kiosk = self.make_kiosk(self.kiosk_method | other, name="Kiosk with two CashKeeper methods")
        self.open_kiosk()
        order = self.run_tour("CashKeeperKioskOtherMethodTour")
        self.assertEqual(self.kiosk_tickets(order).mapped("payment_method_id"), self.kiosk_method | other)
        self.assertPaidOnce(order, method=other)

    def test_reload_mid_payment_resumes(self):
        order = self.run_tour("CashKeeperKioskReloadTour")
        self.assertPaidOnce(order)
        self.assertEqual(len(self.kiosk_tickets(order)), 1)

    def test_ckmonitor_down_then_back(self):
        self.sim.inject("reset", count=1)  # the first start fails (a public call sends its C once, unretried)
        order = self.run_tour("CashKeeperKioskDownTour")
        paid = self.assertPaidOnce(order)
        self.assertEqual(paid.attempts, 2)


@tagged("post_install", "-at_install")
class TestKioskCloudTours(KioskCloudCommon):
    """The kiosk in cloud mode: Chromium, this Odoo, the real agent process, the simulator."""


    def setUp(self):
        super().setUp()
        self.open_kiosk()
        self.control_port = self.agent_for_tours()

    def test_cloud_paid_at_the_drawer(self):
        with self.agent_stopped_after():
            self.run_tour("CashKeeperKioskCloudPaidTour", ck_agent=self.control_port)
        self.assertPaidOnce(self.env["pos.order"].search([("config_id", "=", self.kiosk.id)]))
