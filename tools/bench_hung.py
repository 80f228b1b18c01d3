"""Hung-drawer part of the benchmark (tools/bench.py runs it in the same run): a CKMonitor that
accepts connections and never answers (hung service, firewall dropping replies), and tills
polling their pending tickets on it as the POS does (every 250 ms), on a prefork Odoo with 2
workers (a small hosted plan) behind nginx. Measured: another user's trivial request (JSON-RPC),
median and p95, with 0, 2, 4 and 8 tills waiting, and the same with a refusing drawer, and how
many of the workers the drawer ties up over time; side by side with the drawer guard off
(pos_cashkeeper.drawer_guard = off), the behaviour before it existed.
"""

import contextlib
import threading
import time
import uuid
from types import SimpleNamespace

import psutil
import requests
from odoo_harness import Nginx

from ckfast.simulator import Simulator

HUNG_SETUP = """
import json
company = env.ref("base.user_admin").company_id
journal = env["account.journal"].search([("code", "=", "CKX"), ("company_id", "=", company.id)], limit=1)
method = env["pos.payment.method"].create({{
    "name": "CashKeeper hung", "journal_id": journal.id, "payment_method_type": "terminal",
    "use_payment_terminal": "cashkeeper", "cashkeeper_host": "127.0.0.1", "cashkeeper_port": {port},
    "company_id": company.id,
}})
config = env["pos.config"].create({{"name": "Hung drawer", "payment_method_ids": [(6, 0, method.ids)]}})
config.with_user(env.ref("base.user_admin")).open_ui()
config.current_session_id.set_opening_control(0, "")
env.cr.commit()
print("HUNG-SETUP " + json.dumps({{"method": method.id, "session": config.current_session_id.id}}))
"""
GUARD = """
env["ir.config_parameter"].set_param("pos_cashkeeper.drawer_guard", "{value}")
env.cr.commit()
print("HUNG-GUARD {{}}")
"""
TILLS = (0, 2, 4, 8)
SAMPLES = 30


def latencies(call, samples):
    """``call()`` ``samples`` times, one after the other, 50 ms apart: latencies in ms."""
    out = []
    for _ in range(samples):
        started = time.monotonic()
        call()
        out.append((time.monotonic() - started) * 1000)
        time.sleep(0.05)
    return out


def other_user_latency(url, samples):
    """A trivial JSON-RPC every user makes, one after the other: latencies in ms."""
    http = requests.Session()
    return latencies(lambda: http.post(f"{url}/web/webclient/version_info", timeout=60,
                                       json={"jsonrpc": "2.0", "params": {}}), samples)


def measure(odoo, front, make_bench, sim, setup, tills, fault, samples):
    """``tills`` tills polling a pending ticket each on the drawer in ``fault`` mode, through
    ``front`` (nginx)."""
    bench = make_bench(setup["method"], front)
    sim.clear_faults()
    lines = []
    for _ in range(tills):
        params = {"session_id": setup["session"], "payment_uuid": str(uuid.uuid4()), "order_uuid": str(uuid.uuid4())}
        bench.call("start", amount=1, order_ref="bench", **params)
        lines.append(params)
    if tills:
        sim.inject(fault)
    stop = threading.Event()

    def till(params):
        while not stop.is_set():
            with contextlib.suppress(Exception):  # a till keeps polling whatever Odoo answers
                bench.call("status", **params)
            stop.wait(0.25)

    threads = [threading.Thread(target=till, args=(p,), daemon=True) for p in lines]
    for t in threads:
        t.start()
    time.sleep(2.0 if tills else 0)  # the tills are under way
    other_user_latency(front.url, 3)  # warm-up: both workers have served once
    busy = []
    sampler = threading.Thread(target=workers_on_the_drawer, args=(odoo, sim.port, stop, busy), daemon=True)
    sampler.start()
    try:
        return other_user_latency(front.url, samples), busy
    finally:
        stop.set()
        for t in [*threads, sampler]:
            t.join(30)
        sim.clear_faults()


def workers_on_the_drawer(odoo, port, stop, out):
    """Every 100 ms: how many of Odoo's HTTP workers hold a connection to the drawer (tied up by it)."""
    parent = psutil.Process(odoo.proc.pid)
    while not stop.wait(0.1):
        count = 0
        for worker in parent.children():
            with contextlib.suppress(psutil.Error):
                count += any(c.raddr and c.raddr.port == port for c in worker.connections(kind="tcp"))
        out.append(count)


def bench_hung(odoo, make_bench, pct, smoke=False):
    """Returns {(guard, fault, tills): (median, p95)} for guard in on/off."""
    samples = 8 if smoke else SAMPLES
    tills_levels = (0, 2) if smoke else TILLS
    results = {}
    with Simulator(port=0, pay_after=None) as sim:
        setup = odoo.shell(HUNG_SETUP.format(port=sim.port), "HUNG-SETUP")
        for guard in ("on", "off"):
            odoo.shell(GUARD.format(value=guard), "HUNG-GUARD")
            odoo.start("--workers=2")
            proxy = Nginx(odoo)
            front = SimpleNamespace(url=proxy.url, db=odoo.db)
            try:
                for fault in ("silent", "refuse"):
                    for tills in tills_levels:
                        if fault == "refuse" and tills == 0:
                            continue
                        ms, busy = measure(odoo, front, make_bench, sim, setup, tills, fault, samples)
                        results[guard, fault, tills] = (pct(ms, 50), pct(ms, 95),
                                                        sum(busy) / max(1, len(busy)), max(busy, default=0))
            finally:
                proxy.stop()
                odoo.stop()
        odoo.shell(GUARD.format(value="on"), "HUNG-GUARD")
    return results


def report_hung(results, smoke=False):
    """Print the hung-drawer figures; return the target checks [(name, met)]."""
    print("\nhung drawer (accepts, never answers) and refusing drawer: another user's trivial request, "
          "Odoo with 2 workers, tills polling every 250 ms; workers tied up by the drawer (mean / max of "
          "samples every 100 ms)")
    print(f"{'':<24}{'guard on: p50':>14}{'p95 (ms)':>10}{'busy':>11}"
          f"{'guard off: p50':>16}{'p95 (ms)':>10}{'busy':>11}")
    base95 = results["on", "silent", 0][1]
    checks = []
    nan = float("nan")
    for (guard, fault, tills), (p50, p95, mean, top) in sorted(results.items(),
                                                               key=lambda kv: (kv[0][1] == "refuse", kv[0][2])):
        if guard != "on":
            continue
        off50, off95, off_mean, off_top = results.get(("off", fault, tills), (nan, nan, nan, 0))
        label = "no till waiting" if tills == 0 else f"{tills} tills, {'hung' if fault == 'silent' else 'refusing'}"
        print(f"{label:<24}{p50:>14.0f}{p95:>10.0f}{f'{mean:.1f} / {top}':>11}{off50:>16.0f}{off95:>10.0f}"
              f"{f'{off_mean:.1f} / {off_top}':>11}")
        if tills:
            checks.append(p95 <= max(base95 * 1.2, base95 + 20))
    return [("hung drawer: others within 20 % (or 20 ms) of no till", all(checks))]
