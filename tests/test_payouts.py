"""Refunds paid out at the drawer: the setting, the cashier's declaration, a manager's
confirmation, and the books (a payout backs the refund's payment one to one; closing figures)."""

import uuid
from datetime import timedelta

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .test_books import BooksCase


@tagged("post_install", "-at_install")
class TestCashKeeperPayouts(BooksCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cashkeeper_method.write({"cashkeeper_payouts": True})

    def payout(self, amount=-4.0, payment_uuid=None, confirmed=True, login="pos_user", **params):
        """As the POS asks to pay a refund line out: (result, error, payment line uuid)."""
        payment_uuid = payment_uuid or str(uuid.uuid4())
        self.line_orders.setdefault(payment_uuid, params.pop("order_uuid", None) or str(uuid.uuid4()))
        result, error = self.ck_rpc(
            "payout", login=login, payment_method_id=self.cashkeeper_method.id, session_id=self.pos_session.id,
            payment_uuid=payment_uuid, amount=amount, order_uuid=self.line_orders[payment_uuid],
            order_ref="Shop/0007 REFUND", confirmed=confirmed, **params)
        return result, error, payment_uuid

    def refund_data(self, amount, line):
        return self.order_data([self.ck(amount, line)], order_uuid=self.line_orders[line])

    def test_refused_with_what_to_do_when_off(self):
        self.cashkeeper_method.cashkeeper_payouts = False
        for confirmed in (False, True):
            result, error, _line = self.payout(confirmed=confirmed)
            self.assertIn("does not pay out refunds: refund with another payment method", error)
        # A collection start with a negative amount is refused as before.
        self.assertIn("cannot pay out refunds", self.start_payment(self.pos_session, -4)[1])
        self.assertFalse(self.env["pos.cashkeeper.ticket"].search([("purpose", "=", "payout")]))

    def test_the_cashier_declares_it_and_the_books_hold_it(self):
        name, sale_line, sale_order = self.paid_line(10)
        self.sync(self.order_data([self.ck(10, sale_line)], order_uuid=sale_order))
        # First the rules and what to do: nothing recorded, nothing sent to the drawer.
        requests = len(self.sim.requests)
        check, error, line = self.payout(-4, confirmed=False)
        self.assertFalse(error)
        self.assertFalse(check["ticket"])
        self.assertIn("Pay out $\xa04.00 to the customer at the CashKeeper", check["message"])
        self.assertFalse(self.env["pos.cashkeeper.ticket"].search([("payment_uuid", "=", line)]))
        # The cashier paid it out and confirms; a second confirmation (double tap, reload) resumes it.
        result, error, _line = self.payout(-4, payment_uuid=line)
        self.assertFalse(error)
        self.assertEqual((result["state"], result["final"], result["amount"]), ("paid_out", True, -4))
        self.assertEqual(self.payout(-4, payment_uuid=line)[0]["ticket"], result["ticket"])
        self.assertEqual(self.status(self.pos_session, line)[0]["state"], "paid_out")
        self.assertEqual(len(self.sim.requests), requests)  # CKFast has no payout: nothing sent
        entry = self.ticket(result["ticket"])
        self.assertRecordValues(entry, [{"purpose": "payout", "user_id": self.pos_user.id, "amount": -4,
                                         "confirmed_by": self.pos_user.id, "order_ref": "Shop/0007 REFUND"}])
        self.assertIn("declared by the cashier, not confirmed by the drawer", entry.message_ids[0].body)
        # Its refund order is saved and bound one to one; the figures: collected - paid out = books.
        self.assertFalse(self.refused(self.refund_data(-4, line)))
        self.assertEqual(entry.pos_payment_id.pos_order_id, self.order(self.line_orders[line]))
        self.assertRecordValues(entry, [{"amount_paid_out": 4, "amount_booked": -4, "amount_difference": 0}])
        self.assertEqual(self.pos_session._cashkeeper_figures(),
                         {"collected": 10, "paid_out": 4, "net": 6, "booked": 6, "difference": 0})
        closing = self.pos_session.get_closing_control_data()["cashkeeper"]
        self.assertIn("paid out $\xa04.00 (declared), net $\xa06.00", closing["summary"])
        self.pos_session._cashkeeper_check_books()  # the closing gate lets it through

    def test_cash_rounding_applies_to_a_payout_and_says_so(self):
        self.round_cash_to_5_cents()
        _result, error, line = self.payout(-1.98)
        self.assertIn("the CashKeeper can pay out $\xa02.00, not $\xa01.98", error)
        self.assertFalse(self.env["pos.cashkeeper.ticket"].search([("payment_uuid", "=", line)]))
        self.assertEqual(self.payout(-2.0, payment_uuid=line)[0]["state"], "paid_out")

    def test_a_payout_backs_one_refund_of_its_amount(self):
        _result, _error, line = self.payout(-4)
        cases = {  # the refund's payments: what the cashier is told
            "another amount": ([self.ck(-5, line)], "was declared for"),
            "no payout at all": ([self.ck(-4, str(uuid.uuid4()))], "no CashKeeper ticket was started"),
            "twice on the refund": ([self.ck(-4, line), self.ck(-4, line)], "already backs another payment"),
        }
        # Later 18.0 builds refuse two payments with one uuid themselves (a unique constraint):
        # there, the books are never asked.
        self.env.cr.execute("SELECT 1 FROM pg_constraint WHERE conname = 'pos_payment_uuid_unique'")
        unique_uuids = bool(self.env.cr.fetchone())
        for case, (payments, reason) in cases.items():
            with self.subTest(case):
                data = self.order_data(payments, order_uuid=self.line_orders[line])
                if case == "twice on the refund" and unique_uuids:
                    with mute_logger("odoo.sql_db", "odoo.http"):
                        self.assertIn("A payment with this uuid already exists", self.sync(data)[1])
                    continue
                self.assertIn(reason, self.refused(data)[data["uuid"]])
        # Another order claiming the payout, and a paid sale ticket claimed by a refund payment.
        other = self.order_data([self.ck(-4, line)])
        self.assertIn("was started for another order", self.refused(other)[other["uuid"]])
        _name, sale_line, sale_order = self.paid_line(4)
        data = self.order_data([self.ck(-4, sale_line)], order_uuid=sale_order)
        self.assertIn("the drawer collected $\xa04.00", self.refused(data)[sale_order])
        # A payout line cannot be started as a collection, nor a positive amount paid out.
        self.assertIn("already has CashKeeper ticket", self.start_payment(self.pos_session, 4, payment_uuid=line)[1])
        self.assertIn("is a negative amount", self.payout(4)[1])
        self.assertIn("has more decimals", self.payout(-4.001)[1])

    def test_a_payout_on_no_refund_is_flagged_and_its_order_kept(self):
        _result, _error, line = self.payout(-3)
        entry = self.env["pos.cashkeeper.ticket"].search([("payment_uuid", "=", line)])
        self.assertFalse(self.env["pos.cashkeeper.ticket"]._flag_no_order(grace=timedelta(minutes=10)))
        self.assertEqual(self.env["pos.cashkeeper.ticket"]._flag_no_order(grace=timedelta(0)), entry)
        warning = self.pos_session._cashkeeper_closing_warning()
        self.assertIn("1 payout(s) of $\xa03.00 are on no refund", warning)
        self.assertEqual(self.pos_session._cashkeeper_figures()["difference"], -3)
        # The refund synced late clears the flag; then it cannot be cancelled or deleted.
        self.assertFalse(self.refused(self.refund_data(-3, line)))
        self.assertFalse(entry.on_no_order)
        with self.assertRaises(UserError) as refused:
            self.order(self.line_orders[line]).action_pos_order_cancel()
        self.assertIn("holds cash the CashKeeper paid out or collected", str(refused.exception))

    def test_a_manager_confirms_where_the_method_says_so(self):
        self.cashkeeper_method.cashkeeper_payout_by_manager = True
        check, _error, line = self.payout(-6, confirmed=False)
        self.assertIn("A POS manager then confirms it", check["message"])
        result, _error, _line = self.payout(-6, payment_uuid=line)
        self.assertEqual((result["state"], result["final"]), ("payout_waiting", False))
        self.assertIn("waits for a POS manager", result["message"])
        entry = self.ticket(result["ticket"])
        # Not confirmed yet: the refund is kept unpaid, and the closing says a payout waits.
        data = self.refund_data(-6, line)
        self.assertIn("is not confirmed", self.refused(data)[data["uuid"]])
        self.assertIn("1 payout(s) wait for a manager", self.pos_session._cashkeeper_closing_warning())
        with self.assertRaises(AccessError):
            entry.with_user(self.pos_user).action_cashkeeper_confirm_payout()
        entry.with_user(self.pos_admin).action_cashkeeper_confirm_payout()
        self.assertRecordValues(entry, [{"state": "paid_out", "confirmed_by": self.pos_admin.id,
                                         "user_id": self.pos_user.id}])
        self.assertEqual(self.status(self.pos_session, line)[0]["state"], "paid_out")
        self.assertFalse(self.refused(self.refund_data(-6, line)))
        self.assertEqual(entry.pos_payment_id.amount, -6)
        # A manager at the till: their own declaration counts as confirmed.
        self.authenticate("pos_admin", "pos_admin")
        own, error, _line = self.payout(-2, login="pos_admin")
        self.assertEqual(own["state"], "paid_out")

    def test_a_waiting_payout_can_be_withdrawn_or_refused(self):
        self.cashkeeper_method.cashkeeper_payout_by_manager = True
        _result, _error, line = self.payout(-5)
        withdrawn = self.status(self.pos_session, line, action="abandon")[0]
        self.assertEqual(withdrawn["state"], "payout_cancelled")
        self.assertIn("withdrawn by the cashier", withdrawn["message"])
        result, _error, other = self.payout(-5)
        entry = self.ticket(result["ticket"])
        entry.with_user(self.pos_admin).action_cashkeeper_refuse_payout()
        self.assertEqual(entry.state, "payout_cancelled")
        self.assertIn("refused by", self.status(self.pos_session, other)[0]["message"])
        with self.assertRaises(UserError):
            entry.with_user(self.pos_admin).action_cashkeeper_confirm_payout()  # nothing waits any more
        self.assertEqual(self.pos_session._cashkeeper_figures()["paid_out"], 0)
