"""The agent over Odoo's real bus websocket: the real agent process (and its bus client) against
this test's Odoo server, which serves /websocket as in production."""

import sys
import tempfile
import threading
import time
from pathlib import Path
from unittest.mock import patch

from odoo.addons.bus.websocket import WebsocketConnectionHandler
from odoo.tests import tagged
from odoo.tests.common import TEST_CURSOR_COOKIE_NAME

from .agent_process import REPO, AgentProcess, TestCookieProxy, wait_until
from .common_agent import CashKeeperAgentCommon

if str(REPO / "agent") not in sys.path:  # the agent's own bus client (and its ckfast), for the secrecy test
    sys.path.extend([str(REPO / "agent"), str(REPO)])
from cashkeeper_agent.bus import BusListener


@tagged("post_install", "-at_install")
class TestCashKeeperAgentBus(CashKeeperAgentCommon):
    def setUp(self):
        super().setUp()
        self.pos_session = self.open_session()
        self.proxy = TestCookieProxy(self.base_url(), lambda: f"{TEST_CURSOR_COOKIE_NAME}={self.http_request_key}")
        self.addCleanup(self.proxy.close)

    def agent_process(self, **settings):
        log = Path(tempfile.mkdtemp(prefix="ck_agent_")) / "agent.log"
        agent = AgentProcess(self.proxy.url, self.agent_key, self.sim.port, log, sim=self.sim,
                             status_interval=0.1, log_level="DEBUG", **settings)
        self.addCleanup(agent.close)
        return agent.start()

    def stop(self, agent):
        self.assertEqual(agent.stop(), 0, agent.log())
        self._wait_remaining_requests()

    def start(self):
        return self.start_payment(self.pos_session, 12.34, payment_method_id=self.cloud_method.id)

    def test_new_work_reaches_the_agent_through_the_websocket(self):
        """Heartbeat and fallback at 60 s: only the bus can bring the ticket to the agent at once."""
        agent = self.agent_process(poll_wait=60, fallback_interval=60)
        self.assertTrue(wait_until(lambda: "listening to Odoo's bus" in agent.log()), agent.log())
        time.sleep(0.5)  # the catch-up poll after subscribing is done
        started = time.monotonic()
        result, error, line = self.start()
        self.assertFalse(error)
        self.assertTrue(wait_until(lambda: self.sim.tickets(), timeout=10), agent.log())
        self.assertLess(time.monotonic() - started, 5, agent.log())  # woken, not a 60 s poll later
        self.sim.pay(result["ticket"])
        # The database is read once the agent has stopped (its requests share the test's cursor).
        self.assertTrue(wait_until(lambda: "-> paid" in agent.log()), agent.log())
        self.stop(agent)
        status, _ = self.ck_rpc("status", payment_method_id=self.cloud_method.id, session_id=self.pos_session.id,
                                payment_uuid=line, order_uuid=self.line_orders[line])
        self.assertEqual(status["state"], "paid")
        self.assertEqual([r.line[:2] for r in self.sim.requests if r.line.startswith(b"C|")], [b"C|"])
        self.assertNotIn("cannot be opened", agent.log())

    def test_websocket_refused_the_agent_polls_and_says_why(self):
        """A proxy without websocket support: here Odoo itself refuses the upgrade."""
        with patch.object(WebsocketConnectionHandler, "websocket_allowed", return_value=False):
            agent = self.agent_process(poll_wait=60, fallback_interval=0.5)
            self.assertTrue(wait_until(lambda: "bus websocket cannot be opened" in agent.log()), agent.log())
            self.assertIn("polling Odoo every few seconds instead", agent.log())
            result, error, _line = self.start()
            self.assertFalse(error)
            self.assertTrue(wait_until(lambda: self.sim.tickets(), timeout=10), agent.log())
            self.stop(agent)
        self.assertEqual(list(self.sim.tickets()), [result["ticket"]])

    def test_only_the_agents_own_channel_hears_its_wake_ups(self):
        """Another agent's channel and a guessed name hear nothing of this agent's tickets."""
        other = self.env["pos.cashkeeper.agent"].create({"name": "Other shop"})
        channels = {"mine": self.agent._bus_channel(), "other": other._bus_channel(),
                    "guessed": f"pos_cashkeeper.agent.{self.agent.id}"}
        self.env.flush_all()
        stop = threading.Event()
        self.addCleanup(stop.set)
        cookie = f"{TEST_CURSOR_COOKIE_NAME}={self.http_request_key}"
        heard = {name: [] for name in channels}
        listeners = {}
        for name, channel in channels.items():
            listener = BusListener(self.base_url(), cookie=lambda: cookie, stop=stop, wake_type="pos_cashkeeper.wake",
                                   on_wake=lambda _payloads, name=name: heard[name].append(time.monotonic()))
            listener.follow(channel)
            listeners[name] = listener
            self.addCleanup(listener.close)
        self.assertTrue(wait_until(lambda: all(lst.listening for lst in listeners.values())))
        self.assertTrue(wait_until(lambda: all(heard.values())))  # each one's catch-up after subscribing
        time.sleep(0.5)
        before = {name: len(times) for name, times in heard.items()}
        self.say_online()
        self.start()
        self.assertTrue(wait_until(lambda: len(heard["mine"]) > before["mine"], timeout=10))
        time.sleep(1.0)
        self.assertEqual(len(heard["other"]), before["other"])
        self.assertEqual(len(heard["guessed"]), before["guessed"])
