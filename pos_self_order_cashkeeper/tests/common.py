import json
import uuid

from odoo import Command
from odoo.addons.pos_cashkeeper.tests.common import CashKeeperHttpCommon
from odoo.addons.pos_cashkeeper.tests.common_agent import CashKeeperAgentCommon

from ..models.pos_cashkeeper_ticket import _Asked


class KioskMixin:
    """A self-order kiosk ("Kiosk": pay after each order, at the counter) offering a CashKeeper
    method, with one product, and helpers to call it as the kiosk's browser does (public, no
    login: the kiosk's access token and the order's)."""

    offered = "cashkeeper_method"  # the CashKeeper method of the base test class the kiosk offers

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.kiosk_method = getattr(cls, cls.offered)
        # A kiosk has a CashKeeper of its own: the base class's till gives this one up.
        cls.main_pos_config.payment_method_ids -= cls.kiosk_method
        cls.kiosk = cls.make_kiosk(cls.kiosk_method)

    @classmethod
    def make_kiosk(cls, method, name="Kiosk"):
        if not getattr(cls, "kiosk_product", None):
            cls.kiosk_product = cls.env["product.product"].create({
                "name": "Kiosk Burger", "list_price": 4.2, "taxes_id": False, "available_in_pos": True,
                "self_order_available": True,
            })
        return cls.env["pos.config"].create({
            "name": name,
            "self_ordering_mode": "kiosk",
            "self_ordering_default_user_id": cls.pos_user.id,
            "self_ordering_pay_after": "each",
            "self_ordering_service_mode": "counter",
            "self_ordering_takeaway": False,
            "payment_method_ids": [Command.set(method.ids)],
        })

    def setUp(self):
        super().setUp()
        _Asked.at.clear()  # what another test asked a moment ago does not slow this one

    def run_tour(self, name, **params):
        """The kiosk's tour ``name`` in headless Chromium (``params``: the tour's query); returns
        the kiosk's orders."""
        self.start_tour(self.kiosk._get_self_order_route() + self.tour_query(**params), name, timeout=180)
        return self.env["pos.order"].search([("config_id", "=", self.kiosk.id)])

    def open_kiosk(self, kiosk=None):
        kiosk = kiosk or self.kiosk
        kiosk.with_user(self.pos_user).open_ui()
        kiosk.current_session_id.set_opening_control(0, "")
        return kiosk.current_session_id

    def kiosk_call(self, route, **params):
        """POST a JSON-RPC call without a session, as the kiosk's browser; (result, error)."""
        self.env.flush_all()
        response = self.url_open(route, headers={"Content-Type": "application/json"}, data=json.dumps(
            {"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}))
        body = response.json()
        self.env.invalidate_all()  # the request changed the database behind this environment
        if "error" in body:
            return None, body["error"]["data"]["message"]
        return body["result"], None

    def order_data(self, kiosk=None, qty=1, price_unit=None, order_uuid=None):
        """The order as the kiosk serialises it (``order_uuid``: again, for an order it saved)."""
        kiosk = kiosk or self.kiosk
        price = self.kiosk_product.lst_price if price_unit is None else price_unit
        total = round(price * qty, 2)
        saved = self.env["pos.order"].search([("uuid", "=", order_uuid)]) if order_uuid else None
        return {
            **({"id": saved.id, "access_token": saved.access_token} if saved else {}),
            "uuid": order_uuid or str(uuid.uuid4()),
            "session_id": kiosk.current_session_id.id,
            "config_id": kiosk.id,
            "company_id": kiosk.company_id.id,
            "pricelist_id": kiosk.pricelist_id.id,
            "lines": [[0, 0, {
                "uuid": str(uuid.uuid4()), "product_id": self.kiosk_product.id, "qty": qty, "price_unit": price,
                "price_subtotal": total, "price_subtotal_incl": total, "tax_ids": [],
                "full_product_name": "Kiosk Burger",
            }]] if not saved or qty != saved.lines.qty else [],
            "amount_total": total, "amount_tax": 0, "amount_paid": 0, "amount_return": 0, "state": "draft",
        }

    def kiosk_pay(self, data=None, kiosk=None, method=None, access_token=None):
        """The customer picks the CashKeeper: Odoo's kiosk route saves the order and starts the
        payment. Returns (answer, error, the order)."""
        kiosk = kiosk or self.kiosk
        data = data or self.order_data(kiosk)
        result, error = self.kiosk_call(
            f"/kiosk/payment/{kiosk.id}/kiosk", order=data, payment_method_id=(method or self.kiosk_method).id,
            access_token=access_token or kiosk.access_token)
        order = self.env["pos.order"].search([("uuid", "=", data["uuid"])])
        return (result or {}).get("payment_status"), error, order

    def kiosk_status(self, order, action="status", kiosk=None, **params):
        kiosk = kiosk or self.kiosk
        params.setdefault("access_token", kiosk.access_token)
        params.setdefault("order_access_token", order.access_token)
        return self.kiosk_call(f"/pos_cashkeeper/kiosk/{action}", **params)

    def kiosk_tickets(self, order):
        return self.env["pos.cashkeeper.ticket"].search([("order_uuid", "=", order.uuid)], order="id")

    def assertPaidOnce(self, order, method=None):
        """The order is paid by exactly one drawer ticket, bound to its one CashKeeper payment."""
        method = method or self.kiosk_method
        order.invalidate_recordset()
        tickets = self.kiosk_tickets(order)
        paid = tickets.filtered(lambda t: t.state == "paid")
        self.assertEqual(len(paid), 1, tickets.mapped("state"))
        self.assertEqual(order.state, "paid")
        self.assertEqual(len(order.payment_ids), 1)
        payment = order.payment_ids
        self.assertEqual((payment.payment_method_id, payment.amount, payment.transaction_id),
                         (method, paid.amount, paid.name))
        self.assertEqual((paid.pos_payment_id, paid.pos_order_id), (payment, order))  # the books: bound
        self.assertEqual(paid.config_id, order.config_id)
        self.assertFalse(paid.on_no_order)
        creates = [r for r in self.sim.requests if r.line.startswith(b"C|")]
        self.assertEqual(len({r.line for r in creates}), len(tickets))  # one C per ticket (resends identical)
        return paid


class KioskCommon(KioskMixin, CashKeeperHttpCommon):
    """On-premise: the kiosk's CashKeeper method asks the simulator directly."""


class KioskCloudCommon(KioskMixin, CashKeeperAgentCommon):
    """Cloud mode: the kiosk's CashKeeper method goes through the shop's on-site agent."""

    offered = "cloud_method"
