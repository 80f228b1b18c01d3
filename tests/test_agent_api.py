import json
import time
from decimal import Decimal

from odoo import Command
from odoo.addons.pos_cashkeeper.ckfast import (
    CKFastClient,
    CKMonitorUnreachable,
    TicketConflict,
    error_to_dict,
)
from odoo.addons.pos_cashkeeper.ckfast.agent_link import AGENT_PROTOCOL, WAKE
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .common_agent import CashKeeperAgentCommon


@tagged("post_install", "-at_install")
class TestCashKeeperAgentApi(CashKeeperAgentCommon):
    """The agent's endpoints over real HTTP, with the agent's part (ckfast against the
    simulator) played by the test: the rules the real agent relies on."""

    def setUp(self):
        super().setUp()
        self.pos_session = self.open_session()
        self.say_online()

    def start(self, amount=12.34, **params):
        return self.start_payment(self.pos_session, amount, payment_method_id=self.cloud_method.id, **params)

    def cloud_status(self, line, action="status"):
        return self.ck_rpc(action, payment_method_id=self.cloud_method.id, session_id=self.pos_session.id,
                           payment_uuid=line, order_uuid=self.line_orders[line])

    def claim_and_send(self, name):
        """What the agent does for a new ticket: claim, send C with ckfast, report."""
        claim, error = self.agent_rpc("claim", ticket=name)
        self.assertFalse(error)
        client = CKFastClient("127.0.0.1", self.sim.port, connect_timeout=1, read_timeout=1, retries=0)
        try:
            result = client.send_create(claim["request"], name, sent_before=claim["attempt"] > 1)
            report = {"reply": result.reply.raw.decode(), "ours": True}
        except TicketConflict as e:
            report = {"reply": e.reply.raw.decode(), "ours": False}
        return self.agent_rpc("report", ticket=name, command="C", attempt=claim["attempt"], **report)

    def report_status(self, name):
        reply = CKFastClient("127.0.0.1", self.sim.port, retries=0).ticket_status(name)
        return self.agent_rpc("report", ticket=name, command="S", reply=reply.raw.decode())

    def test_cloud_ticket_is_handed_to_the_agent_not_sent_by_odoo(self):
        result, error, line = self.start()
        self.assertFalse(error)
        self.assertEqual((result["state"], result["message"]), ("new", False))
        self.assertEqual(self.sim.requests, [])  # Odoo never talks to the drawer in cloud mode
        polled, _ = self.agent_rpc("poll", version="test")
        self.assertEqual(polled["tickets"], [{"ticket": result["ticket"], "state": "new", "attempts": 0}])
        answer, error = self.claim_and_send(result["ticket"])
        self.assertFalse(error)
        self.assertEqual(answer["state"], "queued")
        self.assertEqual(self.sim.requests[0].line, f"C|{result['ticket']}|1234||1|TPV1||efectivo\r\n".encode())
        self.assertEqual(self.report_status(result["ticket"])[0]["state"], "pending")
        self.sim.pay(result["ticket"])
        self.assertEqual(self.report_status(result["ticket"])[0]["state"], "paid")
        status, _ = self.cloud_status(line)
        self.assertEqual((status["state"], status["final"]), ("paid", True))
        # Reports are idempotent: the same answer again changes nothing.
        self.assertEqual(self.report_status(result["ticket"])[0]["state"], "paid")
        self.assertEqual(len(self.sim.tickets()), 1)

    def test_poll_answers_at_once_with_the_agents_secret_channel(self):
        self.start()
        started = time.monotonic()
        polled, error = self.agent_rpc("poll", version="test")
        self.assertFalse(error)
        self.assertLess(time.monotonic() - started, 1.5)  # never held: an idle agent costs no worker
        channel = polled["channel"]
        self.assertEqual(channel, self.agent._bus_channel())
        self.assertRegex(channel, r"^pos_cashkeeper\.agent\.[A-Za-z0-9_-]{43}$")  # 256 random bits
        # The heartbeat the shop set (common_agent: 2 s), and the protocol both sides import.
        self.assertEqual((polled["wake"], polled["heartbeat"], polled["protocol"]), (WAKE, 2, AGENT_PROTOCOL))
        other = self.env["pos.cashkeeper.agent"].create({"name": "Other"})
        self.assertNotEqual(other._bus_channel(), channel)
        # A new key, a revoked key or an archived agent: a new channel, the old name hears nothing.
        self.agent.action_generate_api_key()
        self.assertNotEqual(self.agent._bus_channel(), channel)
        renewed = self.agent._bus_channel()
        self.agent.action_revoke_api_keys()
        self.assertNotEqual(self.agent._bus_channel(), renewed)
        # Managers do not see it either: only the agent, through its poll.
        self.assertNotIn("bus_secret", self.agent.with_user(self.pos_admin).fields_get())

    def test_a_change_wakes_the_agent_and_the_pos_with_no_data(self):
        bus = self.env["bus.bus"].sudo()
        seen = bus.search([]).ids
        result, _, _ = self.start()
        self.env.cr.precommit.run()  # the bus rows of this transaction
        sent = [(json.loads(n.channel)[1], json.loads(n.message)) for n in bus.search([("id", "not in", seen)])]
        ours = [(channel, message) for channel, message in sent
                if "CASHKEEPER" in message["type"] or channel.startswith("pos_cashkeeper")]
        token = self.main_pos_config.access_token
        self.assertEqual(ours, [
            (self.agent._bus_channel(), {"type": WAKE, "payload": {}}),  # the agent: "poll now", nothing more
            (token, {"type": f"{token}-CASHKEEPER_TICKET", "payload": {"ticket": result["ticket"]}}),
        ])
        ticket = self.env["pos.cashkeeper.ticket"].search([("name", "=", result["ticket"])])
        self.assertNotIn(ticket.request, json.dumps(sent))

    def test_an_agents_report_tells_the_pos_and_does_not_wake_that_agent(self):
        """The change is the agent's own news: one more wake-up would only cost it a poll."""
        bus = self.env["bus.bus"].sudo()
        result, _, _ = self.start()
        self.env.cr.precommit.run()
        seen = bus.search([]).ids
        answer, error = self.claim_and_send(result["ticket"])
        self.assertEqual((answer["state"], error), ("queued", None))
        self.env.cr.precommit.run()
        sent = [(json.loads(n.channel)[1], json.loads(n.message)["type"]) for n in bus.search([("id", "not in", seen)])]
        token = self.main_pos_config.access_token
        self.assertIn((token, f"{token}-CASHKEEPER_TICKET"), sent)
        self.assertNotIn(self.agent._bus_channel(), [channel for channel, _type in sent])

    def test_an_old_agent_is_told_to_upgrade(self):
        """An agent of protocol 1 expects its poll to be held: answered at once it would poll
        without pause. It gets a clear refusal, which it logs and backs off on."""
        polled, error = self.agent_rpc("poll", version="18.0.1.0.0", protocol=1, wait=25, known={})
        self.assertIsNone(polled)
        self.assertIn("too old for this Odoo", error)
        self.assertIn("18.0.1.0.0", error)

    def test_second_claim_counts_as_resend_and_already_exists_is_ours(self):
        """The agent restarted after sending C but before reporting: the same id again, and
        CKMonitor's "already exists" means it was ours: one ticket at the drawer."""
        result, _, _ = self.start()
        name = result["ticket"]
        first, _ = self.agent_rpc("claim", ticket=name)
        CKFastClient("127.0.0.1", self.sim.port).send_create(first["request"], name)  # the lost attempt
        answer, _ = self.claim_and_send(name)
        self.assertEqual(answer["state"], "queued")
        ticket = self.ticket(name)
        self.assertEqual((ticket.attempts, ticket.last_reply), (2, "NOK Already exists"))
        self.assertEqual(first["attempt"], 1)
        self.assertEqual(len(self.sim.tickets()), 1)

    def test_already_exists_on_a_first_attempt_is_a_conflict(self):
        result, _, _ = self.start()
        name = result["ticket"]
        CKFastClient("127.0.0.1", self.sim.port).create_ticket(name, Decimal("1"))  # someone else's
        answer, _ = self.claim_and_send(name)
        self.assertEqual(answer["state"], "failed")

    def test_cancel_before_the_agent_claims_it_is_never_sent(self):
        result, _, line = self.start()
        cancelled, _ = self.cloud_status(line, action="abandon")
        self.assertEqual(cancelled["state"], "failed")  # never claimed, so no C went out: nothing to watch
        claim, _ = self.agent_rpc("claim", ticket=result["ticket"])
        self.assertEqual((claim["claimed"], claim["state"]), (False, "failed"))
        # An agent cannot report a status for a ticket it never claimed.
        report, error = self.report_status(result["ticket"])
        self.assertIn("never claimed", error)
        self.assertEqual(self.ticket(result["ticket"]).state, "failed")

    def test_drawer_paid_after_cashier_cancelled_is_flagged(self):
        result, _, line = self.start()
        self.claim_and_send(result["ticket"])
        self.assertEqual(self.cloud_status(line, action="abandon")[0]["state"], "abandoned")
        self.sim.pay(result["ticket"])
        self.assertEqual(self.report_status(result["ticket"])[0]["state"], "paid_after_abandon")

    def test_ckmonitor_fault_reported_by_the_agent_reaches_the_cashier(self):
        result, _, line = self.start()
        self.claim_and_send(result["ticket"])
        fault = error_to_dict(CKMonitorUnreachable("127.0.0.1", 1, "connection refused"))
        self.agent_rpc("report", ticket=result["ticket"], command="S", error=fault)
        status, _ = self.cloud_status(line)
        self.assertEqual(status["state"], "queued")  # unknown, not failed: the drawer may take cash
        self.assertIn("Cannot reach the CashKeeper (CKMonitor at 127.0.0.1:1", status["message"])

    def test_garbage_reports_change_nothing(self):
        result, _, _ = self.start()
        self.claim_and_send(result["ticket"])
        for params in ({"command": "S", "reply": "OK|OK\r\nC|X|1"}, {"command": "S", "reply": "maybe"}):
            self.agent_rpc("report", ticket=result["ticket"], **params)
            self.assertEqual(self.ticket(result["ticket"]).state, "queued")
        for params in ({"command": "X", "reply": "OK|OK"}, {"command": "S"},
                       {"command": "S", "error": {"kind": "unreachable", "host": "h", "port": "x", "cause": "c"}},
                       {"command": "C", "reply": "OK|Added", "attempt": 9}):
            answer, error = self.agent_rpc("report", ticket=result["ticket"], **params)
            self.assertTrue(error, params)
        self.assertEqual(self.ticket(result["ticket"]).state, "queued")

    def test_offline_agent_refuses_new_payments_and_warns_on_open_ones(self):
        result, _, line = self.start()
        self.agent_rpc("poll", version="test", bye=True)  # graceful stop
        status, _ = self.cloud_status(line)
        self.assertIn("agent of this shop (Shop A) is offline", status["message"])
        self.assertEqual(status["state"], "new")
        _, error, _ = self.start()
        self.assertIn("is offline", error)
        self.say_online()
        self.assertFalse(self.cloud_status(line)[0]["message"])

    def test_a_poll_sent_before_goodbye_does_not_revive_the_agent(self):
        self.agent_rpc("poll", version="test", instance="run1", bye=True)
        self.agent_rpc("poll", version="test", instance="run1")  # late, from the stopped process
        self.agent.invalidate_recordset()
        self.assertEqual(self.agent.status, "offline")
        self.agent_rpc("poll", version="test", instance="run2")  # the restarted process
        self.agent.invalidate_recordset()
        self.assertEqual(self.agent.status, "online")

    def test_agent_status_on_the_payment_method(self):
        self.env.invalidate_all()  # the heartbeat was written by the request
        self.assertEqual(self.cloud_method.cashkeeper_agent_id.status, "online")
        self.assertIn(f"CKMonitor at 127.0.0.1:{self.sim.port} reachable", self.cloud_method.cashkeeper_agent_status)
        action = self.cloud_method.action_cashkeeper_test_connection()
        self.assertEqual(action["params"]["type"], "success")
        self.agent_rpc("poll", version="test", bye=True)
        self.agent.invalidate_recordset()
        self.assertEqual(self.agent.status, "offline")
        self.assertEqual(self.cloud_method.action_cashkeeper_test_connection()["params"]["type"], "danger")

    def test_not_found_while_a_claimed_c_may_be_on_its_way_proves_nothing(self):
        result, _, line = self.start()
        self.agent_rpc("claim", ticket=result["ticket"])  # C "sent", its answer not reported yet
        self.cloud_status(line, action="abandon")
        self.assertEqual(self.report_status(result["ticket"])[0]["state"], "abandoned")  # not failed
        self.env.cr.execute("UPDATE pos_cashkeeper_ticket SET claimed_at = now() - interval '2 minutes' "
                            "WHERE name = %s", [result["ticket"]])
        self.assertEqual(self.report_status(result["ticket"])[0]["state"], "failed")

    def test_c_confirmed_after_the_ticket_failed_reopens_it_watched(self):
        result, _, _ = self.start()
        name = result["ticket"]
        claim, _ = self.agent_rpc("claim", ticket=name)
        self.env.cr.execute("UPDATE pos_cashkeeper_ticket SET state = 'failed' WHERE name = %s", [name])
        answer, _ = self.agent_rpc("report", ticket=name, command="C", attempt=claim["attempt"], reply="OK|Added\r\n",
                                   ours=True)
        self.assertEqual(answer["state"], "abandoned")  # watched: a payment would be flagged
        self.assertTrue(self.ticket(name).queued_at)

    def test_c_confirmed_late_after_the_line_moved_on_is_watched_apart(self):
        """The ticket failed, the cashier pressed Retry (a new ticket for the line), then the
        first C's answer lands: the old ticket is watched again, beside the line's new one."""
        result, _, line = self.start()
        name = result["ticket"]
        claim, _ = self.agent_rpc("claim", ticket=name)
        self.env.cr.execute("UPDATE pos_cashkeeper_ticket SET state = 'failed' WHERE name = %s", [name])
        retry, _, _ = self.start(payment_uuid=line)
        self.assertNotEqual(retry["ticket"], name)
        answer, error = self.agent_rpc("report", ticket=name, command="C", attempt=claim["attempt"],
                                       reply="OK|Added\r\n", ours=True)
        self.assertFalse(error)
        self.assertEqual(answer["state"], "abandoned")
        self.assertEqual(self.ticket(name).payment_uuid, f"{line}-reopened")
        self.assertEqual(self.ticket(retry["ticket"]).payment_uuid, line)

    def test_agent_gives_up_resending_after_ten_minutes(self):
        result, _, _ = self.start()
        name = result["ticket"]
        self.agent_rpc("claim", ticket=name)
        self.env.cr.execute("UPDATE pos_cashkeeper_ticket SET create_date = now() - interval '11 minutes' "
                            "WHERE name = %s", [name])
        claim, _ = self.agent_rpc("claim", ticket=name)
        self.assertEqual((claim["claimed"], claim["state"]), (False, "abandoned"))

    def test_method_cannot_be_rerouted_under_an_open_ticket(self):
        self.start()
        for values in ({"cashkeeper_use_agent": False, "cashkeeper_host": "10.0.0.9"},  # the toggle clears the agent
                       {"cashkeeper_agent_id": False, "cashkeeper_host": "10.0.0.9"},
                       {"cashkeeper_agent_id": self.env["pos.cashkeeper.agent"].create({"name": "Other"}).id}):
            with self.assertRaisesRegex(UserError, "may still take cash"):
                self.cloud_method.write(values)

    def test_cron_leaves_agent_tickets_to_the_agent(self):
        result, _, _ = self.start()
        self.claim_and_send(result["ticket"])
        ticket = self.ticket(result["ticket"])
        self.age(ticket)
        self.env["pos.cashkeeper.ticket"]._cron_watch_open_tickets()
        self.assertEqual(ticket.state, "queued")
        self.assertEqual([r.line[:1] for r in self.sim.requests], [b"C"])  # Odoo asked nothing


@tagged("post_install", "-at_install")
class TestCashKeeperAgentAuth(CashKeeperAgentCommon):
    """Who may call the agent endpoints, and what each agent may see."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.agent_b = cls.env["pos.cashkeeper.agent"].create({"name": "Shop B"})
        cls.key_b = cls.api_key(cls.agent_b)
        cls.method_b = cls.make_cashkeeper_method(
            name="CashKeeper B", cashkeeper_use_agent=True, cashkeeper_agent_id=cls.agent_b.id, cashkeeper_host=False)
        cls.main_pos_config.write({"payment_method_ids": [Command.link(cls.method_b.id)]})

    def setUp(self):
        super().setUp()
        self.pos_session = self.open_session()
        self.say_online()
        self.say_online(key=self.key_b)
        self.ticket_b = self.start_payment(self.pos_session, payment_method_id=self.method_b.id)[0]["ticket"]

    def test_wrong_key_is_refused(self):
        for key in ("0" * 40, self.agent_key[:-1] + ("0" if self.agent_key[-1] != "0" else "1")):
            result, error = self.agent_rpc("poll", key=key)
            self.assertIsNone(result)
            self.assertIn("Invalid apikey", error)

    def test_key_of_a_user_without_the_agent_group_is_refused(self):
        manager = new_test_user(self.env, "ck_manager", groups="point_of_sale.group_pos_manager")
        key = self.env["res.users.apikeys"].with_user(manager).sudo()._generate(None, "test", None)
        for call, params in (("poll", {}), ("claim", {"ticket": self.ticket_b}),
                             ("report", {"ticket": self.ticket_b, "command": "S", "reply": "OK|OK"})):
            result, error = self.agent_rpc(call, key=key, **params)
            self.assertIsNone(result)
            self.assertIn("not a CashKeeper agent", error)
        self.assertEqual(self.ticket(self.ticket_b).state, "new")

    def test_agent_sees_and_touches_only_its_own_methods_tickets(self):
        polled, _ = self.agent_rpc("poll")
        self.assertEqual(polled["tickets"], [])
        polled_b, _ = self.agent_rpc("poll", key=self.key_b)
        self.assertEqual([t["ticket"] for t in polled_b["tickets"]], [self.ticket_b])
        for call, params in (("claim", {}), ("report", {"command": "S", "reply": "OK|OK"})):
            result, error = self.agent_rpc(call, ticket=self.ticket_b, **params)
            self.assertIsNone(result)
            self.assertIn("is not one of this agent's", error)
        ticket = self.ticket(self.ticket_b)
        self.assertEqual((ticket.state, ticket.attempts), ("new", 0))

    def test_agent_user_record_rules(self):
        tickets = self.env["pos.cashkeeper.ticket"].with_user(self.agent_b.user_id)
        self.assertEqual(tickets.search([]).mapped("name"), [self.ticket_b])
        self.assertFalse(self.env["pos.cashkeeper.ticket"].with_user(self.agent.user_id).search([]))
        self.assertEqual(self.env["pos.cashkeeper.agent"].with_user(self.agent.user_id).search([]), self.agent)
        self.assertFalse(self.agent.user_id.has_group("base.group_user"))  # not even an internal user

    def test_only_managers_mint_keys_and_only_for_the_agents_own_user(self):
        with self.assertRaises(AccessError):
            self.agent.with_user(self.pos_user).action_generate_api_key()
        with self.assertRaises(AccessError):
            self.agent.with_user(self.pos_user).action_revoke_api_keys()
        with self.assertRaises(AccessError):
            self.agent.with_user(self.pos_admin).write({"user_id": self.env.ref("base.user_admin").id})
        with self.assertRaises(AccessError):
            self.env["pos.cashkeeper.agent"].with_user(self.pos_admin).create(
                {"name": "Mine", "user_id": self.env.ref("base.user_admin").id})
        self.assertTrue(self.agent.with_user(self.pos_admin).action_generate_api_key()["context"]["default_key"])

    def test_archived_agent_is_refused(self):
        self.agent_b.active = False  # also revokes its keys
        result, error = self.agent_rpc("poll", key=self.key_b)
        self.assertIsNone(result)
        self.assertIn("Invalid apikey", error)
