"""The books match the drawer: orders synced the way the POS syncs them, bound to their paid
tickets or refused; cash on no order flagged; closing figures; a full session close."""

import json
import uuid
from datetime import timedelta

import psycopg2
from odoo import Command, fields
from odoo.addons.pos_cashkeeper.ckfast import AmountFormat, ReplyKind
from odoo.addons.pos_cashkeeper.ckfast.protocol import Reply
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import CashKeeperHttpCommon


class BooksCase(CashKeeperHttpCommon):
    """Orders synced as the POS syncs them, with CashKeeper lines the drawer paid (or not)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.item = cls.env["product.product"].create({
            "name": "CashKeeper test item", "available_in_pos": True, "list_price": 1, "taxes_id": [Command.clear()],
        })
        cls.second_method = cls.make_cashkeeper_method(name="Second drawer")
        cls.main_pos_config.write({"payment_method_ids": [Command.link(cls.second_method.id)]})
        cls.spare_method = cls.make_cashkeeper_method(name="Spare drawer")  # in no POS: commissioned freely

    def setUp(self):
        super().setUp()
        self.pos_session = self.open_session()

    # -- helpers -----------------------------------------------------------------------------
    def paid_line(self, amount=12.34, **params):
        """A CashKeeper line the drawer paid: (ticket name, payment line uuid, order uuid)."""
        result, error, line = self.start_payment(self.pos_session, amount, **params)
        self.assertFalse(error)
        self.sim.pay(result["ticket"])
        self.assertEqual(self.status(self.pos_session, line)[0]["state"], "paid")
        return result["ticket"], line, self.line_orders[line]

    def order_data(self, payments, total=None, order_uuid=None, state="paid", session=None):
        """An order as the POS serialises it for pos.order.sync_from_ui (Odoo 18): payments are
        (method, amount, payment line uuid, payment_status)."""
        total = sum(p[1] for p in payments) if total is None else total
        session = session or self.pos_session
        return {
            "uuid": order_uuid or str(uuid.uuid4()),
            "access_token": str(uuid.uuid4()),
            "name": f"Order {uuid.uuid4().hex[:12]}",
            "session_id": session.id,
            "user_id": self.pos_user.id,
            "pricelist_id": session.config_id.pricelist_id.id,
            "fiscal_position_id": False,
            "sequence_number": 1,
            "date_order": fields.Datetime.to_string(fields.Datetime.now()),
            "amount_paid": sum(p[1] for p in payments),
            "amount_return": 0,
            "amount_tax": 0,
            "amount_total": total,
            "last_order_preparation_change": "{}",
            "state": state,
            "lines": [Command.create({
                "product_id": self.item.id, "qty": 1, "price_unit": total, "price_subtotal": total,
                "price_subtotal_incl": total, "discount": 0, "tax_ids": [Command.set([])], "pack_lot_ids": [],
                "uuid": str(uuid.uuid4()),
            })],
            "payment_ids": [Command.create({
                "amount": amount, "name": fields.Datetime.to_string(fields.Datetime.now()),
                "payment_method_id": method.id, "uuid": line, "payment_status": status,
                "transaction_id": False,
            }) for method, amount, line, status in payments],
        }

    def sync(self, *orders):
        """pos.order.sync_from_ui over JSON-RPC as the cashier, exactly as the POS calls it: the
        lines and payments the server has already (by uuid) are sent as updates, as the POS does."""
        self.authenticate("pos_user", "pos_user")
        response = self.url_open("/web/dataset/call_kw/pos.order/sync_from_ui", data=json.dumps({
            "jsonrpc": "2.0", "method": "call", "id": 1,
            "params": {"model": "pos.order", "method": "sync_from_ui", "args": [[self.as_resent(o) for o in orders]],
                       "kwargs": {}},
        }), headers={"Content-Type": "application/json"})
        body = response.json()
        self.env.invalidate_all()
        if "error" in body:
            return None, body["error"]["data"]["message"]
        return body["result"], None

    def as_resent(self, data):
        saved = self.order(data["uuid"])
        resent = dict(data)
        for field in ("lines", "payment_ids"):
            ids = {record.uuid: record.id for record in saved[field]}
            resent[field] = [Command.update(ids[vals["uuid"]], vals) if command == Command.CREATE
                             and vals.get("uuid") in ids else (command, record_id, vals)
                             for command, record_id, vals in data[field]]
        return resent

    def ck(self, amount, line, status="done"):
        return (self.cashkeeper_method, amount, line, status)

    def order(self, order_uuid):
        return self.env["pos.order"].search([("uuid", "=", order_uuid)])

    def round_cash_to_5_cents(self):
        rounding = self.env["account.cash.rounding"].create({
            "name": "0.05", "rounding": 0.05, "rounding_method": "HALF-UP", "strategy": "add_invoice_line",
            "profit_account_id": self.company_data["default_account_revenue"].id,
            "loss_account_id": self.company_data["default_account_expense"].id,
        })
        self.pos_session.config_id.write({"cash_rounding": True, "rounding_method": rounding.id,
                                          "only_round_cash_method": True})

    def refused(self, *orders):
        """Sync ``orders``; return the reasons the server kept them unpaid ({order uuid: reason})."""
        with mute_logger("odoo.addons.pos_cashkeeper.models.pos_order"):
            result, error = self.sync(*orders)
        self.assertFalse(error)  # a refusal never fails the POS's sync
        return {o["uuid"]: o["cashkeeper_refusal"] for o in result["pos.order"] if o["cashkeeper_refusal"]}

    def assertKeptUnpaid(self, order_uuid, reason):
        order = self.order(order_uuid)
        self.assertEqual(order.state, "draft")
        self.assertIn(reason, order.cashkeeper_refusal)
        self.assertIn("was not saved as paid", order.cashkeeper_refusal)
        self.assertFalse(order._cashkeeper_payments())  # what the drawer does not back is not on it
        self.assertIn("was not saved as paid", order.message_ids[0].body)


@tagged("post_install", "-at_install")
class TestCashKeeperBooks(BooksCase):
    # -- 1. orders are bound to their paid tickets, or refused -------------------------------
    def test_paid_ticket_backs_its_payment(self):
        name, line, order_uuid = self.paid_line(12.34)
        result, error = self.sync(self.order_data([self.ck(12.34, line)], order_uuid=order_uuid))
        self.assertFalse(error)
        order = self.order(order_uuid)
        self.assertEqual(order.state, "paid")
        ticket = self.ticket(name)
        self.assertEqual(ticket.pos_payment_id, order.payment_ids)
        self.assertRecordValues(ticket, [{"pos_order_id": order.id, "amount_collected": 12.34,
                                          "amount_booked": 12.34, "amount_difference": 0, "on_no_order": False}])
        # Syncing the same order again (an offline POS retrying) changes nothing.
        self.assertFalse(self.sync(self.order_data([self.ck(12.34, line)], order_uuid=order_uuid))[1])
        self.assertEqual(len(self.env["pos.payment"].search([("uuid", "=", line)])), 1)

    def test_orders_the_drawer_did_not_pay_are_refused(self):
        """Each way a browser could post cash the drawer never took, as the POS would send it: the
        order is kept unpaid, without that payment, with the reason."""
        pending, _, pending_line = self.start_payment(self.pos_session, 5)
        _, paid_line, paid_order = self.paid_line(7)
        pending_order = self.line_orders[pending_line]
        cases = {  # name: (payments, the order they come with, what the cashier is told)
            "no ticket at all": ([self.ck(9, str(uuid.uuid4()))], None, "no CashKeeper ticket was started"),
            "another order": ([self.ck(7, paid_line)], None, "was started for another order"),
            "another amount": ([self.ck(70, paid_line)], paid_order, "the drawer collected $\xa07.00"),
            "still pending": ([self.ck(5, pending_line)], pending_order, "has not collected ticket"),
            "another method": ([(self.second_method, 7, paid_line, "done")], paid_order, "another payment method"),
        }
        for case, (payments, known_order, reason) in cases.items():
            with self.subTest(case):
                order_uuid = known_order or str(uuid.uuid4())
                self.assertIn(reason, self.refused(self.order_data(payments, order_uuid=order_uuid))[order_uuid])
                self.assertKeptUnpaid(order_uuid, reason)
        self.assertFalse(self.env["pos.payment"].search([("payment_method_id", "in", self.cashkeeper_method.ids)]))
        self.assertEqual(self.ticket(pending["ticket"]).state, "queued")
        # The cashier pays the kept order again, this time with the drawer's paid line: saved as paid.
        self.assertFalse(self.refused(self.order_data([self.ck(7, paid_line)], order_uuid=paid_order)))
        self.assertEqual(self.order(paid_order).state, "paid")
        self.assertFalse(self.order(paid_order).cashkeeper_refusal)

    def test_a_refused_order_never_holds_back_the_batch(self):
        """The POS syncs every pending order in one call: honest orders before and after a refused
        one are saved as usual, the refused one is kept unpaid with its other payments."""
        cash = self.env["pos.payment.method"].search([("is_cash_count", "=", True),
                                                      ("id", "in", self.main_pos_config.payment_method_ids.ids)])[:1]
        name, line, order_uuid = self.paid_line(6)
        honest = [self.order_data([(cash, 3, str(uuid.uuid4()), "done")]),
                  self.order_data([self.ck(6, line)], order_uuid=order_uuid),
                  self.order_data([(cash, 2, str(uuid.uuid4()), "done")])]
        bad = self.order_data([(cash, 4, str(uuid.uuid4()), "done"), self.ck(5, str(uuid.uuid4()))], total=9)
        reasons = self.refused(honest[0], bad, honest[1], honest[2])
        self.assertEqual(list(reasons), [bad["uuid"]])
        for data in honest:
            self.assertEqual(self.order(data["uuid"]).state, "paid")
        self.assertEqual(self.ticket(name).pos_payment_id.pos_order_id, self.order(order_uuid))
        self.assertKeptUnpaid(bad["uuid"], "no CashKeeper ticket was started")
        self.assertEqual(self.order(bad["uuid"]).payment_ids.mapped("amount"), [4])  # the cash part stays
        self.assertIn("CashKeeper refused an order", self.pos_session.message_ids[0].body)
        # The same batch again (a POS retrying after a lost answer): nothing doubled, still kept.
        self.refused(bad, *honest)
        self.assertEqual(self.env["pos.order"].search_count([("session_id", "=", self.pos_session.id)]), 4)
        self.assertEqual(self.order(bad["uuid"]).state, "draft")

    def test_a_refused_draft_keeps_its_earlier_lines_out_of_the_books(self):
        """A draft synced with a waiting CashKeeper line, then sent paid with that line done while
        the drawer never took the cash: kept unpaid, the line taken off."""
        result, _, line = self.start_payment(self.pos_session, 4)
        order_uuid = self.line_orders[line]
        self.assertFalse(self.refused(self.order_data([self.ck(4, line, "waitingCard")], order_uuid=order_uuid,
                                                      state="draft")))
        payment = self.order(order_uuid).payment_ids
        paid = dict(self.order_data([], order_uuid=order_uuid, total=4), lines=[])
        paid["payment_ids"] = [Command.update(payment.id, {"payment_status": "done"})]
        self.assertIn("has not collected ticket", self.refused(paid)[order_uuid])
        self.assertKeptUnpaid(order_uuid, "has not collected ticket")
        self.assertFalse(payment.exists())
        self.assertEqual(self.ticket(result["ticket"]).state, "queued")  # the drawer still waits: watched

    def test_the_database_keeps_one_payment_per_ticket(self):
        name, line, order_uuid = self.paid_line(3)
        self.sync(self.order_data([self.ck(3, line)], order_uuid=order_uuid))
        other = self.env["pos.cashkeeper.ticket"].sudo().search([("name", "=", name)]).copy({
            "name": "KCOPY1", "state": "cancelled", "payment_uuid": "another-line"})
        with self.assertRaises(psycopg2.IntegrityError), mute_logger("odoo.sql_db"):
            other.write({"pos_payment_id": self.ticket(name).pos_payment_id.id})
            self.env.flush_all()

    def test_refusal_is_logged_for_the_manager(self):
        data = self.order_data([self.ck(9, str(uuid.uuid4()))])
        with self.assertLogs("odoo.addons.pos_cashkeeper.models.pos_order", "WARNING") as logs:
            self.assertIn("was not saved", self.sync(data)[0]["pos.order"][0]["cashkeeper_refusal"])
        self.assertIn("pos_user", logs.output[0])
        self.assertIn(f"Order {data['name']} was not saved as paid", self.pos_session.message_ids[0].body)

    def test_drafts_keep_working_and_only_done_lines_are_bound(self):
        result, _, line = self.start_payment(self.pos_session, 4)
        order_uuid = self.line_orders[line]
        waiting = self.order_data([self.ck(4, line, "waitingCard")], order_uuid=order_uuid, state="draft")
        self.assertFalse(self.sync(waiting)[1])  # restaurant / saved for later: not blocked
        self.assertEqual(self.order(order_uuid).state, "draft")
        self.assertFalse(self.ticket(result["ticket"]).pos_payment_id)
        self.sim.pay(result["ticket"])
        self.status(self.pos_session, line)
        done = self.order_data([self.ck(4, line)], order_uuid=order_uuid, state="draft")
        done["payment_ids"] = [Command.update(self.order(order_uuid).payment_ids.id, {"payment_status": "done"})]
        self.assertFalse(self.sync(done)[1])
        self.assertEqual(self.ticket(result["ticket"]).pos_payment_id, self.order(order_uuid).payment_ids)
        paid = dict(done, state="paid", payment_ids=[])
        self.assertFalse(self.sync(paid)[1])  # validated later: the same binding
        self.assertEqual(self.order(order_uuid).state, "paid")

    def test_the_books_cannot_be_changed_after_the_sync(self):
        """Over RPC as the cashier: a bound payment keeps its amount (a tip added afterwards was
        not collected by the drawer); a draft cannot be marked paid around the check."""
        name, line, order_uuid = self.paid_line(5)
        self.assertFalse(self.sync(self.order_data([self.ck(5, line)], order_uuid=order_uuid))[1])
        payment = self.ticket(name).pos_payment_id.with_user(self.pos_user)
        with self.assertRaisesRegex(UserError, "cannot be changed"):
            payment.write({"amount": 6})
        with self.assertRaisesRegex(UserError, "cannot be deleted"):
            payment.unlink()
        pending, _, pending_line = self.start_payment(self.pos_session, 4)
        draft_uuid = self.line_orders[pending_line]
        self.sync(self.order_data([self.ck(4, pending_line, "waitingCard")], order_uuid=draft_uuid, state="draft"))
        with self.assertRaisesRegex(UserError, "has not collected"), \
                mute_logger("odoo.addons.pos_cashkeeper.models.pos_order"):
            self.order(draft_uuid).with_user(self.pos_user).write({"state": "paid"})

    def test_closing_refuses_books_the_drawer_does_not_back(self):
        _, line, order_uuid = self.paid_line(5)
        self.sync(self.order_data([self.ck(5, line)], order_uuid=order_uuid))
        self.env.cr.execute("UPDATE pos_payment SET amount = 50 WHERE uuid = %s", [line])  # behind Odoo's back
        self.env.invalidate_all()
        with self.assertRaisesRegex(UserError, "the books cannot be closed"):
            self.pos_session.action_pos_session_closing_control()
        self.pos_session.invalidate_recordset()
        self.assertFalse(self.pos_session.move_id)  # nothing posted

    def test_deleting_an_order_the_drawer_collected_for_asks_the_ledger(self):
        """The browser's line status does not decide: the ledger does."""
        _, line, order_uuid = self.paid_line(4)
        self.sync(self.order_data([self.ck(4, line, "waitingCard")], order_uuid=order_uuid, state="draft"))
        order = self.order(order_uuid).with_user(self.pos_user)
        with self.assertRaisesRegex(UserError, "collected: it cannot be deleted"):
            order.action_pos_order_cancel()
        with self.assertRaisesRegex(UserError, "collected: it cannot be deleted"):
            order.sudo().unlink()
        self.assertEqual(order.state, "draft")

    def test_a_payment_is_started_for_an_order(self):
        _, error, _ = self.start_payment(self.pos_session, 3, order_uuid="")
        self.assertEqual(error, "Invalid order reference.")
        self.assertFalse(self.sim.requests)

    def test_deleting_an_order_with_a_collected_payment_is_refused(self):
        _, line, order_uuid = self.paid_line(4)
        self.sync(self.order_data([self.ck(4, line)], order_uuid=order_uuid, state="draft"))
        order = self.order(order_uuid)
        with self.assertRaisesRegex(UserError, "collected: it cannot be deleted"):
            order.with_user(self.pos_user).action_pos_order_cancel()
        self.assertEqual(order.state, "draft")

    def test_paid_after_abandon_taken_back_by_the_same_line(self):
        result, _, line = self.start_payment(self.pos_session, 6)
        self.status(self.pos_session, line, action="abandon")
        self.sim.pay(result["ticket"])
        self.age(self.ticket(result["ticket"]))
        self.env["pos.cashkeeper.ticket"]._cron_watch_open_tickets()
        self.assertEqual(self.ticket(result["ticket"]).state, "paid_after_abandon")
        order_uuid = self.line_orders[line]
        self.assertFalse(self.sync(self.order_data([self.ck(6, line)], order_uuid=order_uuid))[1])
        self.assertRecordValues(self.ticket(result["ticket"]), [{"state": "paid", "amount_booked": 6}])

    def test_backend_payment_with_the_drawer_is_refused(self):
        order_uuid = str(uuid.uuid4())
        self.assertFalse(self.sync(self.order_data([], total=8, order_uuid=order_uuid, state="draft"))[1])
        wizard = self.env["pos.make.payment"].with_context(active_id=self.order(order_uuid).id).create({
            "payment_method_id": self.cashkeeper_method.id, "amount": 8})
        with self.assertRaisesRegex(UserError, "taken at the POS"):
            wizard.check()
        self.assertFalse(self.order(order_uuid).payment_ids)
        # And whatever other way an order gets paid, the same rule holds (action_pos_order_paid).
        self.order(order_uuid).add_payment({"pos_order_id": self.order(order_uuid).id, "amount": 8,
                                            "payment_method_id": self.cashkeeper_method.id})
        with self.assertRaisesRegex(UserError, "no CashKeeper ticket was started"), \
                mute_logger("odoo.addons.pos_cashkeeper.models.pos_order"):
            self.order(order_uuid).action_pos_order_paid()

    # -- 3. cash on no order, closing figures, accounting ------------------------------------
    def test_paid_ticket_on_no_order_is_flagged_after_the_grace_and_at_closing(self):
        name, _, _ = self.paid_line(5)
        cron = self.env["pos.cashkeeper.ticket"]._cron_watch_open_tickets
        cron()
        self.assertFalse(self.ticket(name).on_no_order)  # the POS may still be syncing it
        self.env.cr.execute("UPDATE pos_cashkeeper_ticket SET settled_at = now() - interval '11 minutes' "
                            "WHERE name = %s", [name])
        cron()
        self.assertTrue(self.ticket(name).on_no_order)
        other, _, _ = self.paid_line(2)
        closing = self.pos_session.get_closing_control_data()["cashkeeper"]
        self.assertTrue(self.ticket(other).on_no_order)  # at closing, whatever its age
        self.assertEqual((closing["collected"], closing["booked"], closing["difference"]),
                         ("$\xa07.00", "$\xa00.00", "$\xa07.00"))
        self.assertIn("collected $\xa07.00 that is on no order", closing["warning"])

    def test_an_order_synced_late_clears_the_flag(self):
        name, line, order_uuid = self.paid_line(5)
        self.pos_session.get_closing_control_data()
        self.assertTrue(self.ticket(name).on_no_order)
        self.assertFalse(self.sync(self.order_data([self.ck(5, line)], order_uuid=order_uuid))[1])
        self.assertFalse(self.ticket(name).on_no_order)
        closing = self.pos_session.get_closing_control_data()["cashkeeper"]
        self.assertEqual((closing["collected"], closing["difference"], closing["warning"]),
                         ("$\xa05.00", "$\xa00.00", False))

    def test_full_session_close_leaves_nothing_to_reconcile(self):
        """Open, sell through the drawer, close: the drawer's takings are booked to the CashKeeper
        journal's own account, and no journal item waits for a bank statement."""
        journal_account = self.cashkeeper_journal.default_account_id
        self.assertEqual(self.cashkeeper_method.outstanding_account_id, journal_account)
        self.assertEqual(journal_account.account_type, "asset_cash")
        for amount in (12.34, 7.66):
            _, line, order_uuid = self.paid_line(amount)
            self.assertFalse(self.sync(self.order_data([self.ck(amount, line)], order_uuid=order_uuid))[1])
        self.assertEqual(self.pos_session.cashkeeper_difference, 0)
        self.pos_session.action_pos_session_closing_control()
        self.assertEqual(self.pos_session.state, "closed")
        payment = self.env["account.payment"].search([("pos_session_id", "=", self.pos_session.id),
                                                      ("pos_payment_method_id", "=", self.cashkeeper_method.id)])
        self.assertRecordValues(payment, [{"amount": 20.0, "state": "paid", "is_matched": True,
                                           "outstanding_account_id": journal_account.id}])
        moves = self.pos_session.move_id | payment.move_id
        waiting = moves.line_ids.filtered(lambda item: item.account_id.reconcile and not item.reconciled)
        self.assertFalse(waiting, "journal items left to reconcile by hand")
        balance = sum(self.env["account.move.line"].search([("account_id", "=", journal_account.id),
                                                            ("parent_state", "=", "posted")]).mapped("balance"))
        self.assertAlmostEqual(balance, 20.0)

    # -- 4. least privilege and honest inputs ------------------------------------------------
    def test_cashiers_do_not_read_the_ledger(self):
        self.paid_line(3)
        with self.assertRaises(AccessError):
            self.env["pos.cashkeeper.ticket"].with_user(self.pos_user).search_read([], ["name", "last_error"])
        with self.assertRaises(AccessError):
            self.cashkeeper_method.with_user(self.pos_user).action_cashkeeper_test_connection()

    def test_a_ticket_is_touched_only_for_its_own_order(self):
        result, _, line = self.start_payment(self.pos_session, 4)
        other_order = str(uuid.uuid4())
        _, error, _ = self.start_payment(self.pos_session, 4, payment_uuid=line, order_uuid=other_order)
        self.assertIn("belongs to another CashKeeper payment", error)
        for action in ("abandon", "status"):
            _, error = self.status(self.pos_session, line, action=action, order_uuid=other_order)
            self.assertIn("started for another order", error)
        self.assertEqual(self.ticket(result["ticket"]).state, "queued")

    def test_bad_parameters_get_a_clear_error(self):
        self.start_payment(self.pos_session, 1)  # a ticket exists
        for params in ({}, {"payment_method_id": self.cashkeeper_method.id},
                       {"payment_method_id": "1", "session_id": self.pos_session.id}):
            with self.subTest(params=params):
                _, error = self.ck_rpc("abandon", **params)
                self.assertRegex(error, "Invalid CashKeeper payment request|must be a record id")
        _, error = self.ck_rpc("status", payment_method_id=self.cashkeeper_method.id, session_id=self.pos_session.id)
        self.assertEqual(error, "Invalid payment line reference.")
        _, error, _ = self.start_payment(self.pos_session, 1, payment_uuid="abc-1\n")
        self.assertEqual(error, "Invalid payment line reference.")
        _, error, _ = self.start_payment(self.pos_session, None)
        self.assertEqual(error, "The amount must be a number.")

    def test_large_currencies_fit_and_the_limit_is_the_wires(self):
        result, error, _ = self.start_payment(self.pos_session, 150000.0)  # an IDR / COP / HUF sale
        self.assertFalse(error)
        self.assertIn("|15000000|", self.sim.requests[-1].line.decode())
        _, error, _ = self.start_payment(self.pos_session, 21474836.48)
        self.assertIn("above the", error)

    def test_cash_rounding_applies_to_the_drawer(self):
        self.round_cash_to_5_cents()
        _, error, _ = self.start_payment(self.pos_session, 12.34)
        self.assertIn("rounds cash to 0.05", error)
        self.assertFalse(self.sim.requests)
        _, line, order_uuid = self.paid_line(12.35)
        result, error = self.sync(self.order_data([self.ck(12.35, line)], total=12.34, order_uuid=order_uuid))
        self.assertFalse(error)
        self.assertEqual(self.order(order_uuid).state, "paid")  # rounded like cash: fully paid

    def test_a_resend_is_the_first_request_byte_for_byte(self):
        self.sim.inject("refuse", count=10)
        result, _, line = self.start_payment(self.pos_session, 12.34)
        self.assertEqual(result["state"], "new")
        first = self.ticket(result["ticket"]).request
        # A manager edits the method meanwhile (Odoo allows it once the register is closed).
        self.env.cr.execute("UPDATE pos_payment_method SET cashkeeper_terminal = 'TPV9', "
                            "cashkeeper_amount_format = 'decimal_dot' WHERE id = %s", [self.cashkeeper_method.id])
        self.cashkeeper_method.invalidate_recordset()
        self.sim.clear_faults()
        self.assertEqual(self.start_payment(self.pos_session, 12.34, payment_uuid=line)[0]["state"], "queued")
        self.assertEqual(self.sim.requests[-1].line, f"{first}\r\n".encode())
        self.assertIn("|1234||1|TPV1|", first)

    def test_late_ok_added_on_a_failed_ticket_reopens_it_watched(self):
        self.sim.inject("refuse", count=10)
        result, _, _ = self.start_payment(self.pos_session, 3)
        ticket = self.ticket(result["ticket"]).sudo()
        ticket._set_state("failed", settled_at=fields.Datetime.now())  # as a "not found" from another request
        ticket._apply_create(Reply(ReplyKind.ADDED, b"OK|Added\r\n"))  # then the slow C's answer lands
        self.assertRecordValues(ticket, [{"state": "abandoned", "settled_at": False}])
        self.assertTrue(ticket.queued_at)

    # -- 5. commissioning --------------------------------------------------------------------
    def commission(self, *answers):
        """Drive the wizard as the installer: one answer per test ticket shown."""
        wizard = self.env["pos.cashkeeper.commissioning"].with_user(self.pos_admin).browse(
            self.spare_method.with_user(self.pos_admin).action_cashkeeper_commission()["res_id"])
        wizard.action_send_first()
        for answer in answers:
            wizard.answer = answer
            wizard.action_confirm()
        return wizard

    def test_commissioning_sets_the_format_from_the_drawers_screen(self):
        """The simulator plays a drawer reading each format (and refusing Importe that does not fit
        it); the installer answers what a screen would show."""
        self.assertFalse(self.spare_method.cashkeeper_commissioned_at)
        cases = [
            (AmountFormat.CENTS, ("expected",), ["100"]),  # shows 1.00
            (AmountFormat.DECIMAL_DOT, ("expected",), ["100", "1.50"]),  # refuses 100, shows 1.50
            (AmountFormat.DECIMAL_COMMA, ("expected",), ["100", "1.50", "1,50"]),
        ]
        for drawer_format, answers, importes in cases:
            with self.subTest(drawer=drawer_format, answers=answers):
                self.sim.amount_format = drawer_format
                self.sim.requests.clear()
                try:
                    wizard = self.commission(*answers)
                finally:
                    self.sim.amount_format = AmountFormat.CENTS
                self.assertEqual(self.spare_method.cashkeeper_amount_format, drawer_format.value)
                self.assertTrue(self.spare_method.cashkeeper_commissioned_at)
                sent = [r.line.decode().split("|")[2] for r in self.sim.requests if r.line[:1] == b"C"]
                self.assertEqual(sent, importes)
                self.assertEqual(set(wizard.ticket_ids.mapped("purpose")), {"commissioning"})
                # The one the drawer queued is watched (abandoned); the refused ones failed.
                self.assertEqual(wizard.ticket_ids.sorted("id")[-1].state, "abandoned")
                self.assertIn("cancel the test ticket", wizard.result)
        self.spare_method.write({"cashkeeper_amount_format": "cents"})  # changed by hand: not checked any more
        self.assertFalse(self.spare_method.cashkeeper_commissioned_at)

    def test_commissioning_is_for_managers_and_says_when_nothing_shows(self):
        with self.assertRaises(AccessError):
            self.spare_method.with_user(self.pos_user).action_cashkeeper_commission()
        with self.assertRaisesRegex(UserError, "shows nothing"):
            self.commission("nothing")
        with self.assertRaisesRegex(UserError, "took none of the amount formats"):
            self.commission("other")  # a cents drawer then refuses the decimal probes
        self.assertFalse(self.spare_method.cashkeeper_commissioned_at)
        with self.assertRaisesRegex(UserError, "Close the POS sessions"):  # a register open on that drawer
            self.cashkeeper_method.with_user(self.pos_admin).action_cashkeeper_commission()
            self.env["pos.cashkeeper.commissioning"].search([], limit=1, order="id desc").action_send_first()

    def test_a_paid_commissioning_ticket_is_flagged(self):
        wizard = self.commission("expected")
        ticket = wizard.ticket_ids.sudo()
        self.sim.pay(ticket.name)
        self.age(ticket)
        self.env["pos.cashkeeper.ticket"]._cron_watch_open_tickets()
        self.assertEqual(ticket.state, "paid_after_abandon")
        ticket.settled_at = fields.Datetime.now() - timedelta(hours=1)
        self.env["pos.cashkeeper.ticket"]._flag_no_order()
        self.assertTrue(ticket.on_no_order)
