"""Cloud mode part of the benchmark (tools/bench.py runs it in the same run): the real on-site
agent (agent/) against the same Odoo, served as in production (prefork, 2 workers, its gevent
port behind nginx; the agents know nginx's URL only), with 10 agents connected (the shop's and 9
idle ones), side by side with the same agent in 2-second polling mode (the competing
middleware's policy, `fixed_interval = 2`). POS clients drive the POS's RPC sequence and, like
the POS, listen to their config's bus channel for CASHKEEPER_TICKET (then ask the status), with
the server's slow safety poll otherwise.

Measured per payment: start -> CKMonitor receives C (the simulator's clock, same machine), and
paid at the drawer -> the POS sees "paid".
"""

import random
import sys
import threading
import time
import uuid
from types import SimpleNamespace

from odoo_harness import REPO, Nginx, in_threads, start_agent, stop_all, wait_until

sys.path.insert(0, str(REPO / "agent"))
from cashkeeper_agent.bus import BusListener

IDLE_AGENTS = 9

CLOUD_SETUP = """
import json
admin = env.ref("base.user_admin")
company = admin.company_id
journal = env["account.journal"].search([("code", "=", "CKX"), ("company_id", "=", company.id)], limit=1)
agent = env["pos.cashkeeper.agent"].create({{"name": "Bench shop"}})
key = agent.action_generate_api_key()["context"]["default_key"]
method = env["pos.payment.method"].create({{
    "name": "CashKeeper cloud", "journal_id": journal.id, "payment_method_type": "terminal",
    "use_payment_terminal": "cashkeeper", "cashkeeper_agent_id": agent.id,
    "company_id": company.id,
}})
config = env["pos.config"].create({{"name": "Cloud", "payment_method_ids": [(6, 0, method.ids)]}})
config.with_user(admin).open_ui()
config.current_session_id.set_opening_control(0, "")
idle = []
for i in range({idle}):
    other = env["pos.cashkeeper.agent"].create({{"name": f"Idle shop {{i}}"}})
    idle.append(other.action_generate_api_key()["context"]["default_key"])
env.cr.commit()
print("CLOUD-SETUP " + json.dumps({{"method": method.id, "session": config.current_session_id.id, "key": key,
                                   "idle": idle, "token": config._ensure_access_token()}}))
"""


def run(bench, sim, session, payments, concurrency, seed, woken):
    """``bench``: a tools/bench.py Bench pointed at the cloud method; ``woken``: ticket -> Event
    the POS's bus sets. Returns latencies (s)."""
    rng = random.Random(seed)
    delays = iter([rng.uniform(0.3, 3.0) for _ in range(payments)])
    to_c, to_pos, lost = [], [], [0]
    lock = threading.Lock()

    def c_received(ticket):
        return next((r.at for r in list(sim.requests) if r.line.startswith(f"C|{ticket}|".encode())), None)

    def customer(ticket, delay, paid_at):
        deadline = time.monotonic() + 60
        while c_received(ticket) is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)  # feeding the cash
        sim.pay(ticket)
        paid_at.append(time.monotonic())

    def payment(delay):
        params = {"session_id": session, "payment_uuid": str(uuid.uuid4()), "order_uuid": str(uuid.uuid4())}
        started = time.time()
        result = bench.call("start", amount=12.34, order_ref="bench", **params)
        paid_at = []
        threading.Thread(target=customer, args=(result["ticket"], delay, paid_at), daemon=True).start()
        deadline = time.monotonic() + 60
        event = woken.setdefault(result["ticket"], threading.Event())
        while result["state"] != "paid":
            if result["final"] or time.monotonic() > deadline:
                raise RuntimeError(f"ticket {result['ticket']} ended {result['state']}")
            event.wait(result["poll"]["interval_ms"] / 1000)  # as the POS: the bus, or the safety poll
            event.clear()
            result = bench.call("status", **params)
        woken.pop(result["ticket"], None)
        seen = time.monotonic()
        with lock:
            to_c.append(c_received(result["ticket"]) - started)
            to_pos.append(seen - paid_at[0])

    def worker(offset):
        time.sleep(offset)  # tills do not all press Pay in the same millisecond
        while True:
            with lock:
                delay = next(delays, None)
            if delay is None:
                return
            try:
                payment(delay)
            except Exception as e:  # counted, and printed: a benchmark must not hide a loss
                print(f"bench (cloud): payment failed: {e}", flush=True)
                with lock:
                    lost[0] += 1

    in_threads(worker, [(i / concurrency,) for i in range(concurrency)])
    return {"to_c": to_c, "to_pos": to_pos, "lost": lost[0]}


def bench_cloud(odoo, sim, make_bench, payments, concurrency, seed, log_dir):
    """Both agents, one after the other, against a prefork Odoo behind nginx; returns (ours, baseline)."""
    setup = odoo.shell(CLOUD_SETUP.format(idle=IDLE_AGENTS), "CLOUD-SETUP")
    odoo.start("--workers=2")
    proxy = Nginx(odoo)
    bench = make_bench(setup["method"], SimpleNamespace(url=proxy.url, db=odoo.db))
    woken, stop = {}, threading.Event()

    def pos_bus(payloads):
        for payload in payloads:  # like the POS: the line of that ticket asks now
            if isinstance(payload, dict) and payload.get("ticket") in woken:
                woken[payload["ticket"]].set()

    pos = BusListener(proxy.url, on_wake=pos_bus, stop=stop, wake_type=f"{setup['token']}-CASHKEEPER_TICKET")
    pos.follow(setup["token"])
    idle = [start_agent(proxy.url, key, sim.port, log_dir / f"agent-idle-{i}.log", database=odoo.db)
            for i, key in enumerate(setup["idle"])]
    results = []
    try:
        for fixed in (0, 2):
            log = log_dir / f"agent-{fixed or 'bus'}.log"
            agent = start_agent(proxy.url, setup["key"], sim.port, log, database=odoo.db, fixed_interval=fixed)
            ready = "connected to Odoo" if fixed else "listening to Odoo's bus"
            try:
                wait_until(lambda log=log, ready=ready: ready in log.read_text(errors="replace"), timeout=30)
                time.sleep(0.5)  # its catch-up poll is done
                results.append(run(bench, sim, setup["session"], payments, concurrency, seed, woken))
            finally:
                stop_all([agent])
    finally:
        pos.close()
        stop_all(idle)
        proxy.stop()
        odoo.stop()
    return results


def report_cloud(ours, base, args, pct):
    """Print the cloud figures; return the target checks [(name, met)]."""
    print(f"\ncloud mode (on-site agent; Odoo with 2 workers behind nginx; {IDLE_AGENTS + 1} agents connected), "
          f"{args.payments} payments, {args.concurrency} concurrent")
    print(f"{'':<40}{'bus':>10}{'2 s poll':>10}{'ratio':>11}")
    rows = {}
    for key, name in (("to_c", "start -> CKMonitor gets C"), ("to_pos", "paid -> POS sees it")):
        for p in (50, 95):
            a, b = pct(ours[key], p) * 1000, pct(base[key], p) * 1000
            rows[key, p] = (a, b)
            print(f"{name + f' p{p} (ms)':<40}{a:>10.0f}{b:>10.0f}{(b / a if a else float('nan')):>10.1f}x")
    (c95, c95_base), (pos95, pos95_base) = rows["to_c", 95], rows["to_pos", 95]
    return [("cloud: p95 start -> C <= 0.5 s", c95 <= 500), ("cloud: p95 paid -> POS <= 0.5 s", pos95 <= 500),
            ("cloud: >= 2x better than a 2 s polling agent", c95_base >= 2 * c95 and pos95_base >= 2 * pos95)]
