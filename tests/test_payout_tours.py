from odoo.tests import tagged

from .common import CashKeeperHttpCommon


@tagged("post_install", "-at_install")
class TestCashKeeperPayoutTours(CashKeeperHttpCommon):
    """Refunds paid out at the drawer, in headless Chromium: a sale for cash, then its refund on
    the CashKeeper."""

    def assertPaidOutOnce(self, entry, confirmed_by):
        self.assertEqual(len(entry), 1)
        self.assertRecordValues(entry, [{"purpose": "payout", "state": "paid_out", "amount": -1.98,
                                         "user_id": self.pos_user.id, "confirmed_by": confirmed_by.id}])
        refund = entry.pos_payment_id.pos_order_id
        self.assertEqual((refund.state, refund.amount_total, entry.pos_payment_id.amount), ("paid", -1.98, -1.98))
        self.assertTrue(refund.refunded_order_id)
        self.assertFalse(self.sim.requests)  # CKFast has no payout: nothing was sent to the drawer
        figures = refund.session_id._cashkeeper_figures()
        self.assertEqual((figures["paid_out"], figures["booked"], figures["difference"]), (1.98, -1.98, 0))

    def test_a_refund_paid_out_and_confirmed_by_the_cashier(self):
        self.cashkeeper_method.cashkeeper_payouts = True
        self.assertPaidOutOnce(self.run_pos_tour("CashKeeperPayoutTour"), self.pos_user)

    def test_a_refund_is_refused_when_the_method_does_not_pay_out(self):
        self.assertFalse(self.run_pos_tour("CashKeeperPayoutRefusedTour"))
        refund = self.env["pos.order"].search([("config_id", "=", self.main_pos_config.id),
                                               ("amount_total", "<", 0)])
        self.assertEqual((refund.state, refund.payment_ids.payment_method_id.is_cash_count), ("paid", True))

    def test_a_refund_confirmed_by_a_manager(self):
        self.cashkeeper_method.write({"cashkeeper_payouts": True, "cashkeeper_payout_by_manager": True})

        def manager_confirms(env):  # in Odoo's backend, the form's Confirm payout button
            env["pos.cashkeeper.ticket"].search([("state", "=", "payout_waiting")]).action_cashkeeper_confirm_payout()

        # While the cashier's POS waits for the payout, a POS manager confirms it.
        confirmed = self.after_call("pos.cashkeeper.ticket", "_payout_declare", manager_confirms,
                                    user=self.pos_admin.id)
        self.assertPaidOutOnce(self.run_pos_tour("CashKeeperPayoutManagerTour"), self.pos_admin)
        self.assertTrue(confirmed.is_set())
