"""Start the pos_cashkeeper demo: the CKMonitor simulator and Odoo 18 with the addon.

Started by ``tools/dev demo`` (environment prepared there). Creates the demo database on first
run (Odoo demo data + point_of_sale + pos_cashkeeper), updates the addon on later runs, then
runs both processes until Ctrl-C.

Options: --db NAME (default cashkeeper_demo), --http-port (8069), --sim-port (16501),
--pay-after SECONDS|never (5), --reset (drop and recreate the database), --cloud (also run the
on-site agent, with a "CashKeeper (cloud)" payment method that goes through it), --kiosk (also
install the kiosk bridge and open Odoo's demo self-order kiosk, paying through the CashKeeper).
"""

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from odoo_harness import PY, Odoo, odoo_command, start_agent

REPO = Path(__file__).resolve().parents[1]
CK_HOME = Path(os.environ.get("CK_HOME", Path.home() / ".cache" / "pos_cashkeeper"))


def odoo(db, *args, command=()):
    return odoo_command(db, CK_HOME / "demo-data", f"--db-filter=^{db}$", *args, command=command)


def db_exists(db):
    out = subprocess.run(["psql", "-d", "postgres", "-Atc", f"select 1 from pg_database where datname = '{db}'"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() == "1"


def prepare_database(db, reset, kiosk, log):
    if reset and db_exists(db):
        print(f"dropping database {db}")
        subprocess.run(["dropdb", db], check=True)
    kiosk_bridge = ",pos_self_order_cashkeeper" if kiosk else ""  # (with Odoo's pos_self_order)
    if db_exists(db):  # -i installs the bridge if it is not yet
        action = ["-u", "pos_cashkeeper", *(["-i", kiosk_bridge[1:]] if kiosk else [])]
    else:
        action = ["-i", "pos_cashkeeper" + kiosk_bridge]
    what = "updating pos_cashkeeper in" if action[0] == "-u" else "creating (about a minute)"
    print(f"{what} demo database {db}; log: {log}", flush=True)
    with open(log, "w") as out:
        proc = subprocess.run(odoo(db, *action, "--stop-after-init", "--no-http"), stdout=out,
                              stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        sys.exit(f"Odoo could not prepare database {db} (exit {proc.returncode}); see {log}")


# Run in `odoo-bin shell`: a CashKeeper payment method on the demo POS, pointed at the simulator.
CONFIGURE = """
import json
from odoo.exceptions import UserError
port = {port}
note = ""
company = env.ref("base.main_company")
journal = env["account.journal"].search([("code", "=", "CKP"), ("company_id", "=", company.id)], limit=1)
if not journal:
    journal = env["account.journal"].create({{"name": "CashKeeper", "type": "bank", "code": "CKP",
                                              "company_id": company.id}})
method = env["pos.payment.method"].search([("use_payment_terminal", "=", "cashkeeper")], limit=1)
config = env["pos.config"].search([("company_id", "=", company.id)], order="id", limit=1)
if config.current_session_id:
    note = f"a session of {{config.name}} is open: CashKeeper settings left as they are"
elif not method:
    method = env["pos.payment.method"].create({{
        "name": "CashKeeper", "journal_id": journal.id, "payment_method_type": "terminal",
        "use_payment_terminal": "cashkeeper",
        "cashkeeper_host": "127.0.0.1", "cashkeeper_port": port, "cashkeeper_id_caja": "1",
    }})
else:  # only what differs: another POS of the demo data (a restaurant's) may have a session open
    values = {{"cashkeeper_port": port, "payment_method_type": "terminal"}}
    values = {{key: value for key, value in values.items() if method[key] != value}}
    try:
        method.write(values)
    except UserError as e:
        note = f"CashKeeper settings left as they are: {{e}}"
if method and method not in config.payment_method_ids and not config.current_session_id:
    config.payment_method_ids |= method
key = ""
if {cloud}:  # cloud mode: an agent, a method that goes through it, and a fresh API key
    agent = env["pos.cashkeeper.agent"].search([("name", "=", "Demo shop")], limit=1) \
        or env["pos.cashkeeper.agent"].create({{"name": "Demo shop"}})
    agent.action_revoke_api_keys()
    key = agent.action_generate_api_key()["context"]["default_key"]
    cloud = env["pos.payment.method"].search([("cashkeeper_agent_id", "=", agent.id)], limit=1)
    if not cloud and not config.current_session_id:
        cloud = env["pos.payment.method"].create({{
            "name": "CashKeeper (cloud)", "journal_id": journal.id, "payment_method_type": "terminal",
            "use_payment_terminal": "cashkeeper", "cashkeeper_agent_id": agent.id,
            "cashkeeper_id_caja": "1",
        }})
        config.payment_method_ids |= cloud
env.cr.commit()
print("DEMO-CONFIG " + json.dumps({{"id": config.id, "name": config.name, "note": note, "key": key}}))
"""


def configure_pos(db, sim_port, cloud, log):
    config = Odoo(db, CK_HOME / "demo-data", log).shell(CONFIGURE.format(port=sim_port, cloud=cloud), "DEMO-CONFIG")
    if config["note"]:
        print(config["note"])
    return config


def wait_http(url, proc, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status == 200
        except OSError:
            time.sleep(0.5)
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="cashkeeper_demo")
    parser.add_argument("--http-port", type=int, default=8069)
    parser.add_argument("--sim-port", type=int, default=16501)
    parser.add_argument("--pay-after", default="5")
    parser.add_argument("--reset", action="store_true")
    parser.add_argument("--cloud", action="store_true", help="also run the on-site agent (cloud mode)")
    parser.add_argument("--kiosk", action="store_true", help="also a self-order kiosk paying into the CashKeeper")
    args = parser.parse_args()
    logs = CK_HOME / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    prepare_database(args.db, args.reset, args.kiosk, logs / "demo-install.log")
    config = configure_pos(args.db, args.sim_port, args.cloud, logs / "demo-install.log")
    # A kiosk has a CashKeeper of its own (a till's ticket must never wait on its drawer): a
    # second simulated CKMonitor, on the next port.
    kiosk_port = args.sim_port + 1
    kiosk = Odoo(args.db, CK_HOME / "demo-data", logs / "demo-install.log").open_kiosk(kiosk_port) \
        if args.kiosk else None
    config_id, config_name = config["id"], config["name"]
    sims = [subprocess.Popen([PY, "-m", "ckfast.simulator", "--port", str(port), "--pay-after", args.pay_after],
                             cwd=REPO) for port in (args.sim_port, *([kiosk_port] if kiosk else []))]
    time.sleep(0.5)
    if any(sim.poll() is not None for sim in sims):
        for sim in sims:
            sim.terminate()
        sys.exit(f"The CKMonitor simulator could not start on port {args.sim_port} or {kiosk_port} "
                 f"(already in use? try --sim-port)")
    server_log = logs / "demo-odoo.log"
    server = subprocess.Popen(odoo(args.db, f"--http-port={args.http_port}", f"--logfile={server_log}"))
    base = f"http://127.0.0.1:{args.http_port}"
    processes = [server, *sims]

    def stop(*_):
        for proc in reversed(processes):  # the agent first: it says goodbye to Odoo
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(processes):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if not wait_http(f"{base}/web/login", server):
        print(f"Odoo did not come up; see {server_log}")
        stop()
    cloud = ""
    if args.cloud and config["key"]:
        agent_log = logs / "demo-agent.log"
        processes.append(start_agent(base, config["key"], args.sim_port, agent_log))
        cloud = (f"\n   Cloud mode:  on-site agent running (log {agent_log}); payment method \"CashKeeper (cloud)\"\n"
                 f"                goes through it. Stop/start it to see the POS warn and resume.")
    if kiosk:
        cloud += (f"\n   Kiosk:       {base}{kiosk['route']}\n"
                  f"                (\"{kiosk['name']}\", self-order kiosk: Order Now, a product, Pay: it asks for\n"
                  f"                the cash in its own CashKeeper, simulated on 127.0.0.1:{kiosk_port}, paid after\n"
                  f"                {args.pay_after} s)")
    print(f"""
==========================================================================================
 pos_cashkeeper demo is running
   POS:         {base}/pos/ui?config_id={config_id}   ("{config_name}", payment method "CashKeeper")
   Backend:     {base}/odoo/point-of-sale   (login: admin / password: admin)
   Ledger:      Point of Sale > Orders > CashKeeper Tickets
   Database:    {args.db}      Odoo log: {server_log}
   Simulator:   CKMonitor on 127.0.0.1:{args.sim_port}, tickets pay themselves after {args.pay_after} s
   Drive it:    ckfast --port {args.sim_port} sim tickets | sim pay-all | sim cancel-all | sim fault refuse
                (ckfast is in {Path(PY).parent}; or: python -m ckfast …)
   Sell:        open the POS, add a product, Payment, CashKeeper: the line waits for cash and turns
                paid after {args.pay_after} s (or: ckfast --port {args.sim_port} sim pay-all){cloud}
 Ctrl-C stops Odoo and the simulator.
==========================================================================================
""", flush=True)
    while server.poll() is None and all(sim.poll() is None for sim in sims):
        time.sleep(0.5)
    print("Odoo or the simulator stopped; shutting down the other.")
    stop()


if __name__ == "__main__":
    main()
