"""Connected-agents part of the benchmark (tools/bench.py runs it in the same run): what idle
on-site agents cost everyone else. Run the way production runs: prefork Odoo with 2 workers (a
small hosted plan) and its gevent port behind nginx (tools/odoo_harness.py, Odoo's documented
set-up), and 0, 1, 10 and 50 real agent processes (agent/) pointed at nginx only, each the agent
of a cloud payment method of its own. Measured with them connected: another user's trivial
JSON-RPC and the POS status call (on-premise drawer, pending ticket), median and p95, side by
side; and how many agents listen on Odoo's bus, and how many PostgreSQL connections Odoo holds.
"""

import time
import uuid
from types import SimpleNamespace

import psycopg2
from bench_hung import latencies, other_user_latency
from odoo_harness import Nginx, pg_settings, start_agent, stop_all, wait_until

AGENTS = (0, 1, 10, 50)
AGENTS_SETUP = """
import json
company = env.ref("base.user_admin").company_id
journal = env["account.journal"].search([("code", "=", "CKX"), ("company_id", "=", company.id)], limit=1)
keys = []
for i in range({count}):
    agent = env["pos.cashkeeper.agent"].create({{"name": f"Bench shop {{i}}"}})
    keys.append(agent.action_generate_api_key()["context"]["default_key"])
    env["pos.payment.method"].create({{
        "name": f"CashKeeper shop {{i}}", "journal_id": journal.id, "payment_method_type": "terminal",
        "use_payment_terminal": "cashkeeper", "cashkeeper_agent_id": agent.id, "company_id": company.id,
    }})
env.cr.commit()
print("AGENTS-SETUP " + json.dumps({{"keys": keys}}))
"""


def pg_connections(db):
    """Connections PostgreSQL holds for ``db`` (Odoo's workers, its gevent worker, the cron)."""
    settings = pg_settings()
    with psycopg2.connect(dbname="postgres", host=settings.get("db_host"), port=settings.get("db_port"),
                          user=settings.get("db_user")) as conn, conn.cursor() as cr:
        cr.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [db])
        return cr.fetchone()[0]


def bench_agents(odoo, make_bench, setup, sim, pct, log_dir, smoke=False):
    """Returns {agents: {"trivial": (p50, p95), "status": (p50, p95), "listening": n, "pg": n}}."""
    levels = (0, 1, 3) if smoke else AGENTS
    samples = 10 if smoke else 60
    keys = odoo.shell(AGENTS_SETUP.format(count=max(levels)), "AGENTS-SETUP")["keys"]
    results = {}
    odoo.start("--workers=2")
    proxy = Nginx(odoo)
    front = SimpleNamespace(url=proxy.url, db=odoo.db)  # the POS and other users go through nginx too
    try:
        bench = make_bench(setup["method"], front)
        params = {"session_id": setup["sessions"][0], "payment_uuid": str(uuid.uuid4()),
                  "order_uuid": str(uuid.uuid4())}
        bench.call("start", amount=1, order_ref="bench", **params)  # pending at the drawer: each status asks S
        for count in levels:
            agents = [start_agent(proxy.url, key, sim.port, log_dir / f"agents-{count}-{i}.log", database=odoo.db,
                                  log_level="INFO")
                      for i, key in enumerate(keys[:count])]
            try:
                logs = [log_dir / f"agents-{count}-{i}.log" for i in range(count)]

                def listening(logs=logs):
                    return sum("listening to Odoo's bus" in log.read_text(errors="replace") for log in logs)

                wait_until(lambda count=count: listening() == count, timeout=60, step=0.5)
                time.sleep(2.0)  # connected and idle
                other_user_latency(proxy.url, 3)  # warm-up
                trivial = other_user_latency(proxy.url, samples)
                status = latencies(lambda: bench.call("status", **params), samples)
                results[count] = {"trivial": (pct(trivial, 50), pct(trivial, 95)),
                                  "status": (pct(status, 50), pct(status, 95)),
                                  "listening": listening(), "pg": pg_connections(odoo.db)}
            finally:
                stop_all(agents)
    finally:
        proxy.stop()
        odoo.stop()
    return results


def report_agents(results):
    """Print the connected-agents figures; return the target checks [(name, met)]."""
    print("\nconnected on-site agents (idle), Odoo with 2 workers behind nginx: another user's trivial request "
          "and the POS status call")
    print(f"{'agents':<8}{'on the bus':>11}{'trivial p50':>13}{'p95 (ms)':>10}{'status p50':>12}{'p95 (ms)':>10}"
          f"{'PG conns':>10}")
    for count, row in results.items():
        print(f"{count:<8}{row['listening']:>11}{row['trivial'][0]:>13.0f}{row['trivial'][1]:>10.0f}"
              f"{row['status'][0]:>12.0f}{row['status'][1]:>10.0f}{row['pg']:>10}")
    base, top = results[0], results[max(results)]

    def within(kind):
        return top[kind][1] <= max(base[kind][1] * 1.2, base[kind][1] + 20)

    everyone = all(row["listening"] == count for count, row in results.items())
    return [(f"agents: {max(results)} connected, others within 20 % (or 20 ms) of none",
             within("trivial") and within("status")),
            ("agents: every agent listens on the bus", everyone),
            # The websocket worker pools a few connections for all agents; one per agent would be +50.
            ("agents: no PostgreSQL connection per agent", top["pg"] - base["pg"] <= 5)]
