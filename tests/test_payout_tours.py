import threading

from odoo import api
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
        confirmed = self.manager_confirms_when_asked()
        self.assertPaidOutOnce(self.run_pos_tour("CashKeeperPayoutManagerTour"), self.pos_admin)
        self.assertTrue(confirmed.is_set())

    def manager_confirms_when_asked(self):
        """A POS manager, in Odoo's backend, confirms the payout that waits for one (the form's
        Confirm payout button), while the cashier's POS waits."""
        asked, confirmed, stop = threading.Event(), threading.Event(), threading.Event()
        tickets = self.registry["pos.cashkeeper.ticket"]
        declare = tickets._payout_declare

        def declare_and_tell(ticket, *args, **kwargs):
            entry = declare(ticket, *args, **kwargs)
            asked.set()
            return entry

        self.patch(tickets, "_payout_declare", declare_and_tell)

        def manager():
            # The test's own cursor is shared, unlocked, by this thread and the test's: look only
            # once the cashier has declared, inside a request (the test then only waits for the
            # browser); the cursor below waits for that request to end.
            while not asked.wait(0.3):
                if stop.is_set():
                    return
            with self.registry.cursor() as cr:
                env = api.Environment(cr, self.pos_admin.id, {})
                waiting = env["pos.cashkeeper.ticket"].search([("state", "=", "payout_waiting")])
                waiting.action_cashkeeper_confirm_payout()
                confirmed.set()

        thread = threading.Thread(target=manager, daemon=True)
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(stop.set)
        return confirmed
