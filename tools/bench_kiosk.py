"""Kiosk part of the benchmark (tools/bench.py runs it in the same run): customers of Odoo's
self-order kiosk tapping Pay on a CashKeeper, through the kiosk's public routes (no login:
the kiosk's access token and the order's), on a prefork Odoo with 2 workers behind nginx.

Three runs on one server: no customer; 8 customers, each at a kiosk of its own, the 8 kiosks on
one drawer that answers (it never gets the cash: the first customer's ticket waits, the others
are told the drawer is busy); the same on a drawer that accepts connections and never replies
(hung CKMonitor, a firewall dropping replies). Each customer POSTs
``/kiosk/payment/<config>/kiosk`` with an order of its own, follows an answer that is not final
with ``/pos_cashkeeper/kiosk/status`` every 250 ms (the kiosk page's pace while the drawer
answers; it backs off when the drawer is slow, the benchmark does not) and taps Try again 1 s
after a final answer (busy, does not answer, ...). Measured, over 20 s at least: another user's
trivial request (JSON-RPC, as in tools/bench_hung.py), median and p95; the kiosk's answers by
state; how long the kiosk's calls held a worker (server side, from Odoo's request log: p95 and
longest) against the method's status timeout; how many workers hold a connection to the drawer.
Kiosks on a third drawer warm both workers up first.

The kiosk needs ``pos_self_order_cashkeeper`` (which brings Odoo's ``pos_self_order``): it runs
on a database of its own, so the other parts keep measuring a shop without a kiosk.
"""

import collections
import json
import re
import subprocess
import threading
import time
import uuid
from types import SimpleNamespace

import requests
from bench_hung import workers_on_the_drawer
from odoo_harness import Nginx, Odoo

from ckfast.simulator import Simulator

KIOSK_MODULE = "pos_self_order_cashkeeper"
CUSTOMERS = 8
SAMPLES = 30
SECONDS = 20  # at least: a few of the customers' Try again cycles, and the longest drawer timeout
POLL_S = 0.25  # the kiosk page's status pace while the drawer answers
TRY_AGAIN_S = 1.0  # a customer told "busy" (or "does not answer") taps Try again after this
CALL_TIMEOUT = 60
# Odoo's request log: '"POST <route> HTTP/1.1" 200 - <queries> <SQL s> <other s>'
KIOSK_CALL = re.compile(r'"POST (/kiosk/payment/\d+/kiosk|/pos_cashkeeper/kiosk/status) HTTP/1\.[01]" '
                        r'\d+ - \d+ ([\d.]+) ([\d.]+)')

# Run in `odoo-bin shell` after the lines `DRAWERS = {name: CKFast port}` and `KIOSKS = n`: per
# drawer a CashKeeper method (default timeouts, as a shop leaves them) and n kiosks offering it
# (pay after each order, at the counter), their sessions open: one customer per kiosk, as in a
# shop (two orders saved at once in one session conflict on the session's row, and Odoo retries
# one after a random pause of up to seconds: that is not the drawer's doing). New kiosks every
# run (an existing --kiosk-db too): tickets a run left open on a drawer must not make the next
# run's customers wait.
KIOSK_SETUP = """
import json
from odoo import Command
from odoo.addons.pos_cashkeeper.models.cashkeeper_transport import STATUS_TIMEOUT
admin = env.ref("base.user_admin")
company = admin.company_id
journal = env["account.journal"].search([("code", "=", "CKB"), ("company_id", "=", company.id)], limit=1) \\
    or env["account.journal"].create({"name": "CashKeeper kiosk bench", "type": "bank", "code": "CKB",
                                      "company_id": company.id})
product = env["product.product"].search([("name", "=", "Kiosk bench burger")], limit=1) \\
    or env["product.product"].create({"name": "Kiosk bench burger", "list_price": 4.2, "taxes_id": [(5, 0, 0)],
                                      "available_in_pos": True, "self_order_available": True})
run = str(env["pos.config"].search_count([]))
kiosks = {}
for name, port in DRAWERS.items():
    method = env["pos.payment.method"].create({
        "name": f"CashKeeper kiosk bench {name} {run}", "journal_id": journal.id, "payment_method_type": "terminal",
        "use_payment_terminal": "cashkeeper", "cashkeeper_host": "127.0.0.1", "cashkeeper_port": port,
        "company_id": company.id,
    })
    kiosks[name] = []
    for i in range(KIOSKS):
        config = env["pos.config"].create({
            "name": f"Kiosk bench {name} {run}-{i + 1}", "self_ordering_mode": "kiosk",
            "self_ordering_default_user_id": admin.id, "self_ordering_pay_after": "each",
            "self_ordering_service_mode": "counter", "self_ordering_takeaway": False,
            "payment_method_ids": [Command.set(method.ids)], "company_id": company.id,
        })
        config.with_user(admin).open_ui()
        config.current_session_id.set_opening_control(0, "")
        kiosks[name].append({"config": config.id, "token": config.access_token, "session": config.current_session_id.id,
                             "company": company.id, "pricelist": config.pricelist_id.id, "method": method.id,
                             "status_timeout": min(STATUS_TIMEOUT, method.cashkeeper_read_timeout)})
env.cr.commit()
print("KIOSK-BENCH " + json.dumps({"kiosks": kiosks, "product": product.id, "price": product.lst_price}))
"""


class Customer:
    """One customer at the kiosk, as the kiosk's browser calls the server: Pay, follow the
    answer, Try again after a final one; until ``stop``. Tallies the answers in ``tally``."""

    def __init__(self, url, kiosk, product, price, tally, lock):
        self.url, self.kiosk, self.tally, self.lock = url, kiosk, tally, lock
        self.http = requests.Session()
        self.order = {
            "uuid": str(uuid.uuid4()), "session_id": kiosk["session"], "config_id": kiosk["config"],
            "company_id": kiosk["company"], "pricelist_id": kiosk["pricelist"],
            "lines": [[0, 0, {"uuid": str(uuid.uuid4()), "product_id": product, "qty": 1, "price_unit": price,
                              "price_subtotal": price, "price_subtotal_incl": price, "tax_ids": [],
                              "full_product_name": "Kiosk bench burger"}]],
            "amount_total": price, "amount_tax": 0, "amount_paid": 0, "amount_return": 0, "state": "draft",
        }
        self.saved = None  # {id, access_token} once Odoo saved the order

    def call(self, route, **params):
        body = self.http.post(f"{self.url}{route}", timeout=CALL_TIMEOUT, json={
            "jsonrpc": "2.0", "method": "call", "id": 1, "params": params}).json()
        if "error" in body:
            raise RuntimeError(body["error"]["data"]["message"])
        return body["result"]

    def note(self, call, state):
        with self.lock:
            self.tally[call, state] += 1

    def pay(self):
        """Tap Pay (Try again: the order Odoo saved, its lines unchanged)."""
        order = {**self.order, "lines": [], **self.saved} if self.saved else self.order
        try:
            result = self.call(f"/kiosk/payment/{self.kiosk['config']}/kiosk", order=order,
                               payment_method_id=self.kiosk["method"], access_token=self.kiosk["token"])
        except Exception:  # counted; the customer taps again
            self.note("pay", "error")
            return None
        saved = result["order"][0]
        self.saved = {"id": saved["id"], "access_token": saved["access_token"]}
        answer = result["payment_status"]
        self.note("pay", answer["state"])
        return answer

    def status(self):
        try:
            answer = self.call("/pos_cashkeeper/kiosk/status", access_token=self.kiosk["token"],
                               order_access_token=self.saved["access_token"])
        except Exception:  # counted; the kiosk keeps asking (the drawer may take the cash)
            self.note("status", "error")
            return None
        self.note("status", answer["state"])
        return answer

    def run(self, stop):
        while not stop.is_set():
            answer = self.pay()
            while self.saved and not stop.is_set() and (answer is None or not answer["final"]
                                                        or answer["state"] == "abandoned"):
                stop.wait(POLL_S)
                if not stop.is_set():
                    answer = self.status()
            stop.wait(TRY_AGAIN_S)


def server_seconds(odoo, start):
    """Server-side seconds of each kiosk call logged since byte ``start`` of Odoo's log."""
    with open(odoo.log, "rb") as log:
        log.seek(start)
        text = log.read().decode("utf-8", "replace")
    return [float(sql) + float(other) for _, sql, other in KIOSK_CALL.findall(text)]


def other_user_latency(url, samples, seconds):
    """bench_hung's other user (a trivial JSON-RPC, one after the other, 50 ms apart) for at
    least ``samples`` requests and ``seconds``: latencies in ms."""
    http, out, until = requests.Session(), [], time.monotonic() + seconds
    while len(out) < samples or time.monotonic() < until:
        started = time.monotonic()
        http.post(f"{url}/web/webclient/version_info", timeout=CALL_TIMEOUT, json={"jsonrpc": "2.0", "params": {}})
        out.append((time.monotonic() - started) * 1000)
        time.sleep(0.05)
    return out


def warm_up(url, setup, seconds=4.0):
    """Customers at the warm-up kiosks (a drawer of their own) until each worker has served the
    kiosk's routes: a worker's first kiosk call takes a second or more."""
    tally, stop = collections.Counter(), threading.Event()
    people = [Customer(url, kiosk, setup["product"], setup["price"], tally, threading.Lock())
              for kiosk in setup["kiosks"]["warm-up"][:4]]
    threads = [threading.Thread(target=c.run, args=(stop,), daemon=True) for c in people]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(CALL_TIMEOUT + 30)


def measure(odoo, front, setup, drawer, sim, customers, samples, seconds):
    """``customers`` customers paying, one per kiosk, at the kiosks of ``drawer`` (its simulator
    ``sim``) while another user's trivial request is timed through ``front`` (nginx)."""
    kiosks = setup["kiosks"][drawer]
    tally, lock, stop = collections.Counter(), threading.Lock(), threading.Event()
    log_start = odoo.log.stat().st_size
    people = [Customer(front.url, kiosks[i % len(kiosks)], setup["product"], setup["price"], tally, lock)
              for i in range(customers)]
    threads = [threading.Thread(target=c.run, args=(stop,), daemon=True) for c in people]
    for t in threads:
        t.start()
    time.sleep(2.0 if customers else 0)  # the customers are under way
    other_user_latency(front.url, 3, 0)  # warm-up: both workers have served once
    busy = []
    sampler = threading.Thread(target=workers_on_the_drawer, args=(odoo, sim.port, stop, busy), daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        ms = other_user_latency(front.url, samples, seconds if customers else 0)
    finally:
        elapsed = time.monotonic() - started
        stop.set()
        for t in [*threads, sampler]:
            t.join(CALL_TIMEOUT + 30)
    time.sleep(0.5)  # the last calls' log lines
    return {"ms": ms, "busy": busy, "tally": dict(tally), "server_s": server_seconds(odoo, log_start),
            "seconds": elapsed, "status_timeout": kiosks[0]["status_timeout"]}


def bench_kiosk(db, data_dir, log, pct, smoke=False, existing=False):
    """{run: figures} for run in none / answering / hung, on database ``db`` (a new one with the
    kiosk bridge unless ``existing``; a new one is dropped afterwards)."""
    samples, seconds = (8, 3) if smoke else (SAMPLES, SECONDS)
    odoo = Odoo(db, data_dir, log)
    if not existing:
        print(f"bench: creating database {db} with the kiosk bridge; log {log}", flush=True)
        odoo.install(KIOSK_MODULE)
    results = {}
    try:
        with Simulator(port=0, pay_after=None) as answering, Simulator(port=0, pay_after=None) as hung, \
                Simulator(port=0, pay_after=None) as spare:
            drawers = {"warm-up": spare.port, "answering": answering.port, "hung": hung.port}
            setup = odoo.shell(f"DRAWERS = {json.dumps(drawers)}\nKIOSKS = {CUSTOMERS}\n" + KIOSK_SETUP, "KIOSK-BENCH")
            hung.inject("silent")  # accepts connections, never replies
            odoo.start("--workers=2")
            proxy = Nginx(odoo)
            front = SimpleNamespace(url=proxy.url, db=odoo.db)
            try:
                warm_up(front.url, setup)
                for run, drawer, sim, customers in (("none", "answering", answering, 0),
                                                    ("answering", "answering", answering, CUSTOMERS),
                                                    ("hung", "hung", hung, CUSTOMERS)):
                    results[run] = measure(odoo, front, setup, drawer, sim, customers, samples, seconds)
                    results[run].update(customers=customers, p50=pct(results[run]["ms"], 50),
                                        p95=pct(results[run]["ms"], 95), server_p95=pct(results[run]["server_s"], 95))
            finally:
                proxy.stop()
                odoo.stop()
    finally:
        odoo.stop()
        if not existing:
            subprocess.run(["dropdb", "--if-exists", db], check=False)
    return results


def _answers(tally, call):
    counts = sorted(((state, n) for (c, state), n in tally.items() if c == call), key=lambda sn: (-sn[1], sn[0]))
    return ", ".join(f"{state} {n}" for state, n in counts) or "-"


def report_kiosk(results):
    """Print the kiosk figures; return the target checks [(name, met)]."""
    none, answering, hung = results["none"], results["answering"], results["hung"]
    timeout = hung["status_timeout"]
    print(f"\nkiosk: {CUSTOMERS} customers tapping Pay, each at a kiosk of its own, the kiosks on one drawer "
          f"(public routes, Odoo with 2 workers behind nginx; status every {POLL_S * 1000:.0f} ms, Try again "
          f"{TRY_AGAIN_S:.0f} s after a final answer): another user's trivial request; workers tied up by the "
          f"drawer (mean / max of samples every 100 ms); the kiosk's calls and how long they held a worker "
          f"(server side; status timeout {timeout:g} s)")
    print(f"{'':<28}{'others p50':>11}{'p95 (ms)':>10}{'busy':>11}{'kiosk calls':>13}{'p95':>7}{'longest (s)':>13}")
    for label, r in (("no customer", none), (f"{CUSTOMERS} customers, answering", answering),
                     (f"{CUSTOMERS} customers, hung", hung)):
        busy = f"{sum(r['busy']) / max(1, len(r['busy'])):.1f} / {max(r['busy'], default=0)}"
        calls = f"{r['server_p95']:>7.2f}{max(r['server_s']):>13.2f}" if r["server_s"] else f"{'-':>7}{'-':>13}"
        print(f"{label:<28}{r['p50']:>11.0f}{r['p95']:>10.0f}{busy:>11}{len(r['server_s']):>13}{calls}")
    for label, r in (("answering", answering), ("hung", hung)):
        print(f"  {label + ':':<11} Pay answered {_answers(r['tally'], 'pay')}; "
              f"status answered {_answers(r['tally'], 'status')} ({len(r['ms'])} requests of the other user "
              f"over {r['seconds']:.0f} s)")
    base = answering["p95"]
    slack = 0.2  # Odoo's own work around the drawer exchanges (the order, SQL, the answer)
    return [("kiosk hung drawer: others within 20 % (or 20 ms) of the answering drawer",
             hung["p95"] <= max(base * 1.2, base + 20)),
            (f"kiosk hung drawer: no public call held a worker longer than the status timeout ({timeout:g} s, "
             f"+ {slack:g} s)", max(hung["server_s"], default=0) <= timeout + slack)]
