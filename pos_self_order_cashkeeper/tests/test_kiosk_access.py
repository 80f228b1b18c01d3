from datetime import timedelta

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from ..models.pos_cashkeeper_ticket import KIOSK_LINE, _Asked
from .common import KioskCloudCommon, KioskCommon


def _sent(sim, kind):
    return [r.line for r in sim.requests if r.line.startswith(kind)]


@tagged("post_install", "-at_install")
class TestKioskPayment(KioskCommon):
    """The kiosk's calls over HTTP, as its public page makes them, against the simulator."""

    def setUp(self):
        super().setUp()
        self.session = self.open_kiosk()

    def cash_after_cancel(self):
        """The customer cancels on the kiosk, then inserts the cash anyway; the watch cron sees it.
        Returns (the order, its ticket)."""
        answer, _error, order = self.kiosk_pay()
        self.kiosk_status(order, action="cancel")
        self.sim.pay(answer["ticket"])
        ticket = self.kiosk_tickets(order)
        self.age(ticket)
        self.env["pos.cashkeeper.ticket"]._cron_watch_open_tickets()
        self.assertEqual(ticket.state, "paid_after_abandon")
        return order, ticket

    def test_the_kiosk_offers_the_cashkeeper_and_nothing_of_the_drawer(self):
        data = self.kiosk.load_self_data()["pos.payment.method"]
        self.assertEqual([m["id"] for m in data["data"]], self.kiosk_method.ids)
        self.assertFalse([f for f in data["fields"] if f.startswith("cashkeeper_")])

    def test_paid_at_the_drawer_pays_the_order_once(self):
        answer, error, order = self.kiosk_pay()
        self.assertFalse(error)
        self.assertEqual((answer["state"], answer["final"], answer["amount"]), ("waiting", False, 4.2))
        ticket = self.kiosk_tickets(order)
        self.assertEqual((ticket.payment_uuid, ticket.config_id, ticket.amount),
                         (KIOSK_LINE + order.uuid, self.kiosk, 4.2))
        self.assertEqual(order.state, "draft")
        self.sim.pay(ticket.name)
        answer, error = self.kiosk_status(order)
        self.assertFalse(error)
        self.assertEqual(answer["state"], "paid")
        self.assertEqual(answer["order"]["pos.order"][0]["state"], "paid")  # for the confirmation page
        self.assertPaidOnce(order)
        # The kiosk asks again, or reloads: the same payment, nothing added.
        self.assertEqual(self.kiosk_status(order, with_order=True)[0]["state"], "paid")
        self.assertPaidOnce(order)
        self.assertEqual(len(_sent(self.sim, b"C|")), 1)

    def test_the_amount_is_the_orders_total_as_the_server_computes_it(self):
        data = {**self.order_data(), "amount_total": 0.01, "amount_paid": 4.2}  # what a forged kiosk says
        answer, _error, order = self.kiosk_pay(data)
        self.assertEqual((order.amount_total, answer["amount"]), (4.2, 4.2))
        self.assertEqual(self.kiosk_tickets(order).amount, 4.2)
        self.assertIn(b"|420|", _sent(self.sim, b"C|")[0])  # integer cents on the wire

    def test_a_reload_or_second_tap_resumes_the_ticket(self):
        answer, _error, order = self.kiosk_pay()
        again, _error, _order = self.kiosk_pay(self.order_data(order_uuid=order.uuid))
        self.assertEqual(again["ticket"], answer["ticket"])
        self.assertEqual(len(self.kiosk_tickets(order)), 1)
        self.assertEqual(len(_sent(self.sim, b"C|")), 1)

    def test_drawer_cancel_then_try_again_takes_a_new_ticket(self):
        answer, _error, order = self.kiosk_pay()
        self.sim.cancel(answer["ticket"])
        cancelled, _error = self.kiosk_status(order)
        self.assertEqual((cancelled["state"], cancelled["final"], cancelled["retry"]), ("cancelled", True, True))
        self.assertIn("Nothing was charged", cancelled["message"])
        again, _error, order = self.kiosk_pay(self.order_data(order_uuid=order.uuid))
        self.assertNotEqual(again["ticket"], answer["ticket"])
        self.sim.pay(again["ticket"])
        self.assertEqual(self.kiosk_status(order)[0]["state"], "paid")
        self.assertPaidOnce(order)

    def test_customer_cancels_then_the_drawer_pays_is_flagged_with_the_order(self):
        answer, _error, order = self.kiosk_pay()
        cancelled, error = self.kiosk_status(order, action="cancel")
        self.assertFalse(error)
        self.assertEqual(cancelled["state"], "abandoned")
        self.assertIn("press cancel on the cash machine", cancelled["message"])
        ticket = self.kiosk_tickets(order)
        self.sim.pay(ticket.name)  # the customer inserted the cash after all
        self.age(ticket)
        self.env["pos.cashkeeper.ticket"]._cron_watch_open_tickets()
        self.assertEqual(ticket.state, "paid_after_abandon")
        self.assertEqual(order.state, "draft")
        self.assertFalse(order.payment_ids)
        flagged = self.env["pos.cashkeeper.ticket"]._flag_no_order(grace=timedelta(0))
        self.assertEqual(flagged, ticket)
        self.assertEqual(ticket.pos_order_id, order)  # the manager sees which order it was for

    def test_customer_comes_back_after_a_late_payment_and_it_pays_the_order(self):
        order, _ticket = self.cash_after_cancel()
        again, error, order = self.kiosk_pay(self.order_data(order_uuid=order.uuid))
        self.assertEqual(again["state"], "paid", (again, error))
        self.assertPaidOnce(order)

    def test_cancel_after_the_drawer_took_the_cash_pays_the_order(self):
        answer, _error, order = self.kiosk_pay()
        self.sim.pay(answer["ticket"])
        cancelled, _error = self.kiosk_status(order, action="cancel")
        self.assertEqual(cancelled["state"], "paid")
        self.assertPaidOnce(order)

    def test_the_cron_pays_an_order_no_kiosk_follows_any_more(self):
        answer, _error, order = self.kiosk_pay()  # the kiosk's browser is gone after this
        self.sim.pay(answer["ticket"])
        self.age(self.kiosk_tickets(order))
        self.env["pos.cashkeeper.ticket"]._cron_watch_open_tickets()
        self.assertPaidOnce(order)

    def test_ckmonitor_down_says_so_without_its_address_and_charges_nothing(self):
        self.sim.inject("refuse")
        answer, error, order = self.kiosk_pay()
        self.assertFalse(error)
        self.assertEqual((answer["state"], answer["final"], answer["retry"]), ("new", True, True))
        self.assertIn("Nothing was charged", answer["message"])
        for secret in ("127.0.0.1", str(self.sim.port), "CKMonitor"):
            self.assertNotIn(secret, str(answer))
        self.assertEqual((order.state, order.payment_ids), ("draft", self.env["pos.payment"]))
        self.sim.clear_faults()
        self.cool_down()
        again, _error, order = self.kiosk_pay(self.order_data(order_uuid=order.uuid))  # Try again
        self.assertEqual((again["state"], again["ticket"]), ("waiting", answer["ticket"]))

    def test_one_customer_at_a_time_per_drawer(self):
        first, _error, first_order = self.kiosk_pay()
        second, _error, second_order = self.kiosk_pay()
        self.assertEqual(second["state"], "busy")
        self.assertIn(first["ticket"], second["message"])
        self.assertFalse(self.kiosk_tickets(second_order))
        self.assertEqual(len(_sent(self.sim, b"C|")), 1)
        self.kiosk_status(first_order, action="cancel")
        self.sim.cancel(first["ticket"])  # and on the drawer
        _Asked.at.clear()  # a moment later
        second, _error, second_order = self.kiosk_pay(self.order_data(order_uuid=second_order.uuid))
        self.assertEqual(second["state"], "waiting")

    def test_an_order_changed_after_its_ticket_started_waits_for_that_ticket(self):
        answer, _error, order = self.kiosk_pay()
        changed, _error, _order = self.kiosk_pay(self.order_data(qty=2, order_uuid=order.uuid))
        self.assertEqual(changed["state"], "busy")
        self.assertEqual(len(self.kiosk_tickets(order)), 1)

    def test_status_calls_reach_the_drawer_at_a_bounded_rate(self):
        _answer, _error, order = self.kiosk_pay()
        for _ in range(10):
            self.assertEqual(self.kiosk_status(order)[0]["state"], "waiting")
        self.assertLessEqual(len(_sent(self.sim, b"S|")), 6)  # 10 calls in well under 1.2 s

    def test_the_public_endpoints_want_the_kiosks_and_the_orders_tokens(self):
        _answer, _error, order = self.kiosk_pay()
        other_kiosk = self.make_kiosk(self.kiosk_method, name="Kiosk 2")
        self.open_kiosk(other_kiosk)
        _other, _error, other_order = self.kiosk_pay(kiosk=other_kiosk)
        mobile = self.env["pos.config"].create({
            "name": "Mobile", "self_ordering_mode": "mobile", "module_pos_restaurant": True,
            "self_ordering_default_user_id": self.pos_user.id,
            "payment_method_ids": [Command.set(self.make_cashkeeper_method(cashkeeper_port=self.sim.port + 1).ids)],
        })
        self.open_kiosk(mobile)
        asked = len(self.sim.requests)
        for action in ("status", "cancel"):
            cases = {
                "wrong kiosk token": {"access_token": "0" * 16},
                "no kiosk token": {"access_token": None},
                "a mobile self-order token": {"access_token": mobile.access_token},
                "wrong order token": {"order_access_token": "0" * 36},
                "empty order token": {"order_access_token": ""},
                "a number for a token": {"order_access_token": 12},
                "another kiosk's order": {"order_access_token": other_order.access_token},
                "this order with another kiosk's token": {"access_token": other_kiosk.access_token},
            }
            for case, params in cases.items():
                with self.subTest(action=action, case=case):
                    result, error = self.kiosk_status(order, action=action, **params)
                    self.assertIsNone(result)
                    self.assertTrue(error)
        self.assertEqual(len(self.sim.requests), asked)  # none reached the drawer

    def test_an_order_with_no_cash_payment_is_not_found(self):
        _answer, _error, order = self.kiosk_pay()
        self.kiosk_tickets(order).sudo().unlink()
        result, error = self.kiosk_status(order)
        self.assertIsNone(result)
        self.assertIn("No cash payment", error)

    def test_a_closed_kiosk_refuses(self):
        _answer, _error, order = self.kiosk_pay()
        self.session.write({"state": "closed", "stop_at": fields.Datetime.now()})
        result, error = self.kiosk_status(order)
        self.assertIsNone(result)
        self.assertTrue(error)

    def test_a_manager_puts_cash_taken_after_a_cancel_on_its_order(self):
        order, ticket = self.cash_after_cancel()
        with self.assertRaises(AccessError):
            ticket.with_user(self.pos_user).action_kiosk_pay_order()
        ticket.with_user(self.pos_admin).action_kiosk_pay_order()
        self.assertPaidOnce(order)
        with self.assertRaises(UserError):  # once
            ticket.with_user(self.pos_admin).action_kiosk_pay_order()

    def test_starts_reach_the_drawer_at_a_bounded_rate_too(self):
        _answer, _error, order = self.kiosk_pay()
        for _ in range(6):  # Odoo's kiosk route is public too: a loop of starts for one order
            again, _error, _order = self.kiosk_pay(self.order_data(order_uuid=order.uuid))
            self.assertEqual(again["state"], "waiting")
        self.assertLessEqual(len(_sent(self.sim, b"S|")), 4)
        self.assertEqual(len(_sent(self.sim, b"C|")), 1)

    def test_a_manager_cannot_put_cash_on_an_order_that_changed(self):
        order, ticket = self.cash_after_cancel()
        order.lines.qty = 2  # the order was changed at the counter meanwhile
        with self.assertRaisesRegex(UserError, "now comes to"):
            ticket.with_user(self.pos_admin).action_kiosk_pay_order()
        self.assertEqual((ticket.state, order.state), ("paid_after_abandon", "draft"))


@tagged("post_install", "-at_install")
class TestKioskCloudPayment(KioskCloudCommon):
    """Cloud mode without a browser: the agent's reports, as the agent sends them."""

    def setUp(self):
        super().setUp()
        self.open_kiosk()

    def test_an_agent_that_cannot_reach_ckmonitor_refuses_at_once(self):
        self.agent_rpc("poll", version="test", ckmonitor={"reachable": False, "endpoint": "127.0.0.1:1",
                                                           "message": "connection refused"})
        answer, error, order = self.kiosk_pay()
        self.assertEqual(answer["state"], "unavailable", error)
        self.assertIn("Nothing was charged", answer["message"])
        self.assertNotIn("127.0.0.1", str(answer))
        self.assertFalse(self.kiosk_tickets(order))

    def test_an_offline_agent_refuses_at_once(self):
        answer, error, order = self.kiosk_pay()  # the agent never connected
        self.assertEqual(answer["state"], "unavailable", error)
        self.assertFalse(self.kiosk_tickets(order))
