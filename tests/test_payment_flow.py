from odoo import Command
from odoo.tests import new_test_user, tagged

from .common import CashKeeperHttpCommon


@tagged("post_install", "-at_install")
class TestCashKeeperPaymentFlow(CashKeeperHttpCommon):
    """Ledger + controller against the simulator over TCP, as the POS calls them."""

    def setUp(self):
        super().setUp()
        self.pos_session = self.open_session()

    def test_happy_path_queued_pending_paid(self):
        result, error, line = self.start_payment(self.pos_session, 12.34)
        self.assertFalse(error)
        self.assertEqual(result["state"], "queued")
        name = result["ticket"]
        self.assertRegex(name, r"^K[0-9A-Z]{7,14}$")
        self.assertEqual(self.sim.requests[0].line, f"C|{name}|1234||1|TPV1||efectivo\r\n".encode())
        ticket = self.ticket(name)
        self.assertRecordValues(ticket, [{
            "state": "queued", "amount": 12.34, "request": f"C|{name}|1234||1|TPV1||efectivo", "payment_uuid": line,
            "session_id": self.pos_session.id, "config_id": self.main_pos_config.id, "attempts": 1,
            "last_reply": "OK|Added", "order_ref": "Shop/0001",
        }])
        self.assertEqual(self.status(self.pos_session, line)[0]["state"], "pending")
        self.sim.pay(name)
        result, _ = self.status(self.pos_session, line)
        self.assertEqual((result["state"], result["final"]), ("paid", True))
        self.assertEqual(ticket.state, "paid")
        self.assertTrue(ticket.settled_at)
        tracked = ticket.message_ids.tracking_value_ids.mapped("new_value_char")
        self.assertIn("Paid", tracked)  # each state change is kept in the chatter

    def test_starting_twice_resumes_the_same_ticket(self):
        first, _, line = self.start_payment(self.pos_session)
        again, _, _ = self.start_payment(self.pos_session, payment_uuid=line)
        self.assertEqual(again["ticket"], first["ticket"])
        self.assertEqual(len(self.env["pos.cashkeeper.ticket"].search([("payment_uuid", "=", line)])), 1)
        self.assertEqual(list(self.sim.tickets()), [first["ticket"]])
        self.assertEqual([r.line[:1] for r in self.sim.requests], [b"C", b"S"])  # resume asks, never re-creates

    def test_paid_line_started_again_stays_paid(self):
        first, _, line = self.start_payment(self.pos_session)
        self.sim.pay(first["ticket"])
        self.status(self.pos_session, line)
        again, _, _ = self.start_payment(self.pos_session, payment_uuid=line)
        self.assertEqual((again["ticket"], again["state"]), (first["ticket"], "paid"))
        self.assertEqual(len(self.sim.tickets()), 1)

    def test_cancelled_at_drawer_then_retry_uses_a_new_ticket(self):
        first, _, line = self.start_payment(self.pos_session)
        self.sim.cancel(first["ticket"])
        result, _ = self.status(self.pos_session, line)
        self.assertEqual(result["state"], "cancelled")
        self.assertIn("cancelled on the CashKeeper", result["message"])
        retry, _, _ = self.start_payment(self.pos_session, payment_uuid=line)
        self.assertNotEqual(retry["ticket"], first["ticket"])
        self.assertEqual(retry["state"], "queued")

    def test_ckmonitor_down_at_start_then_back_resends_the_same_ticket(self):
        self.sim.inject("refuse")
        result, error, line = self.start_payment(self.pos_session)
        self.assertFalse(error)
        self.assertEqual((result["state"], result["final"]), ("new", False))
        self.assertIn(f"Cannot reach the CashKeeper (CKMonitor at 127.0.0.1:{self.sim.port}: connection refused)",
                      result["message"])
        self.assertEqual(self.sim.tickets(), {})
        self.sim.clear_faults()
        retry, _, _ = self.start_payment(self.pos_session, payment_uuid=line)
        self.assertEqual((retry["ticket"], retry["state"], retry["attempts"]), (result["ticket"], "queued", 2))
        self.assertEqual(list(self.sim.tickets()), [result["ticket"]])

    def test_lost_reply_to_create_is_resent_and_queued_once(self):
        self.sim.inject("close", count=1)  # CKMonitor queued it but the reply was lost
        result, _, _ = self.start_payment(self.pos_session)
        self.assertEqual(result["state"], "queued")
        self.assertEqual(len(self.sim.tickets()), 1)
        self.assertEqual(self.ticket(result["ticket"]).last_reply, "NOK Already exists")

    def test_timeout_on_create_then_retry_finds_it_queued(self):
        self.sim.inject("silent", count=3)  # every attempt of the first start times out
        result, _, line = self.start_payment(self.pos_session)
        self.assertEqual(result["state"], "new")
        self.assertIn("did not answer in 1 s", result["message"])
        self.assertEqual(len(self.sim.tickets()), 1)  # ... though CKMonitor did queue it
        self.cool_down()
        retry, _, _ = self.start_payment(self.pos_session, payment_uuid=line)
        self.assertEqual((retry["ticket"], retry["state"]), (result["ticket"], "queued"))
        self.assertEqual(len(self.sim.tickets()), 1)

    def test_garbage_on_status_keeps_the_ticket_open_with_a_warning(self):
        first, _, line = self.start_payment(self.pos_session)
        self.sim.inject("garbage", count=1)
        result, _ = self.status(self.pos_session, line)
        self.assertEqual((result["state"], result["final"]), ("queued", False))
        self.assertIn("answered something unexpected", result["message"])
        self.sim.pay(first["ticket"])
        self.assertEqual(self.status(self.pos_session, line)[0]["state"], "paid")

    def test_faults_while_polling_keep_the_ticket_open_then_it_settles(self):
        """Every CKMonitor fault during polling leaves the ticket open (never paid, never
        dropped) with a warning; once CKMonitor answers again, OK|OK completes it."""
        first, _, line = self.start_payment(self.pos_session)
        for fault in ("refuse", "reset", "close", "delay", "garbage", "half", "silent"):
            with self.subTest(fault=fault):
                self.sim.clear_faults()
                self.cool_down()
                self.sim.inject(fault, seconds=1.5)
                result, _ = self.status(self.pos_session, line)
                self.assertEqual((result["state"], result["final"]), ("queued", False))
                self.assertTrue(result["message"])
        self.sim.clear_faults()
        self.cool_down()
        self.sim.pay(first["ticket"])
        result, _ = self.status(self.pos_session, line)
        self.assertEqual((result["state"], result["message"]), ("paid", False))
        self.assertEqual(list(self.sim.tickets()), [first["ticket"]])

    def test_drawer_pays_while_odoo_is_away_and_the_next_status_call_finds_it(self):
        """Nothing in the ledger depends on the HTTP session or the process: a new login (as
        after an Odoo restart) asking about the line gets the payment made meanwhile."""
        first, _, line = self.start_payment(self.pos_session)
        self.sim.pay(first["ticket"])
        self.authenticate(None, None)
        result, _ = self.status(self.pos_session, line)
        self.assertEqual(result["state"], "paid")

    def test_unreachable_during_polling_is_not_paid_nor_dropped(self):
        first, _, line = self.start_payment(self.pos_session)
        self.sim.inject("refuse")
        result, _ = self.status(self.pos_session, line)
        self.assertEqual((result["state"], result["final"]), ("queued", False))
        self.assertIn("Cannot reach the CashKeeper", result["message"])

    def test_not_found_for_a_queued_ticket_is_an_anomaly(self):
        _, _, line = self.start_payment(self.pos_session)
        self.sim.forget()  # CKMonitor restarted and lost its queue
        result, _ = self.status(self.pos_session, line)
        self.assertEqual((result["state"], result["final"]), ("anomaly", True))
        self.assertIn("no longer knows ticket", result["message"])

    def test_refused_id_fails_without_collecting(self):
        self.sim.ticket_id_max_len = 4
        try:
            result, _, _ = self.start_payment(self.pos_session)
        finally:
            self.sim.ticket_id_max_len = 20
        self.assertEqual((result["state"], result["final"]), ("failed", True))
        self.assertIn("NOK Invalid ID", result["message"])
        self.assertIn("Nothing was collected", result["message"])

    def test_cashier_cancel_while_pending_then_drawer_pays_is_flagged(self):
        first, _, line = self.start_payment(self.pos_session)
        result, _ = self.status(self.pos_session, line, action="abandon")
        self.assertEqual(result["state"], "abandoned")
        self.sim.pay(first["ticket"])
        ticket = self.ticket(first["ticket"])
        self.age(ticket)  # the cron watches tickets nobody polled lately
        self.assertEqual(self.env["pos.cashkeeper.ticket"]._cron_watch_open_tickets(), 1)
        self.assertEqual(ticket.state, "paid_after_abandon")

    def test_once_abandoned_only_the_lines_retry_takes_a_late_payment(self):
        """After the cancel answered "abandoned", a later OK|OK is paid after abandon whoever asks
        (the cashier removing the line, a poll that was in flight); the line's Retry takes it."""
        first, _, line = self.start_payment(self.pos_session)
        self.assertEqual(self.status(self.pos_session, line, action="abandon")[0]["state"], "abandoned")
        self.sim.pay(first["ticket"])
        result, _ = self.status(self.pos_session, line, action="abandon")  # the cashier removes the line
        self.assertEqual(result["state"], "paid_after_abandon")
        self.assertIn("Press Retry", result["message"])
        again, _, _ = self.start_payment(self.pos_session, 12.34, payment_uuid=line)  # Retry
        self.assertEqual((again["ticket"], again["state"]), (first["ticket"], "paid"))

    def test_status_poll_in_flight_across_the_cancel_cannot_make_it_paid(self):
        """The interleaving: a poll reads the ticket pending and asks a slow drawer; the cashier's
        cancel commits "abandoned"; the drawer answers OK|OK; the poll's write conflicts and Odoo
        retries the whole request, which now starts from the abandoned ticket. Replayed here step
        by step: the retried poll must say paid after abandon, never plain paid."""
        first, _, line = self.start_payment(self.pos_session)
        self.assertEqual(self.status(self.pos_session, line)[0]["state"], "pending")  # the poll's first read
        self.assertEqual(self.status(self.pos_session, line, action="abandon")[0]["state"], "abandoned")
        self.sim.pay(first["ticket"])
        retried, _ = self.status(self.pos_session, line)  # the poll, retried after its conflict
        self.assertEqual(retried["state"], "paid_after_abandon")
        self.assertEqual(self.ticket(first["ticket"]).state, "paid_after_abandon")

    def test_cancel_of_a_line_that_never_started_a_ticket(self):
        result, error = self.status(self.pos_session, "1234-never-started", action="abandon")
        self.assertEqual((result["state"], result["ticket"], error), ("none", False, None))
        self.assertEqual(self.sim.requests, [])

    def test_cashier_cancel_when_already_paid_completes_instead(self):
        first, _, line = self.start_payment(self.pos_session)
        self.sim.pay(first["ticket"])
        result, _ = self.status(self.pos_session, line, action="abandon")
        self.assertEqual(result["state"], "paid")

    def test_cancel_before_ckmonitor_confirmed_leaves_it_to_the_cron(self):
        """The create may still be in flight: a cancel sends nothing and does not finalise the
        ticket; the cron later finds CKMonitor never got it (failed) or watches it."""
        self.sim.inject("refuse")
        result, _, line = self.start_payment(self.pos_session)
        self.sim.clear_faults()
        cancelled, _ = self.status(self.pos_session, line, action="abandon")
        self.assertEqual(cancelled["state"], "abandoned")
        self.assertEqual(self.sim.requests, [])
        ticket = self.ticket(result["ticket"])
        self.age(ticket)
        self.env["pos.cashkeeper.ticket"]._cron_watch_open_tickets()
        self.assertEqual(ticket.state, "failed")
        self.assertEqual(self.sim.tickets(), {})

    def test_late_payment_flagged_by_the_cron_completes_the_line_on_retry(self):
        first, _, line = self.start_payment(self.pos_session, 7.5)
        self.status(self.pos_session, line, action="abandon")
        self.sim.pay(first["ticket"])
        ticket = self.ticket(first["ticket"])
        self.age(ticket)
        self.env["pos.cashkeeper.ticket"]._cron_watch_open_tickets()
        self.assertEqual(ticket.state, "paid_after_abandon")
        again, _, _ = self.start_payment(self.pos_session, 7.5, payment_uuid=line)  # the cashier presses Retry
        self.assertEqual((again["ticket"], again["state"], again["amount"]), (first["ticket"], "paid", 7.5))
        self.assertEqual(len(self.sim.tickets()), 1)

    def test_cron_keeps_watching_when_one_method_is_broken(self):
        first, _, line = self.start_payment(self.pos_session)
        broken = self.make_cashkeeper_method(name="Broken drawer")
        other = self.env["pos.cashkeeper.ticket"].sudo().create({
            "name": "KBROKEN1", "payment_method_id": broken.id, "session_id": self.pos_session.id,
            "company_id": self.pos_session.company_id.id, "currency_id": self.pos_session.currency_id.id, "amount": 1,
            "payment_uuid": "broken-line", "request": "C|KBROKEN1|100|||||efectivo",
            "state": "pending", "attempts": 1,
        })
        # Reconfigured under an open ticket (the form refuses it now; an older database may have it).
        self.env.flush_all()
        self.env.cr.execute("UPDATE pos_payment_method SET use_payment_terminal = NULL WHERE id = %s", [broken.id])
        broken.invalidate_recordset()
        self.sim.pay(first["ticket"])
        for ticket in (other, self.ticket(first["ticket"])):
            self.age(ticket)
        self.env["pos.cashkeeper.ticket"]._cron_watch_open_tickets()
        self.assertEqual(self.ticket(first["ticket"]).state, "paid")
        self.assertEqual(other.state, "pending")
        self.assertIn("no longer set up for CashKeeper", other.last_error)

    def test_retry_after_cashier_cancel_resumes_the_abandoned_ticket(self):
        first, _, line = self.start_payment(self.pos_session)
        self.status(self.pos_session, line, action="abandon")
        again, _, _ = self.start_payment(self.pos_session, payment_uuid=line)
        self.assertEqual((again["ticket"], again["state"]), (first["ticket"], "pending"))
        self.assertEqual(len(self.sim.tickets()), 1)

    def test_cron_flags_an_unfollowed_ticket_that_ckmonitor_never_got(self):
        self.sim.inject("refuse")
        result, _, _ = self.start_payment(self.pos_session)
        self.sim.clear_faults()
        ticket = self.ticket(result["ticket"])
        self.age(ticket)
        self.env["pos.cashkeeper.ticket"]._cron_watch_open_tickets()
        self.assertEqual(ticket.state, "failed")
        self.assertIn("never received", ticket.last_error)

    def test_bad_amounts_are_refused_and_nothing_is_sent(self):
        cases = [
            (-5, "cannot pay out refunds"),
            (0, "more than zero"),
            ("12", "must be a number"),
            (None, "must be a number"),
            (True, "must be a number"),
            (12.345, "more decimals than"),
            (1e9, "above the"),
        ]
        for amount, message in cases:
            with self.subTest(amount=amount):
                result, error, _ = self.start_payment(self.pos_session, amount)
                self.assertIsNone(result)
                self.assertIn(message, error)
        self.assertEqual(self.sim.requests, [])
        self.assertFalse(self.env["pos.cashkeeper.ticket"].search([("session_id", "=", self.pos_session.id)]))

    def test_hostile_amounts_and_strings_are_refused(self):
        for amount, message in ((float("nan"), "must be a number"), (float("inf"), "must be a number"),
                                (-0.01, "refunds"), (10**30, "above the"), ([1], "must be a number"),
                                ({"amount": 1}, "must be a number")):
            with self.subTest(amount=amount):
                result, error, _ = self.start_payment(self.pos_session, amount)
                self.assertIn(message, error)
        for params in ({"payment_uuid": "x" * 10000}, {"payment_uuid": "ünï-cødé"}, {"payment_uuid": 5},
                       {"order_uuid": "a" * 65}, {"payment_uuid": "a\u0000b"}):
            with self.subTest(params=list(params)):
                _, error, _ = self.start_payment(self.pos_session, **params)
                self.assertIn("Invalid", error)
        self.assertEqual(self.sim.requests, [])

    def test_oversize_order_reference_is_cut_not_sent(self):
        result, _, _ = self.start_payment(self.pos_session, order_ref="R|\r\n\x00" * 1000)
        ticket = self.ticket(result["ticket"])
        self.assertEqual(ticket.order_ref, "R|" * 32)
        # Not on the wire (a ticket id may end in R itself: the reference's own "R|R|" is looked for).
        self.assertNotIn(b"R|R|", b"".join(r.line for r in self.sim.requests))

    def test_resuming_with_another_amount_is_refused(self):
        _, _, line = self.start_payment(self.pos_session, 10)
        result, error, _ = self.start_payment(self.pos_session, 20, payment_uuid=line)
        self.assertIn("already has CashKeeper ticket", error)

    def test_host_and_port_in_the_request_are_ignored(self):
        result, _, _ = self.start_payment(self.pos_session, cashkeeper_host="10.9.9.9", host="10.9.9.9", port=1)
        self.assertEqual(result["state"], "queued")
        self.assertEqual(len(self.sim.tickets()), 1)

    def test_smuggled_ckfast_text_is_refused(self):
        for field, value in (("payment_uuid", "abc|S|X"), ("payment_uuid", "a\r\nb"), ("order_uuid", "x|y")):
            with self.subTest(field=field):
                result, error, _ = self.start_payment(self.pos_session, **{field: value})
                self.assertIn("Invalid", error)
        self.assertEqual(self.sim.requests, [])


@tagged("post_install", "-at_install")
class TestCashKeeperAccess(CashKeeperHttpCommon):
    def setUp(self):
        super().setUp()
        self.pos_session = self.open_session()

    def assertRefused(self, error, text):
        self.assertTrue(error, "the call should have been refused")
        self.assertIn(text, error)
        self.assertEqual(self.sim.requests, [])

    def test_user_without_pos_rights(self):
        new_test_user(self.env, login="clerk", password="clerk", groups="base.group_user")
        _, error, _ = self.start_payment(self.pos_session, login="clerk")
        self.assertRefused(error, "Only Point of Sale users")

    def test_portal_user(self):
        new_test_user(self.env, login="ck_portal", password="ck_portal", groups="base.group_portal")
        _, error, _ = self.start_payment(self.pos_session, login="ck_portal")
        self.assertRefused(error, "Only Point of Sale users")

    def test_unauthenticated(self):
        self.authenticate(None, None)
        response = self.url_open("/pos_cashkeeper/payment/start", data="{}",
                                 headers={"Content-Type": "application/json"})
        self.assertIn("SessionExpired", response.text)
        self.assertEqual(self.sim.requests, [])

    def test_closed_session(self):
        self.pos_session.post_closing_cash_details(0)
        self.pos_session.close_session_from_ui()
        _, error, _ = self.start_payment(self.pos_session)
        self.assertRefused(error, "is not open")

    def test_method_not_used_by_this_config(self):
        other = self.make_cashkeeper_method(name="Other drawer")
        _, error, _ = self.start_payment(self.pos_session, payment_method_id=other.id)
        self.assertRefused(error, "no such CashKeeper payment method")

    def test_forged_ids(self):
        for params in ({"payment_method_id": 999999}, {"session_id": 999999}, {"session_id": "1"},
                       {"payment_method_id": self.bank_payment_method.id}):
            with self.subTest(params=params):
                _, error, _ = self.start_payment(self.pos_session, **params)
                self.assertTrue(error)
        self.assertEqual(self.sim.requests, [])

    def test_other_company_session(self):
        other_company = self.env["res.company"].create({"name": "Other shop company"})
        self.pos_user.write({"company_ids": [Command.set(other_company.ids)], "company_id": other_company.id})
        _, error, _ = self.start_payment(self.pos_session)
        self.assertRefused(error, "belongs to another company")

    def test_status_of_a_foreign_payment_line(self):
        self.start_payment(self.pos_session)
        self.sim.requests.clear()
        _, error = self.status(self.pos_session, "0000-not-a-line-of-ours")
        self.assertRefused(error, "No CashKeeper payment was started for this payment line")

    def test_line_of_another_session_is_refused(self):
        other_config = self.env["pos.config"].create({
            "name": "Second shop", "payment_method_ids": [Command.set(self.cashkeeper_method.ids)],
        })
        other_session = self.open_session(other_config)
        result, _, line = self.start_payment(other_session)
        self.assertEqual(result["state"], "queued")
        self.sim.requests.clear()
        _, error = self.status(self.pos_session, line)
        self.assertRefused(error, "No CashKeeper payment was started")
