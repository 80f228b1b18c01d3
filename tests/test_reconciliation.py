from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import CashKeeperHttpCommon


@tagged("post_install", "-at_install")
class TestCashKeeperReconciliation(CashKeeperHttpCommon):
    """The manager's view of the ledger per session and day, and the warning when closing."""

    def setUp(self):
        super().setUp()
        self.pos_session = self.open_session()

    def settle(self, how, amount):
        result, _, line = self.start_payment(self.pos_session, amount)
        name = result["ticket"]
        if how == "pay":
            self.sim.pay(name)
        elif how == "cancel":
            self.sim.cancel(name)
        elif how == "abandon":
            self.status(self.pos_session, line, action="abandon")
            self.sim.pay(name)
            ticket = self.ticket(name)
            self.age(ticket)
            self.env["pos.cashkeeper.ticket"]._cron_watch_open_tickets()
            return ticket
        if how != "pending":
            self.status(self.pos_session, line)
        return self.ticket(name)

    def test_totals_by_state_per_session_and_day(self):
        self.settle("pay", 10)
        self.settle("pay", 5.5)
        self.settle("cancel", 7)
        self.settle("abandon", 3)
        action = self.env.ref("pos_cashkeeper.action_pos_cashkeeper_reconciliation")
        self.assertEqual(action.context, "{'group_by': ['session_id', 'create_date:day']}")
        groups = self.env["pos.cashkeeper.ticket"].read_group(
            [("session_id", "=", self.pos_session.id)], ["amount:sum"], ["session_id", "create_date:day", "state"],
            lazy=False)
        totals = {g["state"]: (g["__count"], g["amount"]) for g in groups}
        self.assertEqual(totals, {"paid": (2, 15.5), "cancelled": (1, 7), "paid_after_abandon": (1, 3)})
        self.assertEqual({g["session_id"][0] for g in groups}, {self.pos_session.id})

    def test_closing_warns_about_open_and_late_tickets(self):
        closing = self.pos_session.get_closing_control_data()["cashkeeper"]
        self.assertEqual((closing["warning"], closing["difference"]), (False, "$\xa00.00"))
        pending = self.settle("pending", 4)
        late = self.settle("abandon", 3)
        closing = self.pos_session.with_user(self.pos_user).get_closing_control_data()["cashkeeper"]
        self.assertIn(f"may still collect cash at the drawer ({pending.name})", closing["warning"])
        self.assertIn(f"collected $\xa03.00 that is on no order ({late.name})", closing["warning"])
        self.assertEqual((closing["collected"], closing["booked"], closing["difference"]),
                         ("$\xa03.00", "$\xa00.00", "$\xa03.00"))
        self.pos_session.invalidate_recordset(["cashkeeper_warning"])
        self.assertEqual(self.pos_session.cashkeeper_warning, closing["warning"])  # the backend session form too

    def test_ticket_links_to_its_order(self):
        ticket = self.settle("pay", 10)
        with self.assertRaisesRegex(UserError, "not in Odoo yet"):
            ticket.action_open_pos_order()
        order = self.env["pos.order"].create({
            "session_id": self.pos_session.id, "uuid": ticket.order_uuid, "amount_total": 10, "amount_tax": 0,
            "amount_paid": 0, "amount_return": 0, "company_id": self.pos_session.company_id.id,
        })
        ticket.invalidate_recordset(["pos_order_id"])
        self.assertEqual(ticket.action_open_pos_order()["res_id"], order.id)
