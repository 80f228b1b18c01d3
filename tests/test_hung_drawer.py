"""A drawer that does not answer (CKMonitor hung after accepting the connection, a firewall
dropping packets) costs one short timeout, then nothing, while tills keep polling it."""

import time
from datetime import timedelta
from unittest.mock import patch

import psycopg2
from odoo import fields, sql_db
from odoo.addons.pos_cashkeeper.models import cashkeeper_transport
from odoo.tests import tagged

from .common import CashKeeperHttpCommon


@tagged("post_install", "-at_install")
class TestCashKeeperHungDrawer(CashKeeperHttpCommon):
    def setUp(self):
        super().setUp()
        self.pos_session = self.open_session()

    def requests_of(self, kind):
        return [r for r in self.sim.requests if r.line[:1] == kind]

    @patch.object(cashkeeper_transport, "COOL_DOWN", 1.5)
    def test_one_timeout_then_polls_answer_from_it_until_the_drawer_is_probed_again(self):
        result, _, line = self.start_payment(self.pos_session)
        self.sim.inject("silent")  # accepts, never answers
        started = time.monotonic()
        first, _ = self.status(self.pos_session, line)
        self.assertGreaterEqual(time.monotonic() - started, 0.9)  # the reply timeout (1 s here)
        self.assertIn("did not answer", first["message"])
        asked = len(self.requests_of(b"S"))
        for _ in range(5):  # tills polling on: no socket, no wait, the same reason
            started = time.monotonic()
            again, _ = self.status(self.pos_session, line)
            self.assertLess(time.monotonic() - started, 0.5)
            self.assertEqual(again["message"], first["message"])
        self.assertEqual(len(self.requests_of(b"S")), asked)
        self.sim.clear_faults()
        self.sim.pay(result["ticket"])
        time.sleep(1.6)  # cooled down: the next poll asks the drawer again
        self.assertEqual(self.status(self.pos_session, line)[0]["state"], "paid")

    def test_a_new_payment_on_a_drawer_that_just_timed_out_sends_nothing(self):
        _, _, line = self.start_payment(self.pos_session)
        self.sim.inject("silent")
        self.status(self.pos_session, line)  # times out: the drawer does not answer
        self.sim.clear_faults()
        creates = len(self.requests_of(b"C"))
        result, error, _ = self.start_payment(self.pos_session, 5)
        self.assertFalse(error)
        self.assertEqual((result["state"], result["attempts"]), ("new", 0))  # recorded, not sent
        self.assertIn("did not answer", result["message"])  # the cashier sees why, at once
        self.assertEqual(len(self.requests_of(b"C")), creates)

    def test_one_request_at_a_time_asks_a_drawer(self):
        _, _, line = self.start_payment(self.pos_session)
        endpoint = cashkeeper_transport.DirectTransport(self.cashkeeper_method.sudo()).endpoint
        _db, info = sql_db.connection_info_for(self.env.cr.dbname)
        other = psycopg2.connect(**info)  # another worker, asking that drawer right now
        try:
            other.autocommit = True
            other.cursor().execute("SELECT pg_advisory_lock(%s, hashtext(%s))",
                                   [cashkeeper_transport.DRAWER_LOCK, repr(endpoint)])
            asked = len(self.requests_of(b"S"))
            result, error = self.status(self.pos_session, line)
            self.assertFalse(error)
            self.assertEqual(result["state"], "queued")  # what the ledger knows, at once
            self.assertEqual(len(self.requests_of(b"S")), asked)
        finally:
            other.close()
        self.assertEqual(self.status(self.pos_session, line)[0]["state"], "pending")

    def test_the_watch_takes_the_longest_unwatched_first_within_its_budget(self):
        tickets = []
        for _ in range(3):
            result, _, line = self.start_payment(self.pos_session)
            self.status(self.pos_session, line, action="abandon")
            tickets.append(self.ticket(result["ticket"]).sudo())
        for ticket, hours in zip(tickets, (1, 3, 2), strict=True):
            ticket.watched_at = fields.Datetime.now() - timedelta(hours=hours)
            self.age(ticket)
        self.sim.inject("silent")  # each look costs the 1 s timeout until the breaker opens
        cron = self.env["pos.cashkeeper.ticket"]._cron_watch_open_tickets
        self.assertEqual(cron(budget_seconds=0.5), 1)  # one look, then the budget is spent
        self.env.invalidate_all()
        watched = [t for t in tickets if t.watched_at > fields.Datetime.now() - timedelta(minutes=5)]
        self.assertEqual(watched, [tickets[1]])  # the one unwatched for longest
        self.assertEqual(cron(budget_seconds=0), 0)
