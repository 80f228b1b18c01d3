import json

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from .common import CashKeeperHttpCommon


@tagged("post_install", "-at_install")
class TestCashKeeperPaymentMethod(CashKeeperHttpCommon):
    def test_a_method_with_only_its_host_set_asks_for_cash_in_cents_on_the_standard_port(self):
        """The defaults at work: what a new method sends, and where (CKMonitor's port 16501)."""
        method = self.env["pos.payment.method"].create({
            "name": "CK", "journal_id": self.cashkeeper_journal.id, "payment_method_type": "terminal",
            "use_payment_terminal": "cashkeeper", "cashkeeper_host": "10.0.0.5",
        })
        currency = self.env.company.currency_id
        self.assertEqual(method._cashkeeper_create_request("K1", 12.34, currency), "C|K1|1234|||||efectivo")
        self.assertEqual(method._cashkeeper_endpoint(), "10.0.0.5:16501")

    def test_validation_names_the_field(self):
        cases = [
            ({"cashkeeper_host": False}, "enter the CKMonitor host"),
            ({"cashkeeper_host": "10.0.0.5; rm"}, "not a valid IP address or host name"),
            ({"cashkeeper_port": 0}, "between 1 and 65535"),
            ({"cashkeeper_port": 70000}, "between 1 and 65535"),
            ({"cashkeeper_vendedor": "V|1"}, "Vendedor"),
            ({"cashkeeper_id_caja": "1\r\nS|X"}, "ID caja"),
            ({"cashkeeper_terminal": "Caja ñ"}, "Terminal"),
            ({"cashkeeper_forma_pago": False}, "Forma pago must not be empty"),
            ({"cashkeeper_read_timeout": 0}, "Reply timeout"),
            ({"cashkeeper_connect_timeout": 600}, "Connect timeout"),
        ]
        for values, message in cases:
            with self.subTest(values=values), self.assertRaisesRegex(ValidationError, message):
                self.make_cashkeeper_method(**values)

    def test_other_terminals_are_not_validated(self):
        method = self.env["pos.payment.method"].create({"name": "Plain bank", "journal_id": self.bank_journal.id})
        outstanding = method.outstanding_account_id
        method.write({"cashkeeper_vendedor": "anything|goes"})  # irrelevant unless CashKeeper
        self.assertEqual(method.cashkeeper_vendedor, "anything|goes")
        self.assertEqual(method.outstanding_account_id, outstanding)  # its booking is Odoo's, untouched
        with self.assertRaisesRegex(ValidationError, "Vendedor"):  # the moment it becomes a CashKeeper one
            method.write({"payment_method_type": "terminal", "use_payment_terminal": "cashkeeper",
                          "cashkeeper_host": "127.0.0.1"})

    def test_test_connection_reports_success(self):
        action = self.cashkeeper_method.action_cashkeeper_test_connection()
        params = action["params"]
        self.assertEqual(params["type"], "success")
        self.assertIn(f"CKMonitor at 127.0.0.1:{self.sim.port} answered CKFast", params["message"])
        self.assertIn("NOK Not found", params["message"])

    def test_test_connection_reports_refused_timeout_and_garbage(self):
        cases = [("refuse", "connection refused"), ("silent", "did not answer in 1 s"),
                 ("garbage", "answered something unexpected (???#!?garbage?)")]
        for fault, message in cases:
            with self.subTest(fault=fault):
                self.sim.clear_faults()
                self.sim.inject(fault)
                params = self.cashkeeper_method.action_cashkeeper_test_connection()["params"]
                self.assertEqual(params["type"], "danger")
                self.assertIn(message, params["message"])
                self.assertIn(f"127.0.0.1:{self.sim.port}", params["message"])

    def test_only_managers_read_drawer_settings(self):
        self.assertEqual(self.cashkeeper_method.with_user(self.pos_admin).cashkeeper_host, "127.0.0.1")
        with self.assertRaises(AccessError):
            self.cashkeeper_method.with_user(self.pos_user).read(["cashkeeper_host"])
        with self.assertRaises(AccessError):
            self.cashkeeper_method.with_user(self.pos_user).write({"cashkeeper_host": "10.0.0.9"})

    def test_pos_data_carries_no_drawer_settings(self):
        session = self.open_session()
        data = session.with_user(self.pos_user).load_data([])
        methods = {m["id"]: m for m in data["pos.payment.method"]["data"]}
        self.assertEqual(methods[self.cashkeeper_method.id]["use_payment_terminal"], "cashkeeper")
        dumped = json.dumps(data, default=str)
        self.assertNotIn("cashkeeper_host", dumped)
        self.assertNotIn(str(self.sim.port), json.dumps(methods[self.cashkeeper_method.id], default=str))


@tagged("post_install", "-at_install")
class TestCashKeeperAgentSetup(CashKeeperHttpCommon):
    def test_cloud_mode_needs_an_agent_not_a_host(self):
        with self.assertRaisesRegex(ValidationError, "choose the on-site agent"):
            self.make_cashkeeper_method(cashkeeper_use_agent=True, cashkeeper_host=False)
        agent = self.env["pos.cashkeeper.agent"].create({"name": "Shop"})
        method = self.make_cashkeeper_method(cashkeeper_use_agent=True, cashkeeper_host=False,
                                             cashkeeper_agent_id=agent.id)
        self.assertIn("Never connected", method.cashkeeper_agent_status)
        self.assertEqual(method.action_cashkeeper_test_connection()["params"]["type"], "danger")

    def test_agent_gets_a_least_privilege_user_and_a_key_shown_once(self):
        agent = self.env["pos.cashkeeper.agent"].with_user(self.pos_admin).create({"name": "Shop"})
        user = agent.user_id
        self.assertEqual(user.groups_id, self.env.ref("pos_cashkeeper.group_cashkeeper_agent"))
        self.assertTrue(user.share)
        action = agent.with_user(self.pos_admin).action_generate_api_key()
        key = action["context"]["default_key"]
        self.assertEqual(action["res_model"], "res.users.apikeys.show")
        self.assertEqual(self.env["res.users.apikeys"]._check_credentials(scope="rpc", key=key), user.id)
        agent.with_user(self.pos_admin).action_revoke_api_keys()
        self.assertFalse(self.env["res.users.apikeys"]._check_credentials(scope="rpc", key=key))

    def test_cashiers_cannot_manage_agents(self):
        with self.assertRaises(AccessError):
            self.env["pos.cashkeeper.agent"].with_user(self.pos_user).create({"name": "Mine"})
