from odoo import Command
from odoo.modules.module import get_manifest
from odoo.tests import tagged

from .common_agent import CashKeeperAgentCommon
from .screenshots import SHOTS, ScreenshotMixin

if SHOTS:  # only for tools/screenshots.py

    @tagged("post_install", "-at_install")
    class TestCashKeeperScreenshots(ScreenshotMixin, CashKeeperAgentCommon):
        @classmethod
        def setUpClass(cls):
            super().setUpClass()
            # The till shows one CashKeeper; the cloud method's agent is shown on its own form.
            cls.main_pos_config.write({"payment_method_ids": [Command.unlink(cls.cloud_method.id)]})
            cls.main_pos_config.company_id.name = "My Shop"
            cls.agent.name = "Shop Barcelona"
            # Its poll then shows it online for the few minutes the shots take.
            cls.env["ir.config_parameter"].sudo().set_param("pos_cashkeeper.agent_heartbeat", "300")

        def test_screenshots(self):
            # The agent's poll, as the agent of this release on the shop PC sends it.
            _answer, error = self.agent_rpc("poll", version=get_manifest("pos_cashkeeper")["version"],
                                            ckmonitor={"reachable": True, "endpoint": f"192.168.1.20:{self.sim.port}"})
            self.assertFalse(error)
            self.shoot_tour(lambda: self.run_pos_tour("CashKeeperPaidTour"), at_pay="pos_waiting_for_cash.png",
                            at_end="pos_paid.png")
            session = self.main_pos_config.current_session_id
            for number, (amount, outcome) in enumerate(((24.5, "pay"), (9.9, "cancel"), (132.0, "pay"),
                                                        (57.25, None)), start=2):
                result, _error, line = self.start_payment(session, amount, order_ref=f"Shop/{number:04d}")
                if outcome:
                    getattr(self.sim, outcome)(result["ticket"])
                    self.status(session, line)
            self.shoot_page("payment_method_form.png",
                            f"/odoo/action-point_of_sale.action_pos_payment_method_form/{self.cashkeeper_method.id}",
                            ".o_form_view .o_horizontal_separator", "CashKeeper drawer")
            self.shoot_page("ledger.png", "/odoo/action-pos_cashkeeper.action_pos_cashkeeper_ticket",
                            ".o_list_view .o_data_row .badge", "Cancelled")
            self.shoot_page("reconciliation.png", "/odoo/action-pos_cashkeeper.action_pos_cashkeeper_reconciliation",
                            ".o_pivot table thead", "Paid")
            self.shoot_page("agent_form.png",
                            f"/odoo/action-pos_cashkeeper.action_pos_cashkeeper_agent/{self.agent.id}",
                            ".o_form_view .o_field_widget[name=status] .badge", "Online")
