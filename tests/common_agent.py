import contextlib
import tempfile
from pathlib import Path
from unittest.mock import patch

import requests
from odoo import Command
from odoo.addons.bus.models.bus import dispatch, hashable
from odoo.addons.bus.websocket import WebsocketConnectionHandler
from odoo.sql_db import TestCursor
from odoo.tests.common import TEST_CURSOR_COOKIE_NAME

from .agent_process import AgentProcess, TestCookieProxy
from .common import CashKeeperHttpCommon


def _commit_and_deliver(original):
    """TestCursor.commit that also tells the websockets of the channels it notified, as the bus's
    NOTIFY does after a real commit (Odoo's tests never commit, so nothing would be delivered)."""

    def commit(cursor):
        channels = list(cursor.postcommit.data.get("bus.bus.channels", ()))
        original(cursor)
        for channel in channels:
            for websocket in list(dispatch._channels_to_ws.get(hashable(channel), ())):
                websocket.trigger_notification_dispatching()

    return commit


class CashKeeperAgentCommon(CashKeeperHttpCommon):
    """The "Shop" config with a cloud-mode CashKeeper method served by agent "Shop A". Odoo's bus
    websocket is served (as Odoo's own bus tests do) and delivers what a request commits."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.object(WebsocketConnectionHandler, "websocket_allowed", return_value=True))
        cls.startClassPatcher(patch.object(TestCursor, "commit", _commit_and_deliver(TestCursor.commit)))
        cls.env["ir.config_parameter"].sudo().set_param("pos_cashkeeper.agent_heartbeat", "2")
        cls.agent = cls.env["pos.cashkeeper.agent"].create({"name": "Shop A"})
        cls.agent_key = cls.api_key(cls.agent)
        cls.cloud_method = cls.make_cashkeeper_method(
            name="CashKeeper cloud", cashkeeper_agent_id=cls.agent.id,
            cashkeeper_host=False)
        cls.main_pos_config.write({"payment_method_ids": [Command.link(cls.cloud_method.id)]})

    @classmethod
    def api_key(cls, agent):
        return agent.action_generate_api_key()["context"]["default_key"]

    def agent_rpc(self, call, key=None, timeout=30, **params):
        """POST /pos_cashkeeper/agent/<call> the way the agent does (no session, Bearer key)."""
        self.env.flush_all()
        if call == "poll":
            params = {"protocol": 2, **params}  # the agent's protocol
        response = requests.post(
            f"{self.base_url()}/pos_cashkeeper/agent/{call}",
            json={"jsonrpc": "2.0", "method": "call", "id": 1, "params": params},
            headers={"Authorization": f"Bearer {key or self.agent_key}"},
            timeout=timeout,
        )
        if response.status_code != 200:
            return None, f"HTTP {response.status_code}"
        body = response.json()
        if "error" in body:
            return None, body["error"]["data"]["message"]
        return body["result"], None

    def say_online(self, agent=None, key=None):
        return self.agent_rpc("poll", key=key, version="test",
                              ckmonitor={"reachable": True, "endpoint": f"127.0.0.1:{self.sim.port}"})

    def agent_for_tours(self):
        """The real agent process for a tour, with the HTTP control its steps call
        (``&ck_agent=PORT``, returned): the tour starts it (first step) and stops it (last step)."""
        log = Path(tempfile.mkdtemp(prefix="ck_agent_")) / "agent.log"
        proxy = TestCookieProxy(self.base_url(), lambda: f"{TEST_CURSOR_COOKIE_NAME}={self.http_request_key}")
        self.addCleanup(proxy.close)
        self.agent_process = AgentProcess(proxy.url, self.agent_key, self.sim.port, log, sim=self.sim,
                                          poll_wait=2, status_interval=0.1, log_level="DEBUG")
        self.addCleanup(self.agent_process.close)
        return self.agent_process.serve_control()

    @contextlib.contextmanager
    def agent_stopped_after(self):
        """Around a tour: the agent's requests share the test's database cursor, so they must
        only run while the test waits for the browser; its last ones end before we read."""
        try:
            yield
        finally:
            self.assertEqual(self.agent_process.stop(), 0, self.agent_process.log())
            self._wait_remaining_requests()
