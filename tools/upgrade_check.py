"""Upgrade check: a database made with a previous release ends up as a fresh install of this one.

For each release in PREVIOUS: that commit's addon (``git archive`` of this repository's own
history) installed in a database of its own, sales through that release's own code against a
CKMonitor simulator (a ticket paid and synced on its order as the POS does, one queued, one whose
C answers were all lost, one abandoned, one paid on no order in a second session, a method in
agent mode with a ticket its agent claimed, a method with an agent left selected but off), then
``-u pos_cashkeeper`` with this checkout, then:
* the upgrade exits 0 and its log holds no warning or error of ours (nor any error at all);
* every ticket keeps its name, state, amount, attempts, line, session and company;
* each open ticket's stored ``C`` request is the line that release sent (read off the simulator,
  or built as its agent built it), and the lost one's resend is that line byte for byte;
* the paid ticket backs its order's payment and is not flagged; the flag pass flags the cash on
  no order only; the closing figures differ by 0, and by that cash in its session;
* agent mode as that release had it; every CashKeeper method books to its journal's account;
* every stored computed field of ours holds what it computes;
* the columns, indexes (partial ones included) and constraints of the addon's tables and columns
  are those of a fresh install of this checkout (made beside them, compared generically).
Databases are copies of one ``point_of_sale`` database (``odoo-bin db duplicate``), made in
parallel, and dropped at the end. Prints one line per check and ``upgrade: N passed, N failed``;
exits non-zero if any fails. Run by tools/run_tests.py (suite ``upgrade``).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from odoo_harness import ADDONS_DIR, ODOO_SRC, PY, REPO, pg_settings

from ckfast.simulator import Simulator

MODULE = "pos_cashkeeper"
# The releases as they landed (no tags): 18.0.1.0.0 before the books rules (59b0b75^: no stored C
# request, payments looked up by their line, an outstanding account, a separate agent flag); its
# last commit (the books rules, still the agent flag); 18.0.1.1.0, the release before this one.
PREVIOUS = {
    "18.0.1.0.0": "c2dddb8a65dbb0bff6de09b1e74fb44a0cab6957",
    "18.0.1.0.0-last": "e6ade003687b56a9b5ca1f1e478decb7def99cb8",
    "18.0.1.1.0": "ba4f379f4726fc3b29ce298ef8972e9b07a65f0d",
}
MARKER = "UPGRADE-CHECK"
# The run's folder: the old releases' addons, and one data folder for every database of the run
# (`db duplicate` copies the filestore there).
RUN_DIR = Path(tempfile.gettempdir()) / f"ck-upgrade-{os.getpid()}"
DATA_DIR = RUN_DIR / "data"
DUPLICATING = threading.Lock()  # one copy of the base database at a time
LOG_LINE = re.compile(r"^\S+ \S+ \d+ (?P<level>[A-Z]+) \S+ (?P<logger>[\w.]+): (?P<msg>.*)$")

# Through the old release's own code (odoo shell), as the POS and the drawer would do it.
SALES = r"""
import urllib.parse, urllib.request
from decimal import Decimal
from odoo import Command, fields
from odoo.addons.pos_cashkeeper import ckfast

def drawer(command):
    urllib.request.urlopen(f"http://127.0.0.1:{P['control']}/?cmd=" + urllib.parse.quote(command)).read()

company = env.ref("base.main_company")
Ticket = env["pos.cashkeeper.ticket"]
journal = env["account.journal"].create({"name": "CashKeeper upgrade", "type": "bank", "code": "CKUPG",
                                         "company_id": company.id})
def method(name, **values):
    return env["pos.payment.method"].create({
        "name": name, "journal_id": journal.id, "payment_method_type": "terminal", "use_payment_terminal": "cashkeeper",
        "cashkeeper_host": "127.0.0.1", "cashkeeper_port": P["port"], "company_id": company.id, **values})
agent = env["pos.cashkeeper.agent"].create({"name": "Upgrade agent"})
# Settings off their defaults, so that the C lines compared below say something.
direct = method("Upgrade direct", cashkeeper_amount_format="decimal_comma", cashkeeper_id_caja="7",
                cashkeeper_terminal="T2", cashkeeper_vendedor="V9")
cloud = method("Upgrade cloud", cashkeeper_use_agent=True, cashkeeper_agent_id=agent.id,
               cashkeeper_amount_format="decimal_dot", cashkeeper_id_caja="8", cashkeeper_forma_pago="cash")
method("Upgrade parked agent", cashkeeper_use_agent=False, cashkeeper_agent_id=agent.id)  # direct mode
def shop(name, methods):
    config = env["pos.config"].create({"name": name, "payment_method_ids": [Command.set(methods.ids)]})
    config.with_user(env.ref("base.user_admin")).open_ui()  # OdooBot may not open registers
    config.current_session_id.set_opening_control(0, "")
    return config.current_session_id
main = shop("Upgrade shop", direct + cloud)
other = shop("Upgrade shop 2", direct)
def start(method, session, line, amount):
    result = Ticket._cashkeeper_start(method, session, line, amount, order_uuid="order-" + line, order_ref=line)
    return Ticket.search([("name", "=", result["ticket"])])
for session, line, amount in ((main, "paid", 5.0), (other, "loose", 4.0)):
    ticket = start(direct, session, line, amount)
    drawer("pay " + ticket.name)
    ticket._cashkeeper_status()
start(direct, main, "open", 3.0)
drawer("fault close 3")  # every attempt of one C reaches CKMonitor and its answer is lost
start(direct, main, "lost", 2.5)
drawer("clear")
start(direct, main, "abandoned", 2.0)._cashkeeper_abandon()
agent.last_seen = fields.Datetime.now()  # online
claimed = start(cloud, main, "cloud", 6.25)
claim = agent._claim(claimed) if hasattr(agent, "_claim") else claimed._agent_claim()
if "request" in claim:
    agent_line = claim["request"]
else:  # 18.0.1.0.0: the agent built C from the claim's fields (cashkeeper_agent.agent._send_create)
    create = claim["create"]
    agent_line = ckfast.CreateTicket(
        claimed.name, Decimal(str(create["amount"])), amount_format=ckfast.AmountFormat(create["amount_format"]),
        decimals=create["decimals"], id_caja=create.get("id_caja", ""), terminal=create.get("terminal", ""),
        vendedor=create.get("vendedor", ""), forma_pago=create.get("forma_pago", "efectivo"),
    ).encode().decode().removesuffix("\r\n")
product = env["product.product"].create({"name": "Upgrade item", "available_in_pos": True, "list_price": 5,
                                         "taxes_id": [Command.clear()]})
now = fields.Datetime.to_string(fields.Datetime.now())
env["pos.order"].sync_from_ui([{  # as the POS serialises a validated order
    "uuid": "order-paid", "access_token": "upgrade-paid", "name": "Upgrade paid", "session_id": main.id,
    "pricelist_id": main.config_id.pricelist_id.id, "fiscal_position_id": False, "sequence_number": 1,
    "date_order": now, "amount_paid": 5, "amount_return": 0, "amount_tax": 0, "amount_total": 5,
    "last_order_preparation_change": "{}", "state": "paid",
    "lines": [[0, 0, {"product_id": product.id, "qty": 1, "price_unit": 5, "price_subtotal": 5,
                      "price_subtotal_incl": 5, "discount": 0, "tax_ids": [[6, 0, []]], "pack_lot_ids": [],
                      "uuid": "upgrade-line"}]],
    "payment_ids": [[0, 0, {"amount": 5, "name": now, "payment_method_id": direct.id, "uuid": "paid",
                            "payment_status": "done"}]],
}])
env.cr.commit()
out = {"sessions": {"main": main.id, "other": other.id}, "agent_line": agent_line, "tickets": {
    t.payment_uuid: {"name": t.name, "state": t.state, "amount": t.amount, "attempts": t.attempts,
                     "session": t.session_id.id, "company": t.company_id.id}
    for t in Ticket.search([("payment_method_id", "in", (direct + cloud).ids)])}}
"""

# Through this checkout's code, after the upgrade; the shell rolls back what it does not commit.
AFTER = r"""
from datetime import timedelta
Ticket = env["pos.cashkeeper.ticket"].with_context(active_test=False)
tickets = Ticket.search([("payment_uuid", "in", list(P["lines"]))])
def key(value):
    return value.ids if hasattr(value, "ids") else round(value, 6) if isinstance(value, float) else value
stale, computed = [], 0
for model in env.registry.values():
    stored = [f for f in model._fields.values() if f.store and f.compute and f._module == "pos_cashkeeper"]
    if not stored or model._abstract:
        continue
    records = env[model._name].with_context(active_test=False).search([])
    computed += len(stored)
    for field in stored:
        before = {r.id: key(r[field.name]) for r in records}
        env.add_to_compute(field, records)
        stale += [f"{model._name}.{field.name} of {r.id}" for r in records if key(r[field.name]) != before[r.id]]
books = {t.payment_uuid: {"name": t.name, "state": t.state, "amount": t.amount, "attempts": t.attempts,
                          "session": t.session_id.id, "company": t.company_id.id, "request": t.request or None,
                          "payment": t.pos_payment_id.uuid or None, "on_no_order": t.on_no_order,
                          "difference": t.amount_difference} for t in tickets}
lost = tickets.filtered(lambda t: t.payment_uuid == "lost")
resent = lost._advance()["state"]
flagged = Ticket._flag_no_order(grace=timedelta(0)).mapped("payment_uuid")
methods = env["pos.payment.method"].with_context(active_test=False).sudo().search(
    [("use_payment_terminal", "=", "cashkeeper")])
out = {
    "tickets": books, "stale": stale, "computed": computed, "resent": resent, "flagged": flagged,
    "figures": {name: env["pos.session"].browse(sid)._cashkeeper_figures() for name, sid in P["sessions"].items()},
    "agent_mode": sorted(m.name for m in methods if m.cashkeeper_agent_id),
    "not_own_account": sorted(m.name for m in methods if m.journal_id.type == "bank"
                              and m.outstanding_account_id != m.journal_id.default_account_id),
}
"""

# The addon's part of the schema, found generically: its models' tables (and any table named like
# them, a leftover included), its fields' columns on other models' tables, any column named
# cashkeeper*; their indexes and constraints.
SCHEMA = r"""
ours = {m._table for m in env.registry.values() if m._original_module == "pos_cashkeeper" and m._auto}
cols = set()
for model in env.registry.values():
    for field in model._fields.values():
        if field._module == "pos_cashkeeper" and field.store:
            if field.type == "many2many":
                ours.add(field.relation)
            elif field.column_type:
                cols.add((model._table, field.name))
cr = env.cr
cr.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'pos\\_cashkeeper%%'")
ours |= {row[0] for row in cr.fetchall()}
cr.execute("SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns "
           "WHERE table_schema = 'public' ORDER BY 1, 2")
columns = [r for r in cr.fetchall() if r[0] in ours or (r[0], r[1]) in cols or "cashkeeper" in r[1]]
mine = {(r[0], r[1]) for r in columns}
def touches(table, names):
    return table in ours or any((table, n) in mine for n in names)
cr.execute("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2")
indexes = [r for r in cr.fetchall() if touches(r[0], re.findall(r"\w+", r[2].split(" USING ", 1)[-1]))]
cr.execute(
    "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), "
    "ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)) "
    "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public' ORDER BY 1, 2")
constraints = [r[:3] for r in cr.fetchall() if touches(r[0], r[3])]
cr.execute("SELECT latest_version FROM ir_module_module WHERE name = 'pos_cashkeeper'")
out = {"columns": columns, "indexes": indexes, "constraints": constraints, "version": cr.fetchone()[0]}
"""


def odoo(db, addons, *args, log, command=(), script=None, params=None):
    """odoo-bin on ``addons`` (a folder holding pos_cashkeeper; None: Odoo's own only); with
    ``script``, an odoo shell run that sets ``out``: returns it (None if it failed), else the exit code."""
    path = f"{ODOO_SRC / 'addons'},{addons}" if addons else str(ODOO_SRC / "addons")
    cmd = [PY, str(ODOO_SRC / "odoo-bin"), *command, f"--addons-path={path}", f"--data-dir={DATA_DIR}", "-d", db,
           *(f"--{k}={v}" for k, v in pg_settings().items()), "--no-http", "--max-cron-threads=0", *args]
    if script is not None:
        script = (f"import json, re\nP = json.loads({json.dumps(params or {})!r})\n{script}\n"
                  f"print({MARKER!r}, json.dumps(out))\n")
    with open(log, "a") as out:
        proc = subprocess.run(cmd, input=script, text=True, stdout=subprocess.PIPE if script else out,
                              stderr=out if script else subprocess.STDOUT, check=False)
    if script is None:
        return proc.returncode
    return next((json.loads(line[len(MARKER) + 1:]) for line in proc.stdout.splitlines()
                 if line.startswith(MARKER + " ")), None)


def duplicate(source, target, log):
    """A copy of the base database, filestore included (Odoo's own command)."""
    pg = [f"--{k}={v}" for k, v in pg_settings().items()]
    with DUPLICATING, open(log, "a") as out:
        return subprocess.run([PY, str(ODOO_SRC / "odoo-bin"), "db", f"--data-dir={DATA_DIR}", *pg, "duplicate", source,
                               target], stdout=out, stderr=subprocess.STDOUT, check=False).returncode


def addon_at(commit, tmp):
    """That release's addon, from this repository's history, in an addons folder of its own."""
    known = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True,
                           check=False)
    if known.returncode:
        sys.exit(f"upgrade check: commit {commit} is not in this clone's history (a shallow clone?): run "
                 "`git fetch --unshallow` and try again")
    folder = tmp / commit[:10]
    (folder / MODULE).mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], stdout=subprocess.PIPE, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder / MODULE)], input=archive.stdout, check=True)
    return folder


def problems(log):
    """Warnings and errors of ours in an Odoo log, and any error at all."""
    found = []
    for line in Path(log).read_text(errors="replace").splitlines():
        m = LOG_LINE.match(line)
        if m and m["level"] in ("WARNING", "ERROR", "CRITICAL") and (
                m["level"] != "WARNING" or "cashkeeper" in (m["logger"] + m["msg"]).lower()):
            found.append(line)
    return found


class Release:
    """One previous release: its database, its sales, its upgrade; ``checks``: (what, ok, detail)."""

    def __init__(self, name, commit, tmp, logs, base):
        self.name, self.commit, self.tmp, self.base = name, commit, tmp, base
        self.db = f"ck_upg_{os.getpid()}_" + re.sub(r"\W", "_", name)
        self.log = logs / f"upgrade-{name}.log"
        self.checks, self.schema, self.upgraded = [], None, False

    def expect(self, what, ok, detail=""):
        self.checks.append((what, bool(ok), detail))
        return ok

    def run(self):
        self.log.write_text("")
        old = addon_at(self.commit, self.tmp)
        if not self.expect(f"{self.name} installs", duplicate(self.base, self.db, self.log) == 0 and odoo(
                self.db, old, "-i", MODULE, "--stop-after-init", log=self.log) == 0, f"see {self.log}"):
            return
        with Simulator(port=0, control_port=0, pay_after=None, amount_format="decimal_comma") as sim:
            sales = odoo(self.db, old, command=["shell"], log=self.log, script=SALES,
                         params={"port": sim.port, "control": sim.control_port})
            if not self.expect("sales through that release's code", sales, f"see {self.log}"):
                return
            mark = len(self.log.read_text(errors="replace").splitlines())
            code = odoo(self.db, ADDONS_DIR, "-u", MODULE, "--stop-after-init", log=self.log)
            self.upgraded = self.expect("upgrades with -u pos_cashkeeper", code == 0, f"exit {code}, see {self.log}")
            upgrade_log = self.tmp / f"{self.db}-upgrade.log"
            upgrade_log.write_text("\n".join(self.log.read_text(errors="replace").splitlines()[mark:]))
            self.expect("the upgrade log holds no warning of ours, no error", not problems(upgrade_log),
                        problems(upgrade_log)[:3])
            after = odoo(self.db, ADDONS_DIR, command=["shell"], log=self.log, script=AFTER,
                         params={"lines": list(sales["tickets"]), "sessions": sales["sessions"]})
            if not self.expect("this checkout's code reads the upgraded ledger", after, f"see {self.log}"):
                return
            sent = {}
            for request in sim.requests:
                if request.line.startswith(b"C|"):
                    sent.setdefault(request.line.split(b"|")[1].decode(), []).append(request.line)
        self.check_books(sales, after, sent)
        self.schema = odoo(self.db, ADDONS_DIR, command=["shell"], log=self.log, script=SCHEMA)

    def check_books(self, sales, after, sent):
        before, t = sales["tickets"], after["tickets"]
        kept = ("name", "state", "amount", "attempts", "session", "company")
        changed = {line: {k: (v[k], t.get(line, {}).get(k)) for k in kept if v[k] != t.get(line, {}).get(k)}
                   for line, v in before.items()}
        self.expect("tickets keep name, state, amount, attempts, session and company",
                    set(t) == set(before) and not any(changed.values()), changed)
        states = {line: v["state"] for line, v in before.items()}
        self.expect("the sales left what they should", states == {
            "paid": "paid", "loose": "paid", "open": "queued", "lost": "new", "abandoned": "abandoned",
            "cloud": "new"}, states)
        lines = {line: sent.get(v["name"], []) for line, v in before.items()}
        for line in ("open", "lost", "abandoned"):
            first = lines[line][0].decode().removesuffix("\r\n") if lines[line] else None
            self.expect(f"the {line} ticket's stored C is the line that release sent", first
                        and t[line]["request"] == first, (t[line]["request"], first))
        self.expect("the claimed agent ticket's stored C is the line that release's agent sent",
                    t["cloud"]["request"] == sales["agent_line"], (t["cloud"]["request"], sales["agent_line"]))
        self.expect("the lost ticket's resend is that line byte for byte, and finds it queued",
                    after["resent"] == "queued" and len(lines["lost"]) > 3 and len(set(lines["lost"])) == 1,
                    (after["resent"], lines["lost"]))
        self.expect("the paid ticket backs its order's payment, unflagged", t["paid"]["payment"] == "paid"
                    and not t["paid"]["on_no_order"] and t["paid"]["difference"] == 0, t["paid"])
        self.expect("the flag pass flags the cash on no order only", after["flagged"] == ["loose"], after["flagged"])
        main, other = after["figures"]["main"], after["figures"]["other"]
        self.expect("closing figures: 0 difference; the other session's is its cash on no order",
                    (main["collected"], main["booked"], main["difference"], other["difference"]) == (5, 5, 0, 4),
                    after["figures"])
        self.expect("agent mode as that release had it", after["agent_mode"] == ["Upgrade cloud"], after["agent_mode"])
        self.expect("every CashKeeper method books to its journal's own account", not after["not_own_account"],
                    after["not_own_account"])
        self.expect(f"each stored computed field of ours ({after['computed']}) holds what it computes",
                    after["computed"] and not after["stale"],
                    after["stale"][:5])

    def compare(self, fresh):
        if not self.expect("the schema can be read", self.schema and fresh, f"see {self.log}"):
            return
        self.expect("the installed version is this checkout's", self.schema["version"] == fresh["version"],
                    (self.schema["version"], fresh["version"]))
        for part in ("columns", "indexes", "constraints"):
            mine, theirs = {tuple(r) for r in self.schema[part]}, {tuple(r) for r in fresh[part]}
            self.expect(f"its {part} are a fresh install's ({len(theirs)})", theirs and mine == theirs,
                        {"upgraded only": sorted(mine - theirs)[:4], "fresh only": sorted(theirs - mine)[:4]})


def fresh_schema(base, db, log):
    if duplicate(base, db, log) or odoo(db, ADDONS_DIR, "-i", MODULE, "--stop-after-init", log=log):
        return None
    return odoo(db, ADDONS_DIR, command=["shell"], log=log, script=SCHEMA)


def main(logs):
    started = time.monotonic()
    tmp = RUN_DIR
    tmp.mkdir()
    base, fresh_db = f"ck_upg_{os.getpid()}_base", f"ck_upg_{os.getpid()}_fresh"
    releases = [Release(name, commit, tmp, logs, base) for name, commit in PREVIOUS.items()]
    log = logs / "upgrade-fresh.log"
    log.write_text("")
    try:
        if odoo(base, None, "-i", "point_of_sale", "--stop-after-init", log=log):
            sys.exit(f"upgrade check: the point_of_sale database could not be made; see {log}")
        with ThreadPoolExecutor(max_workers=len(releases) + 1) as pool:
            fresh = pool.submit(fresh_schema, base, fresh_db, log)
            for job in [pool.submit(r.run) for r in releases]:
                job.result()
            fresh = fresh.result()
        for release in releases:
            if release.upgraded:
                release.compare(fresh)
    finally:
        for db in (base, fresh_db, *(r.db for r in releases)):
            subprocess.run(["dropdb", "--if-exists", db], check=False, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    passed = failed = 0
    for release in releases:
        print(f"upgrade from {release.name} ({release.commit[:10]}):")
        for what, ok, detail in release.checks:
            print(f"  {'ok  ' if ok else 'FAIL'} {what}{'' if ok else ': ' + str(detail)}")
            passed, failed = passed + ok, failed + (not ok)
    print(f"upgrade: {passed} passed, {failed} failed in {time.monotonic() - started:.0f} s")
    return passed, failed


if __name__ == "__main__":
    LOGS = Path(os.environ.get("CK_HOME", Path.home() / ".cache" / "pos_cashkeeper")) / "logs"
    LOGS.mkdir(parents=True, exist_ok=True)
    sys.exit(1 if main(LOGS)[1] else 0)
