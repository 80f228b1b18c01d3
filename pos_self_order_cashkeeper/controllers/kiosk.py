"""Public endpoints the self-order kiosk calls while the customer pays into the CashKeeper.

The kiosk starts a payment through Odoo's own ``/kiosk/payment/<config>/kiosk`` route (which
calls ``pos.payment.method._payment_request_from_kiosk``); these two follow and cancel it. A
caller must hold the kiosk's access token (a kiosk config with an open session) and the order's
own access token, for an order of that kiosk's open session; it names no ticket, method, amount or drawer: the
server finds the order's ticket itself. CKMonitor answers a kiosk at most every
``KIOSK_MIN_ASK_INTERVAL`` per ticket, whatever the caller's pace.
"""

from odoo import _, http
from odoo.addons.pos_self_order.controllers.orders import PosSelfOrderController
from werkzeug.exceptions import NotFound, Unauthorized


class CashKeeperKioskController(PosSelfOrderController):
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
        if not isinstance(access_token, str) or not isinstance(order_access_token, str) or not order_access_token:
            raise Unauthorized(_("Invalid kiosk request."))
        config = self._verify_pos_config(access_token)  # a self-order config with an open session
        if config.self_ordering_mode != "kiosk":
            raise Unauthorized(_("Invalid access token"))
        order = config.env["pos.order"].sudo().search([("access_token", "=", order_access_token),
                                                       ("session_id", "=", config.current_session_id.id)], limit=1)
        if not order:
            raise NotFound(_("Your order does not exist or has been removed"))
        ticket = order.env["pos.cashkeeper.ticket"]._kiosk_ticket(order)
        if not ticket:
            raise NotFound(_("No cash payment was started for this order."))
        return config, order, ticket

    def _cashkeeper_kiosk_answer(self, config, order, answer, with_order=False):
        if with_order or answer["state"] == "paid":
            answer["order"] = self._generate_return_values(order.sudo(False), config)
        return answer
