import json
import threading
import uuid

from odoo import SUPERUSER_ID, Command, api
from odoo.addons.point_of_sale.tests.test_frontend import TestPointOfSaleHttpCommon
from odoo.addons.pos_cashkeeper.ckfast.simulator import Simulator
from odoo.addons.pos_cashkeeper.models.cashkeeper_transport import _Breakers


class CashKeeperHttpCommon(TestPointOfSaleHttpCommon):
    """The "Shop" POS config with a CashKeeper method pointed at a real simulator over TCP."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sim = Simulator(port=0, control_port=0, pay_after=None).start()
        cls.addClassCleanup(cls.sim.stop)
        company = cls.main_pos_config.company_id
        cls.cashkeeper_journal = cls.env["account.journal"].create({
            "name": "CashKeeper", "type": "bank", "code": "CKP", "company_id": company.id,
        })
        cls.cashkeeper_method = cls.make_cashkeeper_method()
        cls.main_pos_config.write({"payment_method_ids": [Command.link(cls.cashkeeper_method.id)]})

    @classmethod
    def make_cashkeeper_method(cls, **values):
        return cls.env["pos.payment.method"].create({
            "name": "CashKeeper",
            "journal_id": cls.cashkeeper_journal.id,
            "outstanding_account_id": cls.inbound_payment_method_line.payment_account_id.id,
            "payment_method_type": "terminal",
            "use_payment_terminal": "cashkeeper",
            "cashkeeper_host": "127.0.0.1",
            "cashkeeper_port": cls.sim.port,
            "cashkeeper_id_caja": "1",
            "cashkeeper_terminal": "TPV1",
            "cashkeeper_connect_timeout": 1.0,
            "cashkeeper_read_timeout": 1.0,
            **values,
        })

    def age(self, ticket):
        """Pretend no POS has touched the ticket for an hour (the cron's criterion)."""
        self.env.flush_all()
        self.env.cr.execute("UPDATE pos_cashkeeper_ticket SET write_date = now() - interval '1 hour' WHERE id = %s",
                            [ticket.id])
        ticket.invalidate_recordset()

    def setUp(self):
        super().setUp()
        self.sim.clear_faults()
        self.sim.forget()
        self.sim.requests.clear()
        self.sim.pay_after = self.sim.cancel_after = None
        self.line_orders = {}  # payment line uuid -> the order uuid it was started with
        _Breakers._open.clear()  # a drawer another test left "not answering" answers again

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def cool_down():
        """As if the few seconds after a drawer's timeout had passed: it is asked again."""
        _Breakers._open.clear()

    def open_session(self, config=None, user=None):
        config = config or self.main_pos_config
        config.with_user(user or self.pos_user).open_ui()
        session = config.current_session_id
        session.set_opening_control(0, "")  # the cashier's "Open Register"
        return session

    def ck_rpc(self, action, login="pos_user", **params):
        """Call /pos_cashkeeper/payment/<action> as ``login``; return (result, error message)."""
        if login:
            self.authenticate(login, login)
        response = self.url_open(
            f"/pos_cashkeeper/payment/{action}",
            data=json.dumps({"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}),
            headers={"Content-Type": "application/json"},
        )
        body = response.json()
        if "error" in body:
            return None, body["error"]["data"]["message"]
        return body["result"], None

    def start_payment(self, session, amount=12.34, payment_uuid=None, **params):
        """As the POS starts (or, for a known line, resumes) a payment line of an order."""
        payment_uuid = payment_uuid or str(uuid.uuid4())
        params = {
            "payment_method_id": self.cashkeeper_method.id,
            "session_id": session.id,
            "payment_uuid": payment_uuid,
            "amount": amount,
            "order_uuid": self.line_orders.get(payment_uuid) or str(uuid.uuid4()),
            "order_ref": "Shop/0001",
            **params,
        }
        self.line_orders.setdefault(params["payment_uuid"], params["order_uuid"])
        result, error = self.ck_rpc("start", **params)
        return result, error, params["payment_uuid"]

    def status(self, session, payment_uuid, action="status", **params):
        """As the POS asks: with the order the line was started for (``order_uuid`` to override)."""
        params.setdefault("order_uuid", self.line_orders.get(payment_uuid, ""))
        return self.ck_rpc(action, payment_method_id=self.cashkeeper_method.id, session_id=session.id,
                           payment_uuid=payment_uuid, **params)

    def ticket(self, name):
        self.env.invalidate_all()  # requests changed it behind this environment's cache
        return self.env["pos.cashkeeper.ticket"].search([("name", "=", name)])

    # -- tours (the one place the POS tours are started and their payments checked) -----------
    def run_pos_tour(self, name, **query):
        """The Shop's POS in Chromium through tour ``name``; returns the tickets it left. ``query``:
        more of the page's URL parameters (``ck_agent`` in cloud mode)."""
        self.main_pos_config.with_user(self.pos_user).open_ui()
        self.start_tour(f"/pos/ui?config_id={self.main_pos_config.id}{self.tour_query(**query)}", name,
                        login="pos_user")
        return self.env["pos.cashkeeper.ticket"].search([("config_id", "=", self.main_pos_config.id)])

    def tour_query(self, **query):
        """The URL parameters a tour's drawer (and agent) controls read (static/tests/tours/utils)."""
        return "".join(f"&{key}={value}" for key, value in {"ck_sim": self.sim.control_port, **query}.items())

    def after_call(self, model, method, act, user=SUPERUSER_ID):
        """Once ``model``'s ``method`` has run in a tour's request, ``act(env)`` runs in a thread
        (as someone else meanwhile: a manager, another kiosk); returns an Event set once it has.
        Not before: the test's cursor is shared, unlocked, by that thread and the test's own, which
        by then only waits for the browser (the thread's cursor waits for the request to end)."""
        cls, called, done, stop = self.registry[model], threading.Event(), threading.Event(), threading.Event()
        original = getattr(cls, method)

        def call_and_tell(records, *args, **kwargs):
            result = original(records, *args, **kwargs)
            called.set()
            return result

        def run():
            while not called.wait(0.3):
                if stop.is_set():
                    return
            with self.registry.cursor() as cr:
                act(api.Environment(cr, user, {}))
            done.set()

        self.patch(cls, method, call_and_tell)
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 30)
        self.addCleanup(stop.set)
        return done

    def assertPaidOnce(self, tickets, method=None, creates=None):
        """One ticket, paid at the drawer (sent ``creates`` times when given), backing its paid
        order's payment of ``method`` for its amount."""
        self.assertEqual(len(tickets), 1)
        self.assertEqual(tickets.state, "paid")
        self.assertEqual(list(self.sim.tickets()), [tickets.name])
        if creates is not None:
            self.assertEqual(len([r for r in self.sim.requests if r.line.startswith(b"C|")]), creates)
        order = self.env["pos.order"].search([("uuid", "=", tickets.order_uuid)])
        self.assertEqual(order.state, "paid")
        payment = order.payment_ids.filtered(lambda p: p.payment_method_id == (method or self.cashkeeper_method))
        self.assertEqual((payment.transaction_id, payment.amount), (tickets.name, tickets.amount))
        self.assertEqual((tickets.pos_payment_id, tickets.pos_order_id), (payment, order))  # the books: bound
        self.assertFalse(tickets.on_no_order)
