from datetime import timedelta

from odoo.tests import tagged

from .common import CashKeeperHttpCommon


@tagged("post_install", "-at_install")
class TestCashKeeperTours(CashKeeperHttpCommon):
    """The cashier's flow in headless Chromium, against the simulator over TCP."""

    def test_paid_at_the_drawer(self):
        tickets = self.run_pos_tour("CashKeeperPaidTour")
        self.assertPaidOnce(tickets)

    def test_cancelled_at_the_drawer(self):
        tickets = self.run_pos_tour("CashKeeperDrawerCancelTour")
        self.assertEqual(tickets.mapped("state"), ["cancelled"])

    def test_ckmonitor_down_at_start_then_retry(self):
        self.sim.inject("reset", count=3)  # every attempt of the first start fails, then it is back
        tickets = self.run_pos_tour("CashKeeperDownTour")
        self.assertPaidOnce(tickets)
        self.assertEqual(tickets.attempts, 2)

    def test_reload_mid_payment_resumes_the_ticket(self):
        tickets = self.run_pos_tour("CashKeeperReloadTour")
        self.assertPaidOnce(tickets)
        creates = [r for r in self.sim.requests if r.line.startswith(b"C|")]
        self.assertEqual(len(creates), 1)

    def test_cashier_cancels_then_drawer_pays_is_flagged(self):
        tickets = self.run_pos_tour("CashKeeperAbandonTour")
        self.assertEqual(tickets.state, "abandoned")
        order = self.env["pos.order"].search([("uuid", "=", tickets.order_uuid)])
        self.assertEqual(order.payment_ids.payment_method_id, self.bank_payment_method)
        self.age(tickets)
        self.env["pos.cashkeeper.ticket"]._cron_watch_open_tickets()
        self.assertEqual(tickets.state, "paid_after_abandon")

    def test_paid_after_cancel_stays_on_the_line_and_retry_takes_it(self):
        tickets = self.run_pos_tour("CashKeeperLateRetryTour")
        self.assertPaidOnce(tickets)

    def test_double_click_on_the_payment_method_makes_one_ticket(self):
        tickets = self.run_pos_tour("CashKeeperDoubleClickTour")
        self.assertPaidOnce(tickets)

    def test_browser_offline_while_polling_then_back_completes_once(self):
        """The POS loses Odoo while the drawer waits; the customer pays meanwhile; when the
        network is back the line completes with that same ticket."""
        tickets = self.run_pos_tour("CashKeeperOfflineTour")
        self.assertPaidOnce(tickets)

    def test_an_order_holding_collected_cash_cannot_be_deleted(self):
        self.main_pos_config.auto_validate_terminal_payment = False
        tickets = self.run_pos_tour("CashKeeperDeleteCollectedOrderTour")
        self.assertPaidOnce(tickets)

    def test_a_forged_amount_is_refused_and_the_order_kept(self):
        """A cashier with the browser's dev tools open changes a paid CashKeeper line's amount:
        Odoo refuses the order, the POS says so and keeps it; the drawer's cash is not booked."""
        self.main_pos_config.auto_validate_terminal_payment = False
        tickets = self.run_pos_tour("CashKeeperForgedAmountTour")
        self.assertEqual(tickets.state, "paid")
        self.assertFalse(self.env["pos.payment"].search([("payment_method_id", "=", self.cashkeeper_method.id)]))
        # The refused order is kept unpaid with the reason; the till's next orders synced anyway.
        orders = self.env["pos.order"].search([("config_id", "=", self.main_pos_config.id)], order="id")
        refused = orders.filtered("cashkeeper_refusal")
        self.assertEqual(refused.mapped("uuid"), [tickets.order_uuid])
        self.assertEqual(refused.state, "draft")
        self.assertIn("was not saved as paid", refused.cashkeeper_refusal)
        self.assertEqual((orders - refused).mapped("state"), ["paid", "paid"])
        self.assertIn("CashKeeper refused an order", refused.session_id.message_ids[0].body)
        self.env["pos.cashkeeper.ticket"]._flag_no_order(grace=timedelta(0))
        self.assertTrue(tickets.on_no_order)  # the drawer's 1.98 is on no order: the manager is told

    def round_cash(self, only_cash=True, auto_validate=True):
        rounding = self.env["account.cash.rounding"].create({
            "name": "0.05", "rounding": 0.05, "rounding_method": "HALF-UP", "strategy": "add_invoice_line",
            "profit_account_id": self.company_data["default_account_revenue"].id,
            "loss_account_id": self.company_data["default_account_expense"].id,
        })
        self.main_pos_config.write({"cash_rounding": True, "rounding_method": rounding.id,
                                    "only_round_cash_method": only_cash,
                                    "auto_validate_terminal_payment": auto_validate})

    def test_cash_rounding_applies_to_the_drawer_and_the_order_validates_by_itself(self):
        self.round_cash(only_cash=True)
        tickets = self.run_pos_tour("CashKeeperRoundedTour")
        self.assertPaidOnce(tickets)
        self.assertEqual(tickets.amount, 2.0)  # Desk Pad 1.98, rounded like cash
        self.assertEqual((tickets.pos_order_id.amount_total, tickets.pos_order_id.amount_paid), (1.98, 2.0))

    def test_cash_rounding_of_every_method_validates_by_itself_too(self):
        self.round_cash(only_cash=False)
        tickets = self.run_pos_tour("CashKeeperRoundedTour")
        self.assertPaidOnce(tickets)
        self.assertEqual(tickets.amount, 2.0)

    def test_cash_rounding_without_auto_validation_waits_for_validate(self):
        self.round_cash(auto_validate=False)
        tickets = self.run_pos_tour("CashKeeperRoundedManualTour")
        self.assertPaidOnce(tickets)

    def test_spanish_cashier(self):
        """One sale through the drawer with the cashier's Odoo in Spanish (i18n/es.po)."""
        self.env["res.lang"]._activate_lang("es_ES")
        self.env["ir.module.module"]._load_module_terms(["point_of_sale", "pos_cashkeeper"], ["es_ES"])
        self.pos_user.lang = "es_ES"
        tickets = self.run_pos_tour("CashKeeperSpanishTour")
        self.assertPaidOnce(tickets)
