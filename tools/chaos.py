"""Chaos run: many CashKeeper payments through the real controller while faults are injected.

    tools/dev chaos [--payments 200] [--fault-rate 0.3] [--concurrency 4] [--db NAME] [--seed N] [--cloud]

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
  Odoo side:      odoo_restart (the server stops and starts again while the drawer keeps taking
                  cash; at most --restarts times). Cashiers keep retrying while Odoo is down,
                  as the POS does.

--cloud: the same through the real on-site agent (agent/) on Odoo as it runs in production
(prefork, 2 workers, nginx in front, the agent listening on Odoo's bus websocket). Odoo-side
faults there: odoo_restart (workers and websocket worker restart: the agent's websocket drops,
its calls fail meanwhile) and ws_drop (nginx restarts: every connection, the websocket included,
is cut).

A cashier whose line completed syncs its order as the POS does (pos.order.sync_from_ui), except
when the POS "crashes" first (pos_crash: that cash must end up flagged), and sometimes a forged
order is sent too (forged_order: a CashKeeper payment no paid ticket backs, which must be refused).

At the end every ticket still pending at the drawer is settled, the ledger's watch cron runs
once, paid tickets on no order are flagged (as closing does), and the run is reconciled against
CKMonitor's (the simulator's) own ticket table and against the books:

  lost      a ticket CKMonitor holds as paid (or answered OK|OK for) whose line the POS did not
            complete, and which the ledger does not flag as paid after abandon
  doubled   a payment line with more than one ticket paid at the drawer, or completed twice
  unbacked  a ledger ticket marked paid, or a POS line completed, without CKMonitor's OK|OK
  stuck     a ledger ticket still open (may take cash) with no explanation
  unbooked  a paid ticket neither on exactly one pos.payment of its amount nor flagged
  invented  a pos.payment of the CashKeeper method that no paid ticket of its amount backs
  log       an ERROR line of ours in Odoo's log: a failed query on the ledger, or our module's
            (a double click's retried conflict is not an error; a query cut by the injected Odoo
            restart, or Odoo's own errors, are not ours)
Exits non-zero unless all are 0.
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
from odoo_harness import Nginx, Odoo, start_agent, stop_all  # noqa: E402

from ckfast.simulator import Simulator, TicketState  # noqa: E402

SIM_FAULTS = ["refuse", "reset", "close", "delay", "garbage", "half", "silent", "forget"]
POS_FAULTS = ["double_start", "two_tabs", "network_drop", "pos_crash", "forged_order"]
SERVER_FAULTS = ["odoo_restart"]
CLOUD_FAULTS = ["ws_drop"]
FINAL = {"paid", "cancelled", "failed", "anomaly", "paid_after_abandon"}
OPEN = ("new", "queued", "pending", "abandoned")

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
}})
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
print("CHAOS-LEDGER " + json.dumps({{
    "tickets": [{{"name": t.name, "state": t.state, "line": t.payment_uuid, "amount": t.amount,
                 "attempts": t.attempts, "error": t.last_error or "", "on_no_order": t.on_no_order,
                 "payment": t.pos_payment_id.id, "order_state": t.pos_payment_id.pos_order_id.state or ""}}
                for t in rows],
    "payments": [{{"id": p.id, "line": p.uuid, "amount": p.amount, "order_state": p.pos_order_id.state}}
                 for p in payments],
}}))
"""


class Run:
    def __init__(self, args, odoo, sim, setup, proxy=None):
        self.args, self.odoo, self.sim, self.proxy = args, odoo, sim, proxy
        self.url = proxy.url if proxy else odoo.url  # the tills go through nginx in cloud mode
        self.odoo_args = ("--workers=2",) if proxy else ()
        self.method, self.sessions, self.product = setup["method"], setup["sessions"], setup["product"]
        self.pricelists = dict(zip(setup["sessions"], setup["pricelists"], strict=True))
        self.forged_accepted = []  # forged orders Odoo saved (must stay empty)
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()
        self.faults = collections.Counter()
        self.pos_paid = collections.Counter()  # line -> times the POS completed it
        self.lines = {}  # line -> (session, outcome as the POS saw it)
        self.errors = collections.Counter()
        self.errors_while_polling = collections.Counter()
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

    # -- faults -------------------------------------------------------------------------------
    def maybe_fault(self, line_ticket=None):
        """Maybe inject one fault; return a POS-side fault name for the caller to act out."""
        with self.lock:
            if self.rng.random() >= self.args.fault_rate:
                return None
            restarts_left = self.faults["odoo_restart"] + self.faults["ws_drop"] < self.args.restarts
            server = SERVER_FAULTS + (CLOUD_FAULTS if self.proxy else [])
            kind = self.rng.choice(SIM_FAULTS + POS_FAULTS + (server if restarts_left else []))
            self.faults[kind] += 1
        if kind in POS_FAULTS:
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
        return body["result"]

    def cashier(self):
        http = requests.Session()
        auth = http.post(f"{self.url}/web/session/authenticate", timeout=30, json={
            "jsonrpc": "2.0", "params": {"db": self.odoo.db, "login": "admin", "password": "chaos"}}).json()
        if "error" in auth:
            sys.exit(f"chaos: login failed: {auth['error']}")
        for _ in self.counter:
            session = self.rng.choice(self.sessions)
            line = str(uuid.uuid4())
            amount = round(self.rng.uniform(0.05, 300), 2)
            try:
                outcome = self.pay(http, session, line, amount)
            except (RuntimeError, requests.RequestException) as e:
                outcome = "error"
                with self.lock:
                    self.errors[str(e)[:80]] += 1
            with self.lock:
                self.lines[line] = (session, outcome)

    def sync_order(self, http, session, order_uuid, line, amount):
        """pos.order.sync_from_ui with one CashKeeper payment, as the POS sends a validated order."""
        now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        order = {
            "uuid": order_uuid, "access_token": str(uuid.uuid4()), "name": f"Chaos {order_uuid[:8]}",
            "session_id": session, "pricelist_id": self.pricelists[session], "fiscal_position_id": False,
            "sequence_number": 1, "date_order": now, "amount_paid": amount, "amount_return": 0, "amount_tax": 0,
            "amount_total": amount, "last_order_preparation_change": "{}", "state": "paid",
            "lines": [[0, 0, {"product_id": self.product, "qty": 1, "price_unit": amount, "price_subtotal": amount,
                              "price_subtotal_incl": amount, "discount": 0, "tax_ids": [[6, 0, []]],
                              "pack_lot_ids": [], "uuid": str(uuid.uuid4())}]],
            "payment_ids": [[0, 0, {"amount": amount, "name": now, "payment_method_id": self.method, "uuid": line,
                                    "payment_status": "done"}]],
        }
        return self.rpc(http, "/web/dataset/call_kw/pos.order/sync_from_ui", {
            "model": "pos.order", "method": "sync_from_ui", "args": [[order]], "kwargs": {}})

    def pay(self, http, session, line, amount):
        order_uuid = str(uuid.uuid4())
        params = {"session_id": session, "payment_uuid": line, "order_uuid": order_uuid}
        start = dict(params, amount=amount, order_ref="chaos")
        result = None
        for _ in range(20):  # the cashier presses Retry while CKMonitor cannot be reached
            fault = self.maybe_fault()
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
            fault = self.maybe_fault(result.get("ticket"))
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
            self.book(http, session, order_uuid, line, result["amount"])
        return result["state"]

    def book(self, http, session, order_uuid, line, amount):
        """The POS validates the order of a completed line (or crashes first), maybe a forged one too."""
        fault = self.maybe_fault()
        if fault == "forged_order":  # a second order claiming the same drawer cash
            with contextlib.suppress(RuntimeError):
                self.sync_order(http, session, str(uuid.uuid4()), line, amount)
                with self.lock:
                    self.forged_accepted.append(line)
        if fault != "pos_crash":  # the POS crashed before syncing: the cash must be flagged
            self.sync_order(http, session, order_uuid, line, amount)

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

        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
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
    and the books (pos.payment) with the ledger."""
    ledger = books["tickets"]
    by_name = {t["name"]: t for t in ledger}
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
    unbacked = [t["name"] for t in ledger if t["state"] in ("paid", "paid_after_abandon")
                and t["name"] not in said_paid]
    unbacked += [f"line:{line}" for line in run.pos_paid if not any(
        t["line"] == line and t["state"] == "paid" for t in ledger)]
    stuck = [t["name"] for t in ledger if t["state"] in OPEN]
    payments = {p["id"]: p for p in books["payments"] if p["order_state"] not in ("draft", "cancel")}
    unbooked = [t["name"] for t in ledger if t["state"] in ("paid", "paid_after_abandon") and not t["on_no_order"]
                and not (t["payment"] in payments and abs(payments[t["payment"]]["amount"] - t["amount"]) < 0.005)]
    backing = {t["payment"]: t for t in ledger if t["payment"] and t["state"] == "paid"}
    invented = [f"payment:{p['id']}" for p in payments.values() if p["id"] not in backing
                or abs(backing[p["id"]]["amount"] - p["amount"]) >= 0.005]
    invented += [f"forged:{line}" for line in run.forged_accepted]
    errors = our_log_errors(Path(log).read_text(errors="replace").splitlines())
    return {"lost": lost, "doubled": doubled, "unbacked": unbacked, "stuck": stuck, "unbooked": unbooked,
            "invented": invented, "log": errors}


def print_report(run, books, problems, elapsed):
    ledger = books["tickets"]
    outcomes = collections.Counter(outcome for _, outcome in run.lines.values())
    states = collections.Counter(t["state"] for t in ledger)
    print(f"\n{'payments':<28}{len(run.lines):>6}   in {elapsed:.0f} s")
    print(f"{'drawer tickets':<28}{len(ledger):>6}")
    for name, counter in (("POS outcome", outcomes), ("ledger state", states), ("fault injected", run.faults),
                          ("error", run.errors), ("retried after error", run.errors_while_polling)):
        for key, count in sorted(counter.items()):
            print(f"{name + ': ' + key:<40}{count:>6}")
    flagged = [t for t in ledger if t["on_no_order"]]
    print(f"{'flagged: on no order':<40}{len(flagged):>6}  ({sum(t['amount'] for t in flagged):.2f})")
    print(f"{'books: CashKeeper payments':<40}{len(books['payments']):>6}")
    for key in ("lost", "doubled", "unbacked", "stuck", "unbooked", "invented"):
        print(f"{key + ' =':<28}{len(problems[key]):>6}  {' '.join(problems[key][:5])}")
    print(f"{'log errors =':<28}{len(problems['log']):>6}")
    for line in problems["log"][:5]:
        print("  " + line[:300])
    by_name = {t["name"]: t for t in ledger}
    for name in sorted({n for key in problems for n in problems[key] if n in by_name})[:10]:
        row = by_name[name]
        seen = [f"{r.line.strip().decode()}->{(r.reply or b'-').strip().decode('ascii', 'replace')}"
                f"{'/' + r.fault.value if r.fault else ''}" for r in run.sim.requests if name.encode() in r.line]
        print(f"  {name}: ledger {row['state']} (attempts {row['attempts']}, {row['error'] or 'no error'}); "
              f"POS {run.lines.get(row['line'], ('', '?'))[1]}; CKMonitor saw {', '.join(seen)}")


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
        drawer = threading.Thread(target=run.drawer, args=(stop,), daemon=True)
        drawer.start()
        started = time.monotonic()
        cashiers = [threading.Thread(target=run.cashier) for _ in range(args.concurrency)]
        for c in cashiers:
            c.start()
        for c in cashiers:
            c.join()
        elapsed = time.monotonic() - started
        stop.set()
        sim.clear_faults()
        sim.settle_all(TicketState.PAID)  # customers who paid after the cashier gave up
        if agent:
            run.wait_settled()  # the agent reports what the drawer did since
            stop_all([agent])
            proxy.stop()
        odoo.stop()
        books = odoo.shell(RECONCILE.format(method=setup["method"]), "CHAOS-LEDGER")
    return run, books, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=200)
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
    print(f"chaos: seed {args.seed}, {args.payments} payments, fault rate {args.fault_rate}, "
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
    ok = not any(problems.values()) and len(run.lines) == args.payments and not run.errors
    print("chaos: OK" if ok else "chaos: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
