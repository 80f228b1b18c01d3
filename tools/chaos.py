"""Chaos run: many CashKeeper payments and refunds through the real controller while faults are injected.

    tools/dev chaos [--payments 200] [--refund-rate 0.2] [--fault-rate 0.3] [--concurrency 4] [--db NAME]
                    [--seed N] [--cloud]

Starts an Odoo server (threaded, so requests really run concurrently) on a database with
pos_cashkeeper installed (a new one unless --db is given), an in-process CKMonitor simulator, and
a "drawer" thread that pays (85 %) or cancels tickets after a random delay. Worker threads play
cashiers on two POS configs sharing that one CKMonitor: start a payment, retry it when CKMonitor
could not be reached, poll until it settles, and sometimes cancel while it is pending. Before a
request, with probability --fault-rate, one fault is injected:

  CKMonitor side: refuse, reset, close, delay, garbage, half, silent (simulator fault modes),
                  forget (CKMonitor loses the ticket);
  POS side:       double_start (two concurrent starts of one line: double click / two tabs),
                  two_tabs (two concurrent polls), network_drop (the browser loses an answer);
                  when the order is synced: pos_crash, forged_order (below), network_drop (the
                  sync's answer is lost: the POS syncs the same order again); each POS fault is
                  drawn only where it means something (POS_FAULTS);
  Odoo side:      odoo_restart (the server stops and starts again while the drawer keeps taking
                  cash; at most --restarts times). Cashiers keep retrying while Odoo is down,
                  as the POS does.

--cloud: the same through the real on-site agent (agent/) on Odoo as it runs in production
(prefork, 2 workers, nginx in front, the agent listening on Odoo's bus websocket). Odoo-side
faults there: odoo_restart (workers and websocket worker restart: the agent's websocket drops,
its calls fail meanwhile) and ws_drop (nginx restarts: every connection, the websocket included,
is cut).

Refunds: the chaos payment methods pay out refunds at the drawer (cashkeeper_payouts) and a POS
manager confirms a cashier's payout (cashkeeper_payout_by_manager). Half the cashiers log in as
the admin (a manager: their payout counts as confirmed), half as a plain POS user. --payments
counts the cashiers' operations; about --refund-rate of them (once paid orders exist) refund part
of a paid order (one of its two lines) or all of it, as the POS does: the payout check
(/pos_cashkeeper/payment/payout, confirmed false: instructions, no entry), the cash paid out at
the drawer, then the confirmation (confirmed true: the payout entry), sometimes sent twice (a
retry), or with a POS fault acted out on it: double_start (a double tap: two concurrent
confirmations), network_drop (the confirmation's answer is lost, then it is sent again),
two_tabs (the POS reloads and checks again: the check resumes the entry). A plain user's payout
waits for the "manager" thread, which confirms (90 %) or refuses it after a random delay, while
the cashier follows it (status) and sometimes withdraws it (abandon). Nothing of a payout is
ever sent to CKMonitor. A confirmed refund's order is synced with the negative CashKeeper payment
of its payout line, like a sale's (pos_crash and forged_order included).

A cashier whose line completed syncs its order as the POS does (pos.order.sync_from_ui), and the
order must come back paid; except when the POS "crashes" first (pos_crash: that cash must end up
flagged), and sometimes a forged order is sent too (forged_order: another order claiming the same
payment line, which no paid ticket or payout backs: it must come back as a draft carrying
cashkeeper_refusal, and without that payment).

At the end every ticket still pending at the drawer is settled, the ledger's watch cron runs
once, paid tickets and payouts on no order are flagged (as closing does), and the run is
reconciled against CKMonitor's (the simulator's) own ticket table and against the books:

  lost      a ticket CKMonitor holds as paid (or answered OK|OK for) whose line the POS did not
            complete, and which the ledger does not flag as paid after abandon
  doubled   a payment line with more than one ticket paid at the drawer, or completed twice; a
            refund line with more than one live payout entry, or given two by the POS's calls
  unbacked  a ledger ticket marked paid, or a POS line completed, without CKMonitor's OK|OK; a
            refund line completed without its paid out entry
  stuck     a ledger ticket still open (may take cash), or a payout still waiting for a manager
  unbooked  a paid ticket or a paid out payout neither on exactly one pos.payment of its amount
            nor flagged
  invented  a pos.payment of the CashKeeper method (a sale's, or a refund's negative one) that no
            paid ticket or paid out payout of its amount backs; a forged order not kept as a
            draft carrying cashkeeper_refusal without that payment; a payout CKMonitor was asked
            about
  figures   a session whose closing figures (pos.session._cashkeeper_figures) do not reconcile:
            collected - paid out - booked is not what is flagged on no order (0 unless the POS
            crashed before syncing), or collected, paid out, net, booked or difference disagree
            with the ledger and the books as read here
  log       an ERROR line of ours in Odoo's log: a failed query on the ledger, or our module's
            (a double click's retried conflict is not an error; a query cut by the injected Odoo
            restart, or Odoo's own errors, are not ours)
The report prints the figures of the run (collected, paid out, net, booked, flagged, difference).
Exits non-zero unless all are 0 and no cashier met an unexpected error.
"""

import argparse
import collections
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from odoo_harness import Nginx, Odoo, in_threads, start_agent, stop_all  # noqa: E402

from ckfast.simulator import Simulator, TicketState  # noqa: E402

SIM_FAULTS = ["refuse", "reset", "close", "delay", "garbage", "half", "silent", "forget"]
# The POS-side faults that mean something at each moment of a line: only those are drawn there.
POS_FAULTS = {
    "start": ["double_start"],
    "poll": ["two_tabs", "network_drop"],
    "book": ["pos_crash", "forged_order", "network_drop"],
    "payout_check": [],
    "payout_confirm": ["double_start", "two_tabs", "network_drop"],
}
SERVER_FAULTS = ["odoo_restart"]
CLOUD_FAULTS = ["ws_drop"]
FINAL = {"paid", "cancelled", "failed", "anomaly", "paid_after_abandon"}
OPEN = ("new", "queued", "pending", "abandoned")
MOVED = ("paid", "paid_after_abandon", "paid_out")  # cash collected or paid out

SETUP = """
import json
admin = env.ref("base.user_admin")
admin.password = "chaos"
company = admin.company_id
journal = env["account.journal"].search([("code", "=", "CKX"), ("company_id", "=", company.id)], limit=1) \\
    or env["account.journal"].create({{"name": "CashKeeper chaos", "type": "bank", "code": "CKX",
                                       "company_id": company.id}})
product = env["product.product"].create({{"name": "Chaos item", "available_in_pos": True, "taxes_id": [(5, 0, 0)]}})
method = env["pos.payment.method"].create({{
    "name": "CashKeeper chaos", "journal_id": journal.id, "payment_method_type": "terminal",
    "use_payment_terminal": "cashkeeper", "cashkeeper_host": "127.0.0.1", "cashkeeper_port": {port},
    "cashkeeper_connect_timeout": 0.5, "cashkeeper_read_timeout": 0.5, "company_id": company.id,
    "cashkeeper_payouts": True, "cashkeeper_payout_by_manager": True,
}})
# A plain POS user (not a manager): their payouts wait for a manager's confirmation.
groups = [env.ref("base.group_user").id, env.ref("point_of_sale.group_pos_user").id]
cashier = env["res.users"].search([("login", "=", "chaos_cashier")]) or env["res.users"].create({{
    "name": "Chaos cashier", "login": "chaos_cashier", "company_id": company.id,
    "company_ids": [(6, 0, company.ids)], "groups_id": [(6, 0, groups)],
}})
cashier.password = "chaos"
sessions = []
for name in ("Chaos A", "Chaos B"):
    config = env["pos.config"].create({{"name": name, "payment_method_ids": [(6, 0, method.ids)]}})
    config.with_user(admin).open_ui()
    config.current_session_id.set_opening_control(0, "")
    sessions.append(config.current_session_id.id)
env.cr.commit()
print("CHAOS-SETUP " + json.dumps({{"method": method.id, "sessions": sessions, "product": product.id,
                                   "pricelists": [env["pos.session"].browse(s).config_id.pricelist_id.id
                                                  for s in sessions]}}))
"""

# Cloud mode: two more tills pay with a method served by an on-site agent.
CLOUD_SETUP = """
import json
company = env.ref("base.user_admin").company_id
journal = env["account.journal"].search([("code", "=", "CKX"), ("company_id", "=", company.id)], limit=1)
agent = env["pos.cashkeeper.agent"].create({{"name": "Chaos shop"}})
key = agent.action_generate_api_key()["context"]["default_key"]
method = env["pos.payment.method"].create({{
    "name": "CashKeeper chaos cloud", "journal_id": journal.id, "payment_method_type": "terminal",
    "use_payment_terminal": "cashkeeper", "cashkeeper_agent_id": agent.id, "company_id": company.id,
    "cashkeeper_payouts": True, "cashkeeper_payout_by_manager": True,
}})
sessions = []
for name in ("Chaos cloud A", "Chaos cloud B"):
    config = env["pos.config"].create({{"name": name, "payment_method_ids": [(6, 0, method.ids)]}})
    config.with_user(env.ref("base.user_admin")).open_ui()
    config.current_session_id.set_opening_control(0, "")
    sessions.append(config.current_session_id.id)
env.cr.commit()
print("CHAOS-CLOUD " + json.dumps({{"method": method.id, "key": key, "sessions": sessions,
                                   "pricelists": [env["pos.session"].browse(s).config_id.pricelist_id.id
                                                  for s in sessions]}}))
"""

RECONCILE = """
import json
from datetime import timedelta
tickets = env["pos.cashkeeper.ticket"]
tickets._cron_watch_open_tickets(older_than_seconds=0)
tickets._flag_no_order(grace=timedelta(0))  # as closing the register does
env.cr.commit()
rows = tickets.sudo().search([("payment_method_id", "=", {method})])
payments = env["pos.payment"].sudo().search([("payment_method_id", "=", {method})])
forged = env["pos.order"].sudo().search([("uuid", "in", {forged})])
print("CHAOS-LEDGER " + json.dumps({{
    "tickets": [{{"name": t.name, "purpose": t.purpose, "state": t.state, "line": t.payment_uuid,
                 "amount": t.amount, "session": t.session_id.id, "attempts": t.attempts,
                 "error": t.last_error or "", "on_no_order": t.on_no_order, "payment": t.pos_payment_id.id,
                 "order_state": t.pos_payment_id.pos_order_id.state or ""}}
                for t in rows],
    "payments": [{{"id": p.id, "line": p.uuid, "amount": p.amount, "session": p.session_id.id,
                  "order_state": p.pos_order_id.state}}
                 for p in payments],
    "forged": [{{"uuid": o.uuid, "state": o.state, "refusal": o.cashkeeper_refusal or "",
                "lines": o.payment_ids.mapped("uuid")}} for o in forged],
    "figures": {{str(s.id): s._cashkeeper_figures() for s in env["pos.session"].browse({sessions})}},
}}))
"""


class Run:
    def __init__(self, args, odoo, sim, setup, proxy=None):
        self.args, self.odoo, self.sim, self.proxy = args, odoo, sim, proxy
        self.url = proxy.url if proxy else odoo.url  # the tills go through nginx in cloud mode
        self.odoo_args = ("--workers=2",) if proxy else ()
        self.method, self.sessions, self.product = setup["method"], setup["sessions"], setup["product"]
        self.pricelists = dict(zip(setup["sessions"], setup["pricelists"], strict=True))
        self.forged = []  # uuids of the forged orders sent (each must be kept as a refused draft)
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()
        self.faults = collections.Counter()
        self.pos_paid = collections.Counter()  # line -> times the POS completed it
        self.lines = {}  # line -> (session, outcome as the POS saw it)
        self.refunds = {}  # refund line -> (session, outcome as the POS saw it)
        self.pos_paid_out = collections.Counter()  # refund line -> times the POS completed it
        self.payout_tickets = collections.defaultdict(set)  # refund line -> payout entries the POS was given
        self.refundable = []  # paid orders a cashier may refund: {"id", "session", "lines": [(id, price)]}
        self.errors = collections.Counter()
        self.errors_while_polling = collections.Counter()
        self.manager_actions = collections.Counter()
        self.counter = iter(range(args.payments))
        self.restart_lock = threading.Lock()

    # -- the drawer ---------------------------------------------------------------------------
    def drawer(self, stop):
        """Customers at the drawer: pay most tickets, cancel some, after a random delay."""
        due = {}
        while not stop.is_set():
            now = time.monotonic()
            for ticket in self.sim.tickets().values():
                if ticket.state is TicketState.PENDING and ticket.ticket_id not in due:
                    with self.lock:
                        due[ticket.ticket_id] = (now + self.rng.uniform(0.05, 0.6),
                                                 "cancel" if self.rng.random() < 0.1 else "pay")
            for ticket_id, (at, outcome) in list(due.items()):
                if at <= now:
                    with contextlib.suppress(KeyError, ValueError):  # forgotten, or settled meanwhile
                        getattr(self.sim, outcome)(ticket_id)
                    due[ticket_id] = (float("inf"), outcome)
            time.sleep(0.02)

    # -- the manager --------------------------------------------------------------------------
    def manager(self, stop):
        """A POS manager in the backend: confirms most payouts waiting for them, refuses some,
        after a random delay (CashKeeper Tickets, the ticket's buttons)."""
        http = self.login("admin")
        due = {}
        while not stop.is_set():
            try:
                waiting = self.rpc(http, "/web/dataset/call_kw/pos.cashkeeper.ticket/search", {
                    "model": "pos.cashkeeper.ticket", "method": "search", "kwargs": {},
                    "args": [[("payment_method_id", "=", self.method), ("state", "=", "payout_waiting")]]})
            except (RuntimeError, requests.RequestException):
                waiting = []
            now = time.monotonic()
            with self.lock:
                for ticket_id in waiting:
                    if ticket_id not in due:
                        due[ticket_id] = (now + self.rng.uniform(0.1, 1.0),
                                          "refuse" if self.rng.random() < 0.1 else "confirm")
            for ticket_id, (at, action) in list(due.items()):
                if at > now:
                    continue
                due[ticket_id] = (float("inf"), action)
                method = f"action_cashkeeper_{action}_payout"
                try:
                    self.rpc(http, f"/web/dataset/call_kw/pos.cashkeeper.ticket/{method}", {
                        "model": "pos.cashkeeper.ticket", "method": method, "args": [[ticket_id]], "kwargs": {}})
                    outcome = action
                except (RuntimeError, requests.RequestException):  # withdrawn by the cashier meanwhile
                    outcome = action + " too late"
                with self.lock:
                    self.manager_actions[outcome] += 1
            stop.wait(0.1)

    # -- faults -------------------------------------------------------------------------------
    def maybe_fault(self, moment, line_ticket=None):
        """Maybe inject one fault; return a POS-side fault name (of those that mean something at
        that ``moment`` of the line, see POS_FAULTS) for the caller to act out."""
        with self.lock:
            if self.rng.random() >= self.args.fault_rate:
                return None
            restarts_left = self.faults["odoo_restart"] + self.faults["ws_drop"] < self.args.restarts
            server = SERVER_FAULTS + (CLOUD_FAULTS if self.proxy else [])
            kind = self.rng.choice(SIM_FAULTS + POS_FAULTS[moment] + (server if restarts_left else []))
            self.faults[kind] += 1
        if kind in POS_FAULTS[moment]:
            return kind
        if kind == "odoo_restart":
            with self.restart_lock:
                self.odoo.stop()
                self.odoo.start(*self.odoo_args)
            return None
        if kind == "ws_drop":
            with self.restart_lock:
                self.proxy.restart()
            return None
        if kind == "forget":
            if line_ticket:
                self.sim.forget(line_ticket)
        elif kind == "refuse":
            self.sim.inject("refuse")
            threading.Timer(0.3, self.sim.clear_faults).start()
        else:
            self.sim.inject(kind, count=1, seconds=0.8)  # delay: longer than the 0.5 s timeout
        return None

    # -- a cashier ----------------------------------------------------------------------------
    def call(self, http, action, **params):
        return self.rpc(http, f"/pos_cashkeeper/payment/{action}", {"payment_method_id": self.method, **params})

    def rpc(self, http, path, params):
        deadline = time.monotonic() + 90
        while True:
            try:
                response = http.post(f"{self.url}{path}", timeout=30, json={
                    "jsonrpc": "2.0", "method": "call", "id": 1, "params": params})
                if response.status_code not in (502, 503, 504):  # nginx: Odoo is restarting
                    break
            except requests.ConnectionError:  # Odoo restarting: the POS keeps trying
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Odoo did not answer {path} for 90 s")
            time.sleep(0.3)
        body = response.json()
        if "error" in body:
            raise RuntimeError(body["error"]["data"]["message"])
        return body.get("result")  # Odoo leaves it out when the method returns None (a button)

    def drop_answer(self, http, action, **params):
        """The request reaches Odoo, which handles it, but its answer is lost on the way back."""
        with contextlib.suppress(requests.RequestException):
            http.post(f"{self.url}/pos_cashkeeper/payment/{action}", timeout=(5, 0.001),
                      json={"jsonrpc": "2.0", "method": "call",
                            "params": {"payment_method_id": self.method, **params}})

    def login(self, login):
        http = requests.Session()
        for _ in range(10):  # an Odoo restart may cut the login short: the cashier logs in again
            try:
                auth = self.rpc(http, "/web/session/authenticate",
                                {"db": self.odoo.db, "login": login, "password": "chaos"})
            except RuntimeError as e:
                auth = {"error": str(e)}
                time.sleep(1)
            if auth and auth.get("uid"):
                return http
        sys.exit(f"chaos: login of {login} failed: {auth}")

    def cashier(self, login):
        http = self.login(login)
        for _ in self.counter:
            session = self.rng.choice(self.sessions)
            line = str(uuid.uuid4())
            with self.lock:
                sale = (self.refundable.pop(self.rng.randrange(len(self.refundable)))
                        if self.refundable and self.rng.random() < self.args.refund_rate else None)
            try:
                if sale:
                    outcome = self.refund(http, session, line, sale)
                else:
                    outcome = self.pay(http, session, line, round(self.rng.uniform(0.05, 300), 2))
            except (RuntimeError, requests.RequestException) as e:
                outcome = "error"
                with self.lock:
                    self.errors[str(e)[:80]] += 1
            with self.lock:
                (self.refunds if sale else self.lines)[line] = (session, outcome)

    def order_data(self, session, order_uuid, line, amount, items=None, refund=False):
        """A validated order with one CashKeeper payment, as the POS serialises it for
        pos.order.sync_from_ui; ``items``: (price, qty, refunded line id) (default: one of ``amount``)."""
        now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        items = items or [(amount, 1, False)]
        order = {
            "uuid": order_uuid, "access_token": str(uuid.uuid4()),
            "name": f"Chaos {order_uuid[:8]}{' REFUND' if refund else ''}",
            "session_id": session, "pricelist_id": self.pricelists[session], "fiscal_position_id": False,
            "sequence_number": 1, "date_order": now, "amount_paid": amount, "amount_return": 0, "amount_tax": 0,
            "amount_total": amount, "last_order_preparation_change": "{}", "state": "paid",
            "lines": [[0, 0, {"product_id": self.product, "qty": qty, "price_unit": price,
                              "price_subtotal": price * qty, "price_subtotal_incl": price * qty, "discount": 0,
                              "tax_ids": [[6, 0, []]], "pack_lot_ids": [], "uuid": str(uuid.uuid4()),
                              **({"refunded_orderline_id": refunded} if refunded else {})}]
                      for price, qty, refunded in items],
            "payment_ids": [[0, 0, {"amount": amount, "name": now, "payment_method_id": self.method, "uuid": line,
                                    "payment_status": "done"}]],
        }
        return order

    def sync_order(self, http, order, lose_answer=False):
        """pos.order.sync_from_ui of one order; returns the order as Odoo saved it, and its lines."""
        params = {"model": "pos.order", "method": "sync_from_ui", "args": [[order]], "kwargs": {}}
        if lose_answer:
            http.post(f"{self.url}/web/dataset/call_kw/pos.order/sync_from_ui", timeout=(5, 0.001),
                      json={"jsonrpc": "2.0", "method": "call", "params": params})
            return None
        result = self.rpc(http, "/web/dataset/call_kw/pos.order/sync_from_ui", params)
        saved = next(o for o in result["pos.order"] if o["uuid"] == order["uuid"])
        return saved, [ol for ol in result["pos.order.line"] if ol["order_id"] == saved["id"]]

    def pay(self, http, session, line, amount):
        order_uuid = str(uuid.uuid4())
        params = {"session_id": session, "payment_uuid": line, "order_uuid": order_uuid}
        start = dict(params, amount=amount, order_ref="chaos")
        result = None
        for _ in range(20):  # the cashier presses Retry while CKMonitor cannot be reached
            fault = self.maybe_fault("start")
            if fault == "double_start":
                results = self.concurrently(lambda: self.call(http, "start", **start), 2)
                tickets = {r["ticket"] for r in results if isinstance(r, dict)}
                if len(tickets) > 1:
                    raise RuntimeError(f"double start gave two tickets {tickets}")
                result = next((r for r in results if isinstance(r, dict)), None)
            else:
                try:
                    result = self.call(http, "start", **start)
                except RuntimeError:  # a failing start: the cashier presses Retry
                    result = None
            if result and not (result["state"] == "new" and result["message"]):
                break
            time.sleep(0.2)
        if result is None or (result["state"] == "new" and result["message"]):
            result = self.call(http, "abandon", **params)  # give up: the cashier removes the line
            return "gave_up_" + result["state"]
        abandon = self.rng.random() < 0.05
        deadline = time.monotonic() + 60
        while result["state"] not in FINAL and result["state"] != "abandoned":
            if time.monotonic() > deadline:
                return "timeout_" + result["state"]
            time.sleep(0.1)
            if abandon and result["state"] == "pending":
                result = self.call(http, "abandon", **params)
                break
            fault = self.maybe_fault("poll", result.get("ticket"))
            if fault == "two_tabs":
                results = self.concurrently(lambda: self.call(http, "status", **params), 2)
                result = next((r for r in results if isinstance(r, dict)), result)
            elif fault == "network_drop":
                with contextlib.suppress(requests.RequestException):  # the answer is lost on its way back
                    http.post(f"{self.url}/pos_cashkeeper/payment/status", timeout=0.001,
                              json={"jsonrpc": "2.0", "method": "call",
                                    "params": {"payment_method_id": self.method, **params}})
            else:
                try:
                    result = self.call(http, "status", **params)
                except RuntimeError as e:  # a failing poll: the POS shows it and keeps polling
                    with self.lock:
                        self.errors_while_polling[str(e)[:60]] += 1
        if result["state"] == "paid":
            with self.lock:
                self.pos_paid[line] += 1
            self.book_sale(http, session, order_uuid, line, result["amount"])
        return result["state"]

    def book_sale(self, http, session, order_uuid, line, amount):
        """Book a paid sale, of two items where it can (a refund may return one of them: part of
        the order), and offer it to the cashiers for a refund."""
        first = round(amount * self.rng.uniform(0.2, 0.8), 2)
        items = [(first, 1, False), (round(amount - first, 2), 1, False)] if 0 < first < amount else None
        booked = self.book(http, session, order_uuid, line, amount, items)
        if booked:
            order, order_lines = booked
            with self.lock:
                self.refundable.append({"id": order["id"], "session": session,
                                        "lines": [(ol["id"], ol["price_unit"]) for ol in order_lines]})

    def refund(self, http, session, line, sale):
        """The cashier refunds part (one of its lines) or all of a paid order, paying the cash out
        at the drawer: the payout check, then the confirmation once paid out, then the refund order."""
        returned = sale["lines"] if len(sale["lines"]) == 1 or self.rng.random() < 0.25 else \
            [self.rng.choice(sale["lines"])]
        items = [(price, -1, line_id) for line_id, price in returned]
        amount = -round(sum(price for price, _qty, _id in items), 2)
        order_uuid = str(uuid.uuid4())
        params = {"session_id": session, "payment_uuid": line, "order_uuid": order_uuid}
        payout = dict(params, amount=amount, order_ref=f"Chaos {order_uuid[:8]} REFUND",
                      refunded_order_ids=[sale["id"]])
        for attempt in range(3):  # a failing check (Odoo restarting): the cashier tries again; a refusal stays
            self.maybe_fault("payout_check")  # CKMonitor's and Odoo's faults meanwhile (a payout never reaches it)
            try:
                check = self.call(http, "payout", **payout, confirmed=False)
                break
            except RuntimeError as e:
                if attempt == 2:
                    raise
                with self.lock:
                    self.errors_while_polling["payout: " + str(e)[:52]] += 1
                time.sleep(0.5)
        if check["ticket"] or check["state"] != "none":
            raise RuntimeError(f"the payout check recorded an entry: {check}")
        time.sleep(self.rng.uniform(0.05, 0.3))  # the cashier pays the cash out at the drawer
        result = self.confirm_payout(http, line, payout)
        withdraw = self.rng.random() < 0.1
        deadline = time.monotonic() + 60
        while result["state"] == "payout_waiting":  # a manager must confirm it
            if time.monotonic() > deadline:
                return "timeout_" + result["state"]
            time.sleep(0.1)
            action = "abandon" if withdraw and self.rng.random() < 0.2 else "status"
            try:
                result = self.call(http, action, **params)
            except RuntimeError as e:
                with self.lock:
                    self.errors_while_polling["payout: " + str(e)[:52]] += 1
        if result["state"] != "paid_out":
            return result["state"]
        with self.lock:
            self.pos_paid_out[line] += 1
        self.book(http, session, order_uuid, line, amount, items, refund=True)
        return "paid_out"

    def confirm_payout(self, http, line, payout):
        """The cashier confirms the cash was paid out (pressing it again while it fails), the POS
        faults acted out on it; every payout entry an answer named is noted for the reconciliation."""

        def confirm():
            return self.call(http, "payout", **payout, confirmed=True)

        for _ in range(5):  # a failing confirmation: the cashier presses it again
            fault = self.maybe_fault("payout_confirm")
            results = []
            try:
                if fault == "double_start":  # a double tap: two concurrent confirmations
                    results = self.concurrently(confirm, 2)
                elif fault == "network_drop":  # the confirmation's answer is lost: the POS sends it again
                    self.drop_answer(http, "payout", **payout, confirmed=True)
                    results = [confirm()]
                elif fault == "two_tabs":  # the POS reloads: the check finds the entry and follows it
                    results = [confirm(), self.call(http, "payout", **payout, confirmed=False)]
                else:
                    results = [confirm()]
                    if self.rng.random() < 0.2:  # a retry: the same confirmation once more
                        results.append(confirm())
            except RuntimeError as e:
                with self.lock:
                    self.errors_while_polling["payout: " + str(e)[:52]] += 1
            answers = [r for r in results if isinstance(r, dict)]
            with self.lock:
                self.payout_tickets[line].update(r["ticket"] for r in answers)
            if answers:
                return answers[-1]
            time.sleep(0.2)
        raise RuntimeError("the payout confirmation never got through")

    def book(self, http, session, order_uuid, line, amount, items=None, refund=False):
        """The POS validates the order of a completed line (or crashes first), maybe a forged one
        too. Returns the saved order and its lines, None when the POS crashed."""
        fault = self.maybe_fault("book")
        if fault == "forged_order":  # a second order claiming the same drawer cash
            forged = str(uuid.uuid4())
            with self.lock:
                self.forged.append(forged)
            order, _lines = self.sync_order(http, self.order_data(session, forged, line, amount, items, refund))
            if order["state"] != "draft" or not order["cashkeeper_refusal"]:
                raise RuntimeError(f"forged order came back {order['state']}, refusal {order['cashkeeper_refusal']}")
        if fault == "pos_crash":  # the POS crashed before syncing: the cash must be flagged
            return None
        data = self.order_data(session, order_uuid, line, amount, items, refund)
        if fault == "network_drop":  # the sync's answer is lost: the POS syncs the order again later
            with contextlib.suppress(requests.RequestException):
                self.sync_order(http, data, lose_answer=True)
            time.sleep(self.rng.uniform(0.2, 1.0))
        order, lines = self.sync_order(http, data)
        if order["state"] != "paid" or order["cashkeeper_refusal"]:
            raise RuntimeError(f"{'refund' if refund else 'order'} came back {order['state']}: "
                               f"{order['cashkeeper_refusal']}")
        return order, lines

    def wait_settled(self, timeout=60):
        """Until no ticket of the method may still take cash (or ``timeout``): the agent's last reports."""
        http = requests.Session()
        http.post(f"{self.url}/web/session/authenticate", timeout=30, json={
            "jsonrpc": "2.0", "params": {"db": self.odoo.db, "login": "admin", "password": "chaos"}})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            count = self.rpc(http, "/web/dataset/call_kw/pos.cashkeeper.ticket/search_count", {
                "model": "pos.cashkeeper.ticket", "method": "search_count", "kwargs": {},
                "args": [[("payment_method_id", "=", self.method), ("state", "in", list(OPEN))]]})
            if not count:
                return
            time.sleep(0.5)

    @staticmethod
    def concurrently(fn, n):
        results = [None] * n

        def run(i):
            try:
                results[i] = fn()
            except Exception as e:  # reported by the caller
                results[i] = e

        in_threads(run, [(i,) for i in range(n)])
        return results


def our_log_errors(lines):
    errors = []
    for i, line in enumerate(lines):
        if " ERROR " not in line:
            continue
        ours = "odoo.addons.pos_cashkeeper" in line or ("bad query" in line and "pos_cashkeeper" in line)
        cut_by_restart = i + 1 < len(lines) and "cursor already closed" in lines[i + 1]
        if ours and not cut_by_restart:
            errors.append(line)
    return errors


def reconcile(run, books, log):
    """Compare the ledger and the cashiers' view with what CKMonitor (the simulator) said and holds,
    the books (pos.payment) with the ledger, and each session's closing figures with both."""
    ledger = books["tickets"]
    by_name = {t["name"]: t for t in ledger}
    payouts = [t for t in ledger if t["purpose"] == "payout"]
    # CKMonitor answered OK|OK for these (even if it forgot them later, or the answer was lost).
    said_paid = {r.line[2:].strip().decode() for r in run.sim.requests
                 if r.line.startswith(b"S|") and r.reply == b"OK|OK\r\n"}
    paid_at_drawer = said_paid | {n for n, t in run.sim.tickets().items() if t.state is TicketState.PAID}
    # A ticket CKMonitor forgot after paying it, before anyone heard OK|OK, is an anomaly flagged
    # for the manager to check against the CashKeeper's own records: explained, not lost.
    lost = [n for n in paid_at_drawer if n not in by_name
            or by_name[n]["state"] not in ("paid", "paid_after_abandon", "anomaly")
            or (by_name[n]["state"] == "paid" and not run.pos_paid[by_name[n]["line"]])]
    lines_paid = collections.Counter(by_name[n]["line"] for n in paid_at_drawer if n in by_name)
    doubled = [line for line, n in lines_paid.items() if n > 1] + [line for line, n in run.pos_paid.items() if n > 1]
    # A refund line has one live payout entry, whatever the POS sent (double tap, retry, reload).
    payouts_per_line = collections.Counter(t["line"] for t in payouts if t["state"] in ("payout_waiting", "paid_out"))
    doubled += [f"payout:{line}" for line, n in payouts_per_line.items() if n > 1]
    doubled += [f"payout:{line}" for line, names in run.payout_tickets.items() if len(names) > 1]
    doubled += [f"refund:{line}" for line, n in run.pos_paid_out.items() if n > 1]
    unbacked = [t["name"] for t in ledger if t["state"] in ("paid", "paid_after_abandon")
                and t["name"] not in said_paid]
    unbacked += [f"line:{line}" for line in run.pos_paid if not any(
        t["line"] == line and t["state"] == "paid" for t in ledger)]
    unbacked += [f"refund:{line}" for line in run.pos_paid_out if not any(
        t["line"] == line and t["state"] == "paid_out" for t in payouts)]
    stuck = [t["name"] for t in ledger if t["state"] in (*OPEN, "payout_waiting")]
    payments = {p["id"]: p for p in books["payments"] if p["order_state"] not in ("draft", "cancel")}
    unbooked = [t["name"] for t in ledger if t["state"] in MOVED and not t["on_no_order"]
                and not (t["payment"] in payments and abs(payments[t["payment"]]["amount"] - t["amount"]) < 0.005)]
    # One to one: a payment is backed by the one ticket bound to it (pos_payment_id is unique).
    backing = {t["payment"]: t for t in ledger if t["payment"] and t["state"] in ("paid", "paid_out")}
    invented = [f"payment:{p['id']}" for p in payments.values() if p["id"] not in backing
                or abs(backing[p["id"]]["amount"] - p["amount"]) >= 0.005]
    # A forged order is kept as a draft carrying its refusal, without the payment nothing backs.
    forged = {o["uuid"]: o for o in books["forged"]}
    invented += [f"forged:{u}" for u in run.forged if u in forged and (
        forged[u]["state"] != "draft" or forged[u]["lines"] or not forged[u]["refusal"])]
    # A payout is declared, never sent: CKMonitor never hears of one.
    asked = b"".join(r.line for r in run.sim.requests)
    invented += [f"sent:{t['name']}" for t in payouts if t["name"].encode() in asked]
    # Each session's closing figures: what the drawer moved, less the books, is what is flagged.
    figures = []
    for session in run.sessions:
        said = books["figures"][str(session)]
        own = session_figures(session, ledger, books["payments"])
        figures += [f"{session}:{key}:{said[key]}!={own[key]:.2f}" for key in said
                    if abs(said[key] - own[key]) >= 0.005]
        gap = said["difference"] - own["flagged"]
        if abs(gap) >= 0.005:
            figures.append(f"{session}:difference {said['difference']:.2f} but flagged {own['flagged']:.2f}")
    errors = our_log_errors(Path(log).read_text(errors="replace").splitlines())
    return {"lost": lost, "doubled": doubled, "unbacked": unbacked, "stuck": stuck, "unbooked": unbooked,
            "invented": invented, "figures": figures, "log": errors}


def session_figures(session, ledger, payments):
    """A session's figures as the ledger and the books read here say them (payouts are negative)."""
    mine = [t for t in ledger if t["session"] == session]
    collected = sum(t["amount"] for t in mine if t["state"] in ("paid", "paid_after_abandon"))
    paid_out = -sum(t["amount"] for t in mine if t["state"] == "paid_out")
    booked = sum(p["amount"] for p in payments
                 if p["session"] == session and p["order_state"] not in ("draft", "cancel"))
    flagged = sum(t["amount"] for t in mine if t["state"] in MOVED and t["on_no_order"])
    return {"collected": collected, "paid_out": paid_out, "net": collected - paid_out, "booked": booked,
            "difference": collected - paid_out - booked, "flagged": flagged}


def print_report(run, books, problems, elapsed):
    ledger = books["tickets"]
    outcomes = collections.Counter(outcome for _, outcome in run.lines.values())
    refunds = collections.Counter(outcome for _, outcome in run.refunds.values())
    states = collections.Counter(f"{t['state']}" for t in ledger)
    print(f"\n{'payments':<28}{len(run.lines):>6}   and {len(run.refunds)} refunds, in {elapsed:.0f} s")
    print(f"{'drawer tickets':<28}{len(ledger) - sum(t['purpose'] == 'payout' for t in ledger):>6}"
          f"   and {sum(t['purpose'] == 'payout' for t in ledger)} payout entries")
    for name, counter in (("POS outcome", outcomes), ("refund outcome", refunds), ("ledger state", states),
                          ("fault injected", run.faults), ("manager", run.manager_actions), ("error", run.errors),
                          ("retried after error", run.errors_while_polling)):
        for key, count in sorted(counter.items()):
            print(f"{name + ': ' + key:<40}{count:>6}")
    flagged = [t for t in ledger if t["on_no_order"]]
    print(f"{'flagged: on no order':<40}{len(flagged):>6}  ({sum(t['amount'] for t in flagged):.2f})")
    booked = [p for p in books["payments"] if p["order_state"] not in ("draft", "cancel")]
    print(f"{'books: CashKeeper payments':<40}{len(booked):>6}  ({sum(p['amount'] < 0 for p in booked)} refunds)")
    print(f"{'books: forged orders kept as drafts':<40}{len(books['forged']):>6}")
    totals = collections.Counter()
    for session in run.sessions:
        totals.update(books["figures"][str(session)])
        totals["flagged"] += session_figures(session, ledger, books["payments"])["flagged"]
    print("figures    " + ", ".join(f"{key.replace('_', ' ')} {totals[key]:.2f}" for key in (
        "collected", "paid_out", "net", "booked", "flagged", "difference")))
    print(f"{'':11}(collected - paid out - booked = difference; the difference is what is flagged on no order)")
    for key in ("lost", "doubled", "unbacked", "stuck", "unbooked", "invented", "figures"):
        print(f"{key + ' =':<28}{len(problems[key]):>6}  {' '.join(problems[key][:5])}")
    print(f"{'log errors =':<28}{len(problems['log']):>6}")
    for line in problems["log"][:5]:
        print("  " + line[:300])
    by_name = {t["name"]: t for t in ledger}
    for name in sorted({n for key in problems for n in problems[key] if n in by_name})[:10]:
        row = by_name[name]
        seen = [f"{r.line.strip().decode()}->{(r.reply or b'-').strip().decode('ascii', 'replace')}"
                f"{'/' + r.fault.value if r.fault else ''}" for r in run.sim.requests if name.encode() in r.line]
        pos = run.lines.get(row["line"]) or run.refunds.get(row["line"]) or ("", "?")
        print(f"  {name}: ledger {row['purpose']} {row['state']} (attempts {row['attempts']}, "
              f"{row['error'] or 'no error'}); POS {pos[1]}; CKMonitor saw {', '.join(seen) or 'nothing'}")


def play(args, odoo, tmp):
    """Set up, start Odoo (and in cloud mode nginx and the agent), let the cashiers pay, settle
    the drawer, stop everything, read the books. Returns (run, books, seconds)."""
    with Simulator(port=0, pay_after=None) as sim:
        setup = odoo.shell(SETUP.format(port=sim.port), "CHAOS-SETUP")
        proxy = agent = None
        if args.cloud:
            cloud = odoo.shell(CLOUD_SETUP.format(), "CHAOS-CLOUD")
            setup.update(method=cloud["method"], sessions=cloud["sessions"], pricelists=cloud["pricelists"])
            odoo.start("--workers=2")
            proxy = Nginx(odoo)
            agent = start_agent(proxy.url, cloud["key"], sim.port, tmp / "agent.log", database=odoo.db,
                                ckmonitor_connect_timeout=0.5, ckmonitor_read_timeout=0.5, status_interval=0.1)
        else:
            odoo.start()
        run = Run(args, odoo, sim, setup, proxy)
        stop = threading.Event()
        helpers = [threading.Thread(target=role, args=(stop,), daemon=True) for role in (run.drawer, run.manager)]
        for helper in helpers:
            helper.start()
        started = time.monotonic()
        # Half the cashiers are managers (their payouts count as confirmed), half plain POS users.
        cashiers = [threading.Thread(target=run.cashier, args=("chaos_cashier" if i % 2 else "admin",))
                    for i in range(args.concurrency)]
        for c in cashiers:
            c.start()
        for c in cashiers:
            c.join()
        elapsed = time.monotonic() - started
        stop.set()
        for helper in helpers:
            helper.join(timeout=120)
        sim.clear_faults()
        sim.settle_all(TicketState.PAID)  # customers who paid after the cashier gave up
        if agent:
            run.wait_settled()  # the agent reports what the drawer did since
            stop_all([agent])
            proxy.stop()
        odoo.stop()
        books = odoo.shell(RECONCILE.format(method=setup["method"], forged=run.forged, sessions=run.sessions),
                           "CHAOS-LEDGER")
    return run, books, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=200, help="cashiers' operations: sales and refunds")
    parser.add_argument("--refund-rate", type=float, default=0.2,
                        help="share of the operations that refund a paid order, once there is one (default 0.2)")
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--restarts", type=int, default=1, help="Odoo restarts to inject at most (default 1)")
    parser.add_argument("--db", help="existing database with pos_cashkeeper installed (default: a new one)")
    parser.add_argument("--data-dir", help="Odoo data dir of --db")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--cloud", action="store_true", help="through the on-site agent, Odoo behind nginx")
    args = parser.parse_args()
    args.seed = args.seed if args.seed is not None else random.randrange(10**6)

    tmp = Path(tempfile.mkdtemp(prefix="ck-chaos-"))
    log = tmp / "odoo.log"
    db = args.db or f"ck_chaos_{os.getpid()}"
    odoo = Odoo(db, args.data_dir or tmp / "data", log)
    print(f"chaos: seed {args.seed}, {args.payments} payments (refund rate {args.refund_rate}), "
          f"fault rate {args.fault_rate}, "
          f"{args.concurrency} cashiers, up to {args.restarts} Odoo restart(s)"
          f"{', cloud mode (agent, nginx, 2 workers)' if args.cloud else ''}; log {log}", flush=True)
    if not args.db:
        print(f"chaos: creating database {db} (about a minute)", flush=True)
        odoo.install()
    run, books, elapsed = play(args, odoo, tmp)
    if not args.db:
        subprocess.run(["dropdb", "--if-exists", db], check=False)
    problems = reconcile(run, books, log)

    print_report(run, books, problems, elapsed)
    ok = not any(problems.values()) and len(run.lines) + len(run.refunds) == args.payments and not run.errors
    print("chaos: OK" if ok else "chaos: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
