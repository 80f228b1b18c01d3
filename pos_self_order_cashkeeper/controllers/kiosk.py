"""Public endpoints the self-order kiosk calls while the customer pays into the CashKeeper.

The kiosk starts a payment through Odoo's own ``/kiosk/payment/<config>/kiosk`` route (which
calls ``pos.payment.method._payment_request_from_kiosk``); these two follow and cancel it. A
caller must hold the kiosk's access token (a kiosk config with an open session) and the order's
own access token, for an order of that kiosk's open session; it names no ticket, method, amount or drawer: the
server finds the order's ticket itself. CKMonitor answers a kiosk at most every
``KIOSK_MIN_ASK_INTERVAL`` per ticket, whatever the caller's pace.
"""

from odoo import _, http
from odoo.addons.pos_cashkeeper.controllers.main import CashKeeperController
from odoo.addons.pos_cashkeeper.models.cashkeeper_transport import public_call
from odoo.addons.pos_self_order.controllers.orders import PosSelfOrderController
from odoo.exceptions import AccessError
from odoo.http import request
from werkzeug.exceptions import NotFound, Unauthorized

from ..models.pos_cashkeeper_ticket import KIOSK_LINE


class CashKeeperKioskController(PosSelfOrderController):
    @http.route()
    def pos_self_order_kiosk_payment(self, pos_config_id, order, payment_method_id, access_token, device_type):
        """Odoo's kiosk route, which saves the order with the session and config it names and
        then checks the method against the order's config: for a CashKeeper, the token's kiosk is
        the one whose drawer takes the cash, so the order must be that kiosk's, in its open
        session, for one of its methods, checked before anything is saved."""
        method = request.env["pos.payment.method"].sudo().browse(
            payment_method_id if isinstance(payment_method_id, int) and not isinstance(payment_method_id, bool) else [])
        if method.exists() and method.use_payment_terminal == "cashkeeper":
            self._cashkeeper_check_kiosk_order(pos_config_id, order, method, access_token, device_type)
        return super().pos_self_order_kiosk_payment(pos_config_id, order, payment_method_id, access_token, device_type)

    def _cashkeeper_check_kiosk_order(self, pos_config_id, order, method, access_token, device_type):
        config = self._cashkeeper_kiosk(access_token)
        session = config.current_session_id
        if device_type != "kiosk" or pos_config_id != config.id or method not in config.sudo().payment_method_ids:
            raise Unauthorized(_("Invalid kiosk request."))
        # (The kiosk's page names the session; the config, a related field, only a forged one names.)
        if not isinstance(order, dict) or order.get("config_id", config.id) != config.id \
                or order.get("session_id") != session.id:
            raise Unauthorized(_("This order is not one of this kiosk's: please start your order again."))
        saved = request.env["pos.order"].sudo().search([("uuid", "=", order.get("uuid") or "")], limit=1) \
            if isinstance(order.get("uuid"), str) else None
        if saved is None or (saved and (saved.config_id != config or saved.session_id != session)):
            raise Unauthorized(_("This order is not one of this kiosk's: please start your order again."))

    @http.route("/pos_cashkeeper/kiosk/status", auth="public", type="json", website=True, methods=["POST"])
    def cashkeeper_kiosk_status(self, access_token=None, order_access_token=None, with_order=False, **ignored):
        """How the order's CashKeeper payment stands (``with_order``: also the order, for a kiosk
        that reloaded). A paid order always comes with its data, for the confirmation page."""
        config, order, ticket = self._cashkeeper_kiosk_payment(access_token, order_access_token)
        return self._cashkeeper_kiosk_answer(config, order, ticket._kiosk_follow(order), with_order)

    @http.route("/pos_cashkeeper/kiosk/cancel", auth="public", type="json", website=True, methods=["POST"])
    def cashkeeper_kiosk_cancel(self, access_token=None, order_access_token=None, **ignored):
        """The customer cancels: the order is paid instead if the drawer has the cash already."""
        config, order, ticket = self._cashkeeper_kiosk_payment(access_token, order_access_token)
        return self._cashkeeper_kiosk_answer(config, order, ticket._kiosk_cancel(order))

    def _cashkeeper_kiosk_payment(self, access_token, order_access_token):
        if not isinstance(order_access_token, str) or not order_access_token:
            raise Unauthorized(_("Invalid kiosk request."))
        config = self._cashkeeper_kiosk(access_token)
        order = config.env["pos.order"].sudo().search([("access_token", "=", order_access_token),
                                                       ("session_id", "=", config.current_session_id.id)], limit=1)
        if not order:
            raise NotFound(_("Your order does not exist or has been removed"))
        ticket = order.env["pos.cashkeeper.ticket"]._kiosk_ticket(order)
        if not ticket:
            raise NotFound(_("No cash payment was started for this order."))
        return config, order, public_call(ticket)

    def _cashkeeper_kiosk(self, access_token):
        """The kiosk whose token this is (a self-order kiosk, not a mobile menu, with an open session)."""
        if not isinstance(access_token, str):
            raise Unauthorized(_("Invalid kiosk request."))
        config = self._verify_pos_config(access_token)
        if config.self_ordering_mode != "kiosk":
            raise Unauthorized(_("Invalid access token"))
        return config

    def _cashkeeper_kiosk_answer(self, config, order, answer, with_order=False):
        if with_order or answer["state"] == "paid":
            answer["order"] = self._generate_return_values(order.sudo(False), config)
        return answer


class CashKeeperCashierController(CashKeeperController):
    """The cashier's endpoints never touch a kiosk's payments: kiosk orders are paid by the kiosk
    (and a manager's action), and a kiosk's session has no cashier."""

    def _checked_method_and_session(self, payment_method_id, session_id):
        method, session = super()._checked_method_and_session(payment_method_id, session_id)
        if session.sudo().config_id.self_ordering_mode == "kiosk":
            raise AccessError(_("This is a self-service kiosk's session: its payments are the kiosk's."))
        return method, session

    def _check_line(self, payment_uuid):
        super()._check_line(payment_uuid)
        if payment_uuid.startswith(KIOSK_LINE):
            raise AccessError(_("This payment line is a self-service kiosk's: its payments are the kiosk's."))
