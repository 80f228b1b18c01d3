from odoo import Command
from odoo.tests import tagged

from .common_agent import CashKeeperAgentCommon


@tagged("post_install", "-at_install")
class TestCashKeeperCloudTours(CashKeeperAgentCommon):
    """Cloud mode end to end: the POS in Chromium, this Odoo, the real agent process (agent/)
    connecting to it with its API key, and the simulator as the shop's CKMonitor."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Only the cloud method on the till, so "CashKeeper" names it alone.
        cls.main_pos_config.write({"payment_method_ids": [Command.unlink(cls.cashkeeper_method.id)]})

    def setUp(self):
        super().setUp()
        self.control_port = self.agent_for_tours()

    def run_tour(self, name):
        with self.agent_stopped_after():
            return self.run_pos_tour(name, ck_agent=self.control_port)

    def assertPaidOnce(self, tickets):
        super().assertPaidOnce(tickets, self.cloud_method, creates=1)

    def test_cloud_paid_at_the_drawer(self):
        tickets = self.run_tour("CashKeeperCloudPaidTour")
        self.assertPaidOnce(tickets)
        log = self.agent_process.log()
        self.assertIn(tickets.name, log)
        self.assertNotIn(self.agent_key, log)  # the key is never logged

    def test_cloud_cancelled_at_the_drawer(self):
        tickets = self.run_tour("CashKeeperCloudDrawerCancelTour")
        self.assertEqual(tickets.mapped("state"), ["cancelled"])

    def test_cloud_agent_stopped_mid_payment_then_restarted_completes_once(self):
        tickets = self.run_tour("CashKeeperCloudAgentRestartTour")
        self.assertPaidOnce(tickets)
        self.assertEqual(tickets.attempts, 1)
        self.agent.invalidate_recordset()
        self.assertEqual(self.agent.status, "offline")  # stopped gracefully at the end of the tour

    def test_cloud_refund_paid_out_at_the_drawer(self):
        """In cloud mode too, a refund is declared in the POS, never sent to the agent."""
        self.cloud_method.cashkeeper_payouts = True
        entry = self.run_tour("CashKeeperCloudPayoutTour")
        self.assertRecordValues(entry, [{"purpose": "payout", "state": "paid_out", "amount": -1.98}])
        self.assertEqual((entry.pos_payment_id.amount, entry.pos_payment_id.pos_order_id.state), (-1.98, "paid"))
        self.assertFalse([r for r in self.sim.requests if entry.name.encode() in r.line])  # its health check only
        self.assertNotIn(entry.name, self.agent_process.log())
