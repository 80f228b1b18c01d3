"""What the kiosk's public caller may send, and what the server decides instead: the shop's prices,
the kiosk of the token, no waiting on a drawer, a drawer of its own, no cashier on kiosk payments,
and cash that pays an order exactly. Each case as the public caller makes it, over HTTP."""

import time
import uuid

import odoo
from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from ..models.pos_cashkeeper_ticket import KIOSK_LINE, KIOSK_LOCK, _Asked
from .common import KioskCommon


def _sent(sim, kind):
    return [r.line for r in sim.requests if r.line.startswith(kind)]


@tagged("post_install", "-at_install")
class TestKioskShopPrices(KioskCommon):
    """The drawer is asked for the order's total at the shop's prices, whatever the kiosk says."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        tax = {"price_include_override": "tax_excluded", "company_id": cls.kiosk.company_id.id}
        cls.tax_10 = env["account.tax"].create({"name": "VAT 10 (kiosk)", "amount": 10, **tax})
        cls.tax_4 = env["account.tax"].create({"name": "VAT 4 (kiosk)", "amount": 4, **tax})
        cls.takeaway_fp = env["account.fiscal.position"].create({
            "name": "Takeaway (kiosk)", "tax_ids": [Command.create({"tax_src_id": cls.tax_10.id,
                                                                   "tax_dest_id": cls.tax_4.id})]})
        sellable = {"available_in_pos": True, "self_order_available": True}
        cls.soda = env["product.product"].create({"name": "Kiosk Soda", "list_price": 2.0, "taxes_id": False,
                                                  **sellable})
        cls.fries = env["product.product"].create({"name": "Kiosk Fries", "list_price": 3.0, "taxes_id": False,
                                                   **sellable})
        cls.taxed = env["product.product"].create({"name": "Kiosk Salad", "list_price": 10.0,
                                                   "taxes_id": [Command.set(cls.tax_10.ids)], **sellable})
        cls.hidden = env["product.product"].create({"name": "Staff Meal", "list_price": 5.0, "taxes_id": False,
                                                    "available_in_pos": True, "self_order_available": False})
        # Options that make no variant: "Cheese" costs 0.50 more.
        attribute = env["product.attribute"].create({"name": "Extras (kiosk)", "create_variant": "no_variant",
                                                     "value_ids": [Command.create({"name": "None"}),
                                                                   Command.create({"name": "Cheese"})]})
        env["product.template.attribute.line"].create({"product_tmpl_id": cls.kiosk_product.product_tmpl_id.id,
                                                       "attribute_id": attribute.id,
                                                       "value_ids": [Command.set(attribute.value_ids.ids)]})
        cls.ptavs = cls.kiosk_product.product_tmpl_id.attribute_line_ids.product_template_value_ids
        cls.cheese = cls.ptavs.filtered(lambda v: v.name == "Cheese")
        cls.cheese.price_extra = 0.5
        # A menu: a burger and a drink for 6.00 (the drinks combo's items: soda, or fries + 1.00).
        mains = env["product.combo"].create({"name": "Mains (kiosk)", "combo_item_ids": [
            Command.create({"product_id": cls.kiosk_product.id, "extra_price": 0})]})
        sides = env["product.combo"].create({"name": "Sides (kiosk)", "combo_item_ids": [
            Command.create({"product_id": cls.soda.id, "extra_price": 0}),
            Command.create({"product_id": cls.fries.id, "extra_price": 1.0})]})
        cls.menu = env["product.product"].create({"name": "Kiosk Menu", "type": "combo", "list_price": 6.0,
                                                  "taxes_id": False, "combo_ids": [Command.set((mains | sides).ids)],
                                                  **sellable})
        cls.mains, cls.sides = mains, sides

    def setUp(self):
        super().setUp()
        self.kiosk_session = self.open_kiosk()

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def line(product, price, qty=1, **values):
        """An order line as the kiosk serialises it, its subtotals saying what the kiosk says."""
        return {"uuid": str(uuid.uuid4()), "product_id": product.id, "qty": qty, "price_unit": price,
                "price_subtotal": round(price * qty, 2), "price_subtotal_incl": round(price * qty, 2),
                "tax_ids": [], "full_product_name": product.name, **values}

    def order_of(self, *lines, **values):
        total = round(sum(line["price_subtotal_incl"] for line in lines), 2)
        return {**self.order_data(), "lines": [[0, 0, line] for line in lines], "amount_total": total, **values}

    def menu_lines(self, side_item, main_price=0.01, side_price=0.01, qty=1):
        main = self.line(self.kiosk_product, main_price, qty=qty, combo_item_id=self.mains.combo_item_ids.id)
        side = self.line(side_item.product_id, side_price, qty=qty, combo_item_id=side_item.id)
        return self.combo(self.menu, main, side, qty=qty), main, side

    def combo(self, product, *choices, qty=1):
        """A combo line and its choices, linked by the kiosk's own line ids (as it serialises them)."""
        for number, choice in enumerate(choices, start=1):
            choice["id"] = 10**6 + number
        return self.line(product, 0.0, qty=qty, combo_line_ids=[choice["id"] for choice in choices])

    def assertAsked(self, answer, order, amount, cents):
        self.assertEqual(answer["state"], "waiting", answer)
        self.assertEqual((answer["amount"], order.amount_total, self.kiosk_tickets(order).amount),
                         (amount, amount, amount))
        self.assertEqual(len(_sent(self.sim, b"C|")), 1)
        self.assertIn(f"|{cents}|".encode(), _sent(self.sim, b"C|")[0])

    def assertRefused(self, answer, order, text):
        self.assertEqual((answer["state"], answer["final"], answer["retry"]), ("unavailable", True, False))
        self.assertIn(text, answer["message"])
        self.assertFalse(self.kiosk_tickets(order))
        self.assertFalse(_sent(self.sim, b"C|"))

    # -- cases -------------------------------------------------------------------------------
    def test_a_tampered_line_price_is_the_shops_price(self):
        answer, error, order = self.kiosk_pay(self.order_of(self.line(self.kiosk_product, 0.01, qty=2)))
        self.assertFalse(error)
        self.assertAsked(answer, order, 8.4, 840)
        self.assertEqual((order.lines.price_unit, order.lines.price_subtotal_incl), (4.2, 8.4))
        self.sim.pay(answer["ticket"])
        self.assertEqual(self.kiosk_status(order)[0]["state"], "paid")
        self.assertPaidOnce(order)
        self.assertEqual(order.payment_ids.amount, 8.4)

    def test_a_discount_or_a_negative_price_is_not_the_kiosks_to_give(self):
        lines = (self.line(self.kiosk_product, 4.2, discount=90), self.line(self.soda, -2.0))
        answer, _error, order = self.kiosk_pay(self.order_of(*lines))
        self.assertAsked(answer, order, 6.2, 620)
        self.assertEqual(order.lines.mapped("discount"), [0, 0])

    def test_the_pricelist_prices_by_quantity(self):
        pricelist = self.env["product.pricelist"].create({"name": "Kiosk: 3 for 12", "item_ids": [Command.create({
            "applied_on": "0_product_variant", "product_id": self.kiosk_product.id, "min_quantity": 3,
            "compute_price": "fixed", "fixed_price": 4.0})]})
        self.kiosk.write({"pricelist_id": pricelist.id, "available_pricelist_ids": [Command.set(pricelist.ids)]})
        answer, _error, order = self.kiosk_pay(self.order_of(self.line(self.kiosk_product, 4.2, qty=3)))
        self.assertAsked(answer, order, 12.0, 1200)

    def test_options_are_priced_and_must_be_the_products(self):
        line = self.line(self.kiosk_product, 4.2, attribute_value_ids=[self.cheese.id])  # without the 0.50
        answer, _error, order = self.kiosk_pay(self.order_of(line))
        self.assertAsked(answer, order, 4.7, 470)
        # An option of another product (its extra could be negative): refused.
        other = self.env["product.attribute"].create({"name": "Discount (kiosk)", "create_variant": "no_variant",
                                                      "value_ids": [Command.create({"name": "Cheap"})]})
        self.env["product.template.attribute.line"].create({"product_tmpl_id": self.soda.product_tmpl_id.id,
                                                            "attribute_id": other.id,
                                                            "value_ids": [Command.set(other.value_ids.ids)]})
        cheap = self.soda.product_tmpl_id.attribute_line_ids.product_template_value_ids
        cheap.price_extra = -3.0
        self.sim.requests.clear()
        line = self.line(self.kiosk_product, 1.2, attribute_value_ids=[cheap.id])
        answer, _error, order = self.kiosk_pay(self.order_of(line))
        self.assertRefused(answer, order, "not offered here")

    def test_a_tampered_combo_is_priced_by_odoos_combo_rule(self):
        fries = self.sides.combo_item_ids.filtered(lambda i: i.product_id == self.fries)
        answer, error, order = self.kiosk_pay(self.order_of(*self.menu_lines(fries)))
        self.assertFalse(error)
        self.assertAsked(answer, order, 7.0, 700)  # the menu's 6.00, and fries' 1.00 more
        parent = order.lines.filtered(lambda line: line.product_id == self.menu)
        self.assertEqual(parent.price_unit, 0)
        # 6.00 shared as the combos' base prices 4.20 : 2.00, then fries' 1.00 more
        self.assertEqual(sorted(parent.combo_line_ids.mapped("price_subtotal_incl")), [2.94, 4.06])

    def test_a_combo_with_choices_it_does_not_offer_is_refused(self):
        wrong = self.env["product.combo"].create({"name": "Anything (kiosk)", "combo_item_ids": [
            Command.create({"product_id": self.taxed.id, "extra_price": -10.0})]})
        _parent, main, _side = self.menu_lines(self.sides.combo_item_ids[0])
        side = self.line(self.taxed, 0.01, combo_item_id=wrong.combo_item_ids.id)
        answer, _error, order = self.kiosk_pay(self.order_of(self.combo(self.menu, main, side), main, side))
        self.assertRefused(answer, order, "not the ones offered here")
        # Nor a combo with a choice missing, nor a choice without its combo.
        main = self.line(self.kiosk_product, 0.01, combo_item_id=self.mains.combo_item_ids.id)
        for lines in ((self.combo(self.menu, main), main),
                      (self.line(self.soda, 2.0, combo_item_id=self.sides.combo_item_ids[0].id),)):
            with self.subTest(lines=len(lines)):
                answer, _error, order = self.kiosk_pay(self.order_of(*lines))
                self.assertEqual(answer["state"], "unavailable")
                self.assertFalse(self.kiosk_tickets(order))

    def test_taxes_go_through_the_kiosks_fiscal_position(self):
        self.kiosk.write({"self_ordering_takeaway": True, "takeaway_fp_id": self.takeaway_fp.id})
        line = self.line(self.taxed, 10.0, tax_ids=[])  # the kiosk leaves the tax out
        answer, _error, order = self.kiosk_pay(self.order_of(line))
        self.assertAsked(answer, order, 11.0, 1100)  # 10 % on top
        self.sim.requests.clear()
        _Asked.at.clear()
        answer, _error, order = self.kiosk_pay(self.order_of(dict(line, uuid=str(uuid.uuid4())), takeaway=True))
        self.assertEqual(order.fiscal_position_id, self.takeaway_fp)
        self.assertEqual(order.lines.tax_ids, self.tax_10)  # mapped to 4 % by the position
        self.assertEqual(answer["state"], "busy")  # the first customer's ticket still waits
        order.invalidate_recordset()
        self.assertEqual(order.amount_total, 10.4)

    def test_takeaway_where_the_kiosk_offers_none_is_eat_in(self):
        self.kiosk.write({"self_ordering_takeaway": False, "takeaway_fp_id": self.takeaway_fp.id})
        answer, _error, order = self.kiosk_pay(self.order_of(self.line(self.taxed, 10.0), takeaway=True))
        self.assertAsked(answer, order, 11.0, 1100)
        self.assertFalse(order.takeaway)

    def test_products_the_kiosk_does_not_sell_are_refused(self):
        for case, line in {
            "not for self-order": self.line(self.hidden, 5.0),
            "a negative quantity (a refund)": self.line(self.kiosk_product, 4.2, qty=-1),
            "a quantity and a negative one": [self.line(self.kiosk_product, 4.2, qty=2),
                                              self.line(self.kiosk_product, 4.2, qty=-1)],
        }.items():
            with self.subTest(case=case):
                lines = line if isinstance(line, list) else [line]
                answer, _error, order = self.kiosk_pay(self.order_of(*lines))
                self.assertRefused(answer, order, "cannot be ordered here")

    def test_lines_saved_again_after_the_start_are_priced_again_before_the_cash_pays(self):
        answer, _error, order = self.kiosk_pay()
        # Odoo's public self-order route saves the kiosk's lines again, cheaper, while the drawer waits.
        data = self.order_data(order_uuid=order.uuid)
        data["lines"] = [[1, order.lines.id, {"price_unit": 0.01, "price_subtotal": 0.01,
                                              "price_subtotal_incl": 0.01}]]
        _result, error = self.kiosk_call("/pos-self-order/process-order/kiosk", order=data,
                                         access_token=self.kiosk.access_token, table_identifier=None)
        self.assertFalse(error)
        self.sim.pay(answer["ticket"])
        self.assertEqual(self.kiosk_status(order)[0]["state"], "paid")
        self.assertPaidOnce(order)
        self.assertEqual(order.lines.price_unit, 4.2)

    def test_cash_for_an_order_that_changed_is_flagged_not_put_on_it(self):
        answer, _error, order = self.kiosk_pay()
        data = self.order_data(order_uuid=order.uuid)
        data["lines"] = [[1, order.lines.id, {"qty": 2, "price_subtotal": 8.4, "price_subtotal_incl": 8.4}]]
        self.kiosk_call("/pos-self-order/process-order/kiosk", order=data, access_token=self.kiosk.access_token,
                        table_identifier=None)
        self.sim.pay(answer["ticket"])
        result, _error = self.kiosk_status(order)
        self.assertEqual((result["state"], result["retry"]), ("stuck", False))
        ticket = self.kiosk_tickets(order)
        self.assertEqual((ticket.state, ticket.pos_payment_id, ticket.on_no_order), ("paid", ticket.pos_payment_id,
                                                                                     True))
        self.assertFalse(ticket.pos_payment_id)
        self.assertIn("now comes to", ticket.last_error)
        self.assertEqual((order.state, order.payment_ids), ("draft", self.env["pos.payment"]))


@tagged("post_install", "-at_install")
class TestKioskScope(KioskCommon):
    """One token, one kiosk; a kiosk's drawer of its own; no waiting; no cashier on kiosk payments."""

    def setUp(self):
        super().setUp()
        self.kiosk_session = self.open_kiosk()

    def other_kiosk(self):
        method = self.make_cashkeeper_method(name="CashKeeper 2", cashkeeper_port=self.sim.port + 1)
        kiosk = self.make_kiosk(method, name="Kiosk B")
        self.open_kiosk(kiosk)
        return kiosk, method

    def test_an_order_for_another_kiosk_is_refused_before_it_is_saved(self):
        kiosk_b, method_b = self.other_kiosk()
        mobile_method = self.make_cashkeeper_method(name="CashKeeper mobile", cashkeeper_port=self.sim.port + 2)
        mobile = self.env["pos.config"].create({
            "name": "Mobile", "self_ordering_mode": "mobile", "module_pos_restaurant": True,
            "self_ordering_default_user_id": self.pos_user.id,
            "payment_method_ids": [Command.set(mobile_method.ids)],
        })
        self.open_kiosk(mobile)
        older = self.env["pos.session"].search([("config_id", "=", self.kiosk.id)])
        b_data = self.order_data(kiosk_b)
        cases = {
            # kiosk A's token, an order of kiosk B's session, on B's drawer
            "another kiosk's order and method": {"data": b_data, "method": method_b},
            "another kiosk's order on this kiosk's method": {"data": b_data},
            "this kiosk's order on another kiosk's method": {"method": method_b},
            "another session": {"data": {**self.order_data(), "session_id": older.id + 1000}},
            "no session": {"data": {k: v for k, v in self.order_data().items() if k != "session_id"}},
            "a mobile menu's token": {"access_token": mobile.access_token, "kiosk": mobile, "method": mobile_method,
                                          "data": self.order_data(mobile)},
            "another kiosk in the address": {"url_kiosk": kiosk_b},
        }
        orders = self.env["pos.order"].search_count([])
        for case, params in cases.items():
            with self.subTest(case=case):
                url_kiosk = params.pop("url_kiosk", None) or params.get("kiosk") or self.kiosk
                data = params.pop("data", None) or self.order_data()
                result, error = self.kiosk_call(
                    f"/kiosk/payment/{url_kiosk.id}/kiosk", order=data,
                    payment_method_id=params.get("method", self.kiosk_method).id,
                    access_token=params.get("access_token", self.kiosk.access_token))
                self.assertIsNone(result)
                self.assertTrue(error)
        self.assertEqual(self.env["pos.order"].search_count([]), orders)  # no junk order anywhere
        self.assertFalse(self.sim.requests)  # and no drawer asked

    def test_an_order_of_another_kiosk_cannot_be_moved_here(self):
        kiosk_b, method_b = self.other_kiosk()
        b_order = self.kiosk_pay(kiosk=kiosk_b, method=method_b)[2]
        data = {**self.order_data(), "uuid": b_order.uuid}  # B's order's uuid, into A's session
        _answer, error, _order = self.kiosk_pay(data)
        self.assertTrue(error)
        b_order.invalidate_recordset()
        self.assertEqual((b_order.session_id, b_order.config_id), (kiosk_b.current_session_id, kiosk_b))

    def test_a_drawer_taken_answers_busy_at_once(self):
        # Another worker is starting a kiosk payment on this drawer right now (its lock is held).
        with odoo.sql_db.db_connect(self.env.cr.dbname).cursor() as other:
            other.execute("SELECT pg_advisory_lock(%s, hashtext(%s))",
                          [KIOSK_LOCK, repr(self.kiosk_method._cashkeeper_drawer())])
            started = time.monotonic()
            answer, _error, order = self.kiosk_pay()
            self.assertLess(time.monotonic() - started, 1.0)
            self.assertEqual((answer["state"], answer["retry"]), ("busy", True))
            self.assertFalse(self.kiosk_tickets(order))
            other.execute("SELECT pg_advisory_unlock_all()")
        answer, _error, order = self.kiosk_pay(self.order_data(order_uuid=order.uuid))  # the customer taps again
        self.assertEqual(answer["state"], "waiting")

    def test_a_hung_drawer_holds_a_public_call_one_status_ask_at_most(self):
        budget = self.kiosk_method.cashkeeper_read_timeout  # 1 s here (under the 1.5 s cap)
        first, _error, first_order = self.kiosk_pay()  # a ticket the drawer queued
        self.sim.inject("silent")  # then the drawer hangs: accepts, never answers
        for call in ("a second customer's start (asks about the first ticket)",
                     "the first customer's status", "the first customer's cancel"):
            with self.subTest(call=call):
                self.cool_down()
                started = time.monotonic()
                if call.startswith("a second"):
                    answer, _error, order = self.kiosk_pay()
                    self.assertEqual(answer["state"], "busy")
                    self.assertFalse(self.kiosk_tickets(order))
                else:
                    self.kiosk_status(first_order, action="status" if "status" in call else "cancel")
                self.assertLess(time.monotonic() - started, budget + 0.5)
        # A new ticket's C on the hung drawer: one exchange of that time, never retried.
        self.sim.clear_faults()
        self.cool_down()
        self.kiosk_tickets(first_order).sudo()._cashkeeper_abandon()
        self.sim.cancel(first["ticket"])
        _Asked.at.clear()
        self.assertEqual(self.kiosk_status(first_order)[0]["state"], "cancelled")
        self.sim.inject("silent")
        self.cool_down()
        self.sim.requests.clear()
        _Asked.at.clear()
        started = time.monotonic()
        answer, _error, order = self.kiosk_pay()
        self.assertLess(time.monotonic() - started, budget + 0.5)
        self.assertEqual(len(_sent(self.sim, b"C|")), 1)
        self.assertIn("does not answer", answer["message"])

    def test_a_kiosks_cashkeeper_is_its_own(self):
        till = self.main_pos_config
        # Another method, the kiosk's CKMonitor (127.0.0.1) all the same.
        same_drawer = self.make_cashkeeper_method(name="CashKeeper till", cashkeeper_host=" LOCALHOST ")
        other_drawer = self.make_cashkeeper_method(name="CashKeeper till", cashkeeper_port=self.sim.port + 1)
        self.assertOwnDrawer(till.write, {"payment_method_ids": [Command.link(self.kiosk_method.id)]})
        self.assertOwnDrawer(till.write, {"payment_method_ids": [Command.link(same_drawer.id)]})
        till.write({"payment_method_ids": [Command.link(other_drawer.id)]})
        self.assertOwnDrawer(other_drawer.write, {"cashkeeper_port": self.sim.port})  # onto the kiosk's drawer
        self.assertOwnDrawer(self.env["pos.config"].create, {
            "name": "Kiosk on the till's", "self_ordering_mode": "kiosk",
            "payment_method_ids": [Command.set(other_drawer.ids)]})

    def assertOwnDrawer(self, call, values):
        with self.assertRaises(ValidationError) as refused:  # (Odoo's: rolled back to a savepoint)
            call(values)
        self.assertIn("needs a CashKeeper of its own", str(refused.exception))

    def test_kiosks_sharing_a_drawer_take_turns(self):
        method = self.make_cashkeeper_method(name="CashKeeper kiosk B")  # another method, the same drawer
        kiosk_b = self.make_kiosk(method, name="Kiosk B")
        self.open_kiosk(kiosk_b)
        first, _error, _order = self.kiosk_pay()
        answer, _error, order = self.kiosk_pay(self.order_data(kiosk_b), kiosk=kiosk_b, method=method)
        self.assertEqual(answer["state"], "busy")
        self.assertIn(first["ticket"], answer["message"])
        self.assertFalse(self.kiosk_tickets(order))

    def test_cashier_endpoints_never_touch_kiosk_payments(self):
        answer, _error, order = self.kiosk_pay()
        line = KIOSK_LINE + order.uuid
        till_method = self.make_cashkeeper_method(name="CashKeeper till", cashkeeper_port=self.sim.port + 1)
        self.main_pos_config.write({"payment_method_ids": [Command.link(till_method.id)]})
        till_session = self.open_session()
        calls = {
            "start in the kiosk's session": ("start", {"session_id": self.kiosk_session.id, "payment_uuid": line,
                                                           "order_uuid": order.uuid, "amount": 4.2}),
            "status in the kiosk's session": ("status", {"session_id": self.kiosk_session.id, "payment_uuid": line,
                                                             "order_uuid": order.uuid}),
            "abandon in the kiosk's session": ("abandon", {"session_id": self.kiosk_session.id, "payment_uuid": line,
                                                               "order_uuid": order.uuid}),
            "a kiosk line in a till's session": ("start", {"session_id": till_session.id, "payment_uuid": line,
                                                               "order_uuid": order.uuid, "amount": 4.2,
                                                               "payment_method_id": till_method.id}),
        }
        for case, (action, params) in calls.items():
            with self.subTest(case=case):
                result, error = self.ck_rpc(action, login="pos_admin",
                                            **{"payment_method_id": self.kiosk_method.id, **params})
                self.assertIsNone(result)
                self.assertIn("kiosk", error)
        ticket = self.kiosk_tickets(order)
        self.assertEqual((len(ticket), ticket.state), (1, "queued"))
        self.assertEqual(len(_sent(self.sim, b"C|")), 1)

    def test_kiosk_orders_are_never_refunded_at_a_cashkeeper(self):
        """A till refunding a kiosk sale: the payout is refused when it is asked for."""
        _answer, _error, order = self.kiosk_pay()
        self.sim.pay(self.kiosk_tickets(order).name)
        self.kiosk_status(order)
        till_method = self.make_cashkeeper_method(name="CashKeeper till", cashkeeper_port=self.sim.port + 1,
                                                  cashkeeper_payouts=True)
        self.main_pos_config.write({"payment_method_ids": [Command.link(till_method.id)]})
        till_session = self.open_session()
        params = {"payment_method_id": till_method.id, "session_id": till_session.id, "amount": -4.2,
                  "payment_uuid": str(uuid.uuid4()), "order_uuid": str(uuid.uuid4()), "confirmed": True}
        result, error = self.ck_rpc("payout", login="pos_user", refunded_order_ids=[order.id], **params)
        self.assertIsNone(result)
        self.assertIn("is a kiosk order: kiosk orders are not refunded at a CashKeeper", error)
        # Leaving the refunded order out does not help: the books ask the refund order's own lines
        # when it is saved (``_payout_binding_problem``), and they name the kiosk sale.
        self.assertIn("kiosk orders are not refunded", order._cashkeeper_refund_problem())
        self.assertFalse(self.env["pos.cashkeeper.ticket"].sudo().search([("purpose", "=", "payout")]))
