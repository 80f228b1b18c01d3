"""Benchmark: how fast the POS learns a drawer payment, and what it costs the Odoo server,
side by side with fixed 2-second polling (the competing product's policy), in one run.

    tools/dev bench [--payments 200] [--concurrency 10] [--scale 1,10,50]
                    [--parts onprem,cloud,hung,agents,kiosk] [--smoke]

A real Odoo server (threaded) on a throwaway database with pos_cashkeeper, the simulator, and
client threads that drive the POS's exact RPC sequence (start, then status until settled) with
the POS's polling policy as the server sends it (POLL_POLICY in models/cashkeeper_transport.py),
or with a fixed 2 s interval for the baseline. A "customer" pays each ticket at the drawer after a
random 0.3-3 s. Measured:

1. detection latency: from the simulator marking the ticket paid to the client seeing "paid"
2. server cost: Odoo-side time per status call (from Odoo's request log: SQL + other time),
   requests per completed payment, Odoo process CPU seconds per completed payment
3. scale: detection p95 and lost payments at 1, 10 and 50 concurrent payments; status endpoint
   throughput (calls/s) with 8 clients hammering pending tickets
4. CKFast client round trip over loopback against the simulator
5. cloud mode (tools/bench_cloud.py), a hung drawer's cost to other users (tools/bench_hung.py),
   connected agents' cost to other users (tools/bench_agents.py) and kiosk customers' on a hung
   drawer and on an answering one (tools/bench_kiosk.py; a second database, with the kiosk
   bridge), on a prefork Odoo with 2 workers behind nginx, as in production

Prints figures and target checks; it is a benchmark, not a test (it exits 0 unless a payment is
lost or the run breaks). --smoke runs a few payments only; with --db (the test suite's run) it
skips the kiosk part unless --kiosk-db is given: that database has no pos_self_order by design
(the addon's suites, its uninstall among them, check a shop without a kiosk), and a second one
costs a full pos_self_order install (~1 min here) that the test suite's kiosk suite makes anyway,
running the kiosk routes' tests.
"""

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_agents import bench_agents, report_agents
from bench_cloud import bench_cloud, report_cloud
from bench_hung import bench_hung, report_hung
from bench_kiosk import bench_kiosk, report_kiosk
from chaos import SETUP, Odoo
from odoo_harness import in_threads

from ckfast.client import CKFastClient
from ckfast.simulator import Simulator

BASELINE_MS = 2000
PARTS = ("onprem", "cloud", "hung", "agents", "kiosk")
STATUS_LINE = re.compile(r'"POST /pos_cashkeeper/payment/status HTTP/1.1" 200 - \d+ ([\d.]+) ([\d.]+)')


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Bench:
    def __init__(self, odoo, sim, method, sessions):
        self.odoo, self.sim, self.method, self.sessions = odoo, sim, method, sessions
        self.paid_at = {}
        self.lock = threading.Lock()
        self.local = threading.local()
        self.policy = None

    def http(self):
        """One HTTP connection per thread, all on one login (like tills already logged in)."""
        if not hasattr(self, "cookies"):
            with self.lock:
                if not hasattr(self, "cookies"):
                    login = requests.post(f"{self.odoo.url}/web/session/authenticate", timeout=30, json={
                        "jsonrpc": "2.0", "params": {"db": self.odoo.db, "login": "admin", "password": "chaos"}})
                    self.cookies = login.cookies
        if not hasattr(self.local, "http"):
            self.local.http = requests.Session()
            self.local.http.cookies.update(self.cookies)
        return self.local.http

    def call(self, action, **params):
        body = self.http().post(f"{self.odoo.url}/pos_cashkeeper/payment/{action}", timeout=30, json={
            "jsonrpc": "2.0", "method": "call", "params": {"payment_method_id": self.method, **params}}).json()
        if "error" in body:
            raise RuntimeError(body["error"]["data"]["message"])
        return body["result"]

    def customer(self, ticket, delay):
        time.sleep(delay)
        with self.lock:
            self.sim.pay(ticket)
            self.paid_at[ticket] = time.monotonic()

    def payment(self, rng_delay, fixed_ms, out):
        """One payment as the POS drives it; appends (latency s, requests) to out."""
        params = {"session_id": self.sessions[0], "payment_uuid": str(uuid.uuid4()), "order_uuid": str(uuid.uuid4())}
        result = self.call("start", amount=12.34, order_ref="bench", **params)
        requests_made = 1
        self.policy = result["poll"]
        threading.Thread(target=self.customer, args=(result["ticket"], rng_delay), daemon=True).start()
        deadline = time.monotonic() + 60  # a benchmark must end: a stuck payment counts as lost
        while result["state"] != "paid":
            if result["final"] or time.monotonic() > deadline:
                out.append((None, requests_made))  # lost / failed: reported
                return
            interval = fixed_ms if fixed_ms else result["poll"]["interval_ms"]
            time.sleep(interval / 1000)
            result = self.call("status", **params)
            requests_made += 1
        seen = time.monotonic()
        out.append((seen - self.paid_at[result["ticket"]], requests_made))

    def run(self, payments, concurrency, fixed_ms, seed):
        rng = random.Random(seed)
        delays = [rng.uniform(0.3, 3.0) for _ in range(payments)]
        out, todo = [], iter(delays)
        lock = threading.Lock()

        def worker():
            while True:
                with lock:
                    delay = next(todo, None)
                if delay is None:
                    return
                try:
                    self.payment(delay, fixed_ms, out)
                except Exception as e:  # counted as not completed below
                    print(f"bench: payment failed: {e}", flush=True)
                    out.append((None, 0))

        proc = psutil.Process(self.odoo.proc.pid)
        cpu0, log0 = sum(proc.cpu_times()[:2]), self.odoo.log.stat().st_size
        in_threads(worker, [()] * concurrency)
        cpu = sum(proc.cpu_times()[:2]) - cpu0
        with open(self.odoo.log, "rb") as log:
            log.seek(log0)
            text = log.read().decode("utf-8", "replace")
        server_ms = [(float(q) + float(o)) * 1000 for q, o in STATUS_LINE.findall(text)]
        done = [lat for lat, _ in out if lat is not None]
        return {
            "latencies": done, "lost": len(out) - len(done), "payments": len(out),
            "requests_per_payment": statistics.mean(r for _, r in out), "cpu_per_payment": cpu / max(1, len(done)),
            "server_ms": server_ms,
        }

    def throughput(self, seconds=5.0, clients=8):
        self.sim.pay_after = None
        lines = []
        for _ in range(clients):
            params = {"session_id": self.sessions[1], "payment_uuid": str(uuid.uuid4()),
                      "order_uuid": str(uuid.uuid4())}
            self.call("start", amount=1, order_ref="bench", **params)
            lines.append(params)
        count, stop = [0], time.monotonic() + seconds
        lock = threading.Lock()

        def hammer(params):
            while time.monotonic() < stop:
                self.call("status", **params)  # pending: one real CKFast exchange per call
                with lock:
                    count[0] += 1

        in_threads(hammer, [(p,) for p in lines])
        return count[0] / seconds


def ckfast_round_trip(n=1000):
    with Simulator(port=0, pay_after=None) as sim:
        client = CKFastClient("127.0.0.1", sim.port)
        client.create_ticket("RTT1", 1)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            client.ticket_status("RTT1")
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), pct(times, 95)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--scale", default="1,10,50")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"some of {','.join(PARTS)} (default: all)")
    parser.add_argument("--smoke", action="store_true", help="a few payments only (for CI)")
    parser.add_argument("--db", help="existing database with pos_cashkeeper installed (default: a new one)")
    parser.add_argument("--data-dir", help="Odoo data dir of --db (and of --kiosk-db)")
    parser.add_argument("--kiosk-db", help="existing database with pos_self_order_cashkeeper installed, for the "
                                           "kiosk part (default: a new one)")
    args = parser.parse_args()
    args.parts = set(args.parts.split(","))
    if args.parts - set(PARTS):
        parser.error(f"unknown part(s): {', '.join(sorted(args.parts - set(PARTS)))}")
    if args.smoke:
        args.payments, args.concurrency, args.scale = 6, 3, "1,3"
        if args.db and not args.kiosk_db and "kiosk" in args.parts:
            args.parts.discard("kiosk")
            print("bench: --smoke on --db: kiosk part skipped (no kiosk database given; see --help)", flush=True)
    return args


def run_onprem(bench, args):
    scale = [int(x) for x in args.scale.split(",")]
    ours = bench.run(args.payments, args.concurrency, None, args.seed)
    base = bench.run(args.payments, args.concurrency, BASELINE_MS, args.seed)
    levels = {n: bench.run(max(n, args.payments // 4 if not args.smoke else n), n, None, args.seed + n) for n in scale}
    calls_per_s = bench.throughput(seconds=2.0 if args.smoke else 5.0)
    return {"ours": ours, "base": base, "levels": levels, "calls_per_s": calls_per_s, "policy": bench.policy}


def report_onprem(onprem, args):
    """Print the on-premise figures; return the target checks [(name, met)]."""
    ours, base, levels = onprem["ours"], onprem["base"], onprem["levels"]

    def ms(values, p):
        return pct(values, p) * 1000

    rows = [("detection latency p50 (ms)", ms(ours["latencies"], 50), ms(base["latencies"], 50)),
            ("detection latency p95 (ms)", ms(ours["latencies"], 95), ms(base["latencies"], 95)),
            ("detection latency p99 (ms)", ms(ours["latencies"], 99), ms(base["latencies"], 99)),
            ("server time / status call median (ms)", statistics.median(ours["server_ms"] or [0]),
             statistics.median(base["server_ms"] or [0])),
            ("server time / status call p95 (ms)", pct(ours["server_ms"], 95), pct(base["server_ms"], 95)),
            ("requests / payment", ours["requests_per_payment"], base["requests_per_payment"]),
            ("Odoo CPU s / payment", ours["cpu_per_payment"], base["cpu_per_payment"])]
    print(f"\n{args.payments} payments, {args.concurrency} concurrent, drawer pays after 0.3-3 s; "
          f"ours = POLL_POLICY {onprem['policy']}, baseline = fixed {BASELINE_MS} ms")
    print(f"{'':<40}{'ours':>10}{'baseline':>10}{'ours/base':>11}")
    for name, a, b in rows:
        print(f"{name:<40}{a:>10.3f}{b:>10.3f}{(a / b if b else float('nan')):>11.2f}")
    print(f"\n{'concurrent payments':<24}{'p95 latency (ms)':>18}{'lost':>6}")
    for n, level in levels.items():
        print(f"{n:<24}{ms(level['latencies'], 95):>18.0f}{level['lost']:>6}")
    print(f"\nstatus endpoint throughput (8 clients, pending tickets): {onprem['calls_per_s']:.0f} calls/s")
    p95, base95 = ms(ours["latencies"], 95), ms(base["latencies"], 95)
    return [("p95 detection <= 500 ms", p95 <= 500), ("p95 >= 4x better than 2 s polling", base95 >= 4 * p95),
            ("status call <= 15 ms median server-side", statistics.median(ours["server_ms"] or [99]) <= 15),
            (">= 100 status calls/s", onprem["calls_per_s"] >= 100)]


def main():
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ck-bench-"))
    db = args.db or f"ck_bench_{os.getpid()}"
    odoo = Odoo(db, args.data_dir or tmp / "data", tmp / "odoo.log")
    shop = bool(args.parts - {"kiosk"})  # a part on the main database (the kiosk has its own)
    if shop and not args.db:
        print(f"bench: creating database {db}; log {odoo.log}", flush=True)
        odoo.install()
    onprem = cloud = hung = agents = kiosk = None
    try:
        with Simulator(port=0, pay_after=None) as sim:
            setup = odoo.shell(SETUP.format(port=sim.port), "CHAOS-SETUP") if shop else None

            def make_bench(method, front=odoo):
                return Bench(front, sim, method, setup["sessions"])

            if "onprem" in args.parts:
                odoo.start()
                onprem = run_onprem(make_bench(setup["method"]), args)
                odoo.stop()
            if "cloud" in args.parts:
                cloud = bench_cloud(odoo, sim, make_bench, args.payments, args.concurrency, args.seed, tmp)
            if "hung" in args.parts:
                hung = bench_hung(odoo, make_bench, pct, args.smoke)
            if "agents" in args.parts:
                agents = bench_agents(odoo, make_bench, setup, sim, pct, tmp, args.smoke)
        if "kiosk" in args.parts:
            kiosk = bench_kiosk(args.kiosk_db or f"{db}_kiosk", args.data_dir or tmp / "data", tmp / "odoo-kiosk.log",
                                pct, args.smoke, existing=bool(args.kiosk_db))
        rtt_median, rtt_p95 = ckfast_round_trip(200 if args.smoke else 1000)
    finally:
        odoo.stop()
        if shop and not args.db:
            subprocess.run(["dropdb", "--if-exists", db], check=False)
    runs = [*(onprem and (onprem["ours"], onprem["base"], *onprem["levels"].values()) or ()), *(cloud or ())]
    lost = sum(run["lost"] for run in runs)
    checks = []
    if onprem:
        checks += report_onprem(onprem, args)
    print(f"CKFast round trip over loopback: median {rtt_median:.3f} ms, p95 {rtt_p95:.3f} ms")
    checks.append(("CKFast round trip <= 1 ms median", rtt_median <= 1))
    if cloud:
        checks += report_cloud(*cloud, args, pct)
    if hung:
        checks += report_hung(hung, args.smoke)
    if agents:
        checks += report_agents(agents)
    if kiosk:
        checks += report_kiosk(kiosk)
    checks.append(("no payment lost", lost == 0))
    print("\ntargets: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks))
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
