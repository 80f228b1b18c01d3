"""Run every pos_cashkeeper check and print one closing ``N passed, N failed`` line.

Started by ``tools/dev test`` (which sets up the environment and exports CK_ODOO_SRC,
CK_ADDONS_DIR, CK_PY). Suites, in order:

1. ruff        lint of the whole repo
2. ckfast      protocol, client, simulator and CLI tests (pytest + hypothesis, no Odoo)
   agent       the on-site agent's tests (no Odoo), then its wheels (and its dependencies') installed
               into a bare virtualenv
3. odoo        a throwaway database: install pos_cashkeeper (its log must hold no warning or
               error of ours), ``--test-tags /pos_cashkeeper``, and a skipped test (a tour
               without Chromium, say) counts as a FAILURE, so a green run means it really ran
4. pytest-odoo the addon's tests once more through pytest-odoo, on that database
5. chaos       tools/chaos.py with 30 payments and injected faults on that database:
               on-premise and in cloud mode: lost = doubled = unbacked = stuck = unbooked =
               invented = 0, and the figures (collected - paid out - booked) reconcile
6. bench       tools/bench.py --smoke on that database: it runs and loses no payment, on-premise
               and in cloud mode (the real agent, a prefork Odoo); figures are printed, not
               asserted: performance goals live in the benchmark, not in tests
7. uninstall   the addon uninstalls cleanly from that database
   upgrade     tools/upgrade_check.py: databases made with the previous releases (their commits in this
               repository's history), with sales, upgraded with -u to this checkout: tickets, payments,
               flags, accounts and schema as a fresh install has them
8. kiosk       a second throwaway database with the kiosk bridge (pos_self_order_cashkeeper, which
               brings Odoo's pos_self_order): its install log is clean of ours, ``--test-tags
               /pos_self_order_cashkeeper,/pos_self_order`` (public endpoints and kiosk tours in
               Chromium; in the same run Odoo's own pos_self_order tests, kiosk and mobile tours
               included, counted apart as ``kiosk-odoo``: they still pass with the bridge
               installed; a skip is a failure), then the bridge uninstalls cleanly
9. screenshots tools/screenshots.py into a temporary folder: every image of the description page

Options: ``--only SUITE[,SUITE]``, ``--keep-db`` (leave the database for inspection).
Full Odoo logs go to ``$CK_HOME/logs``; the console gets the digest.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from odoo_harness import ADDONS_DIR, ADDONS_PATH, PY, odoo_command, pg_settings

REPO = Path(__file__).resolve().parents[1]
CK_HOME = Path(os.environ.get("CK_HOME", Path.home() / ".cache" / "pos_cashkeeper"))
MODULE = "pos_cashkeeper"
KIOSK_MODULE = "pos_self_order_cashkeeper"
# Odoo's own tests the kiosk suite runs too, with the bridge installed: {row: module}
KIOSK_ODOO_TESTS = {"kiosk-odoo": "pos_self_order"}
SUITES = ["ruff", "ckfast", "agent", "odoo", "pytest-odoo", "chaos", "bench", "uninstall", "upgrade", "kiosk",
          "screenshots"]
CHAOS_PAYMENTS = 30

# Odoo log lines: "2026-01-01 10:00:00,000 123 LEVEL db logger: message"
LOG_LINE = re.compile(r"^\S+ \S+ \d+ (?P<level>[A-Z]+) \S+ (?P<logger>[\w.]+): (?P<msg>.*)$")
SUMMARY = re.compile(r"(\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database")
# Odoo's test result logs under the test's Python module: "Starting TestClass.test_x ...",
# "FAIL: …"/"ERROR: …" (a setUpClass error under odoo.tests.suite, naming the class), "skipped … : …"
TEST_STARTED = re.compile(r"^Starting \S+ \.\.\.")
TEST_FAILED = re.compile(r"^(FAIL|ERROR): ")


class Results:
    def __init__(self):
        self.rows = []  # (suite, passed, failed, note)

    def add(self, suite, passed, failed, note=""):
        self.rows.append((suite, passed, failed, note))
        status = "ok" if failed == 0 else "FAILED"
        print(f"== {suite}: {passed} passed, {failed} failed {status}{' - ' + note if note else ''}", flush=True)

    def close(self):
        passed = sum(r[1] for r in self.rows)
        failed = sum(r[2] for r in self.rows)
        print("\n" + "\n".join(f"  {s:<12} {p:>4} passed {f:>3} failed  {n}" for s, p, f, n in self.rows))
        print(f"{passed} passed, {failed} failed")
        return 0 if failed == 0 and passed > 0 else 1


def run(cmd, log_path=None, **kw):
    print("$ " + " ".join(str(c) for c in cmd), flush=True)
    if log_path is None:
        return subprocess.run(cmd, check=False, **kw)
    with open(log_path, "w") as log:
        return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False, **kw)


def odoo_cmd(db, data_dir, *args, command=()):
    return odoo_command(db, data_dir, "--http-interface=127.0.0.1", "--max-cron-threads=0", *args, command=command)


def suite_ruff(results):
    proc = run([PY, "-m", "ruff", "check", str(REPO)])
    results.add("ruff", int(proc.returncode == 0), int(proc.returncode != 0), "lint")


def suite_ckfast(results, tmp):
    xml = tmp / "ckfast.xml"
    run([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", str(REPO / "ckfast" / "tests")],
        cwd=REPO)
    counts = _junit_counts(xml)
    results.add("ckfast", counts["passed"], counts["failed"] + counts["skipped"],
                f"{counts['skipped']} skipped" if counts["skipped"] else "")


def suite_agent(results, tmp):
    """The on-site agent without Odoo (against a protocol fake and the simulator), then its
    packaging: `pip install . ./agent` into a fresh virtualenv gives a working console script."""
    xml = tmp / "agent.xml"
    run([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:odoo", f"--junitxml={xml}",
         str(REPO / "agent" / "tests")], cwd=REPO)
    counts = _junit_counts(xml)
    results.add("agent", counts["passed"], counts["failed"] + counts["skipped"],
                f"{counts['skipped']} skipped" if counts["skipped"] else "")
    # Wheels built with the project venv (it has setuptools and wheel), the agent's dependencies
    # with them (pip's index), installed into a bare virtualenv from those wheels alone: proves the
    # agent needs nothing but the standard library, ckfast and what its package declares.
    src, dist, venv = tmp / "src", tmp / "dist", tmp / "agent-venv"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", ".*cache"))
    ok = run([PY, "-m", "pip", "wheel", "-q", "--no-index", "--no-deps", "--no-build-isolation", "-w", str(dist),
              str(src)]).returncode == 0  # ckfast, which the agent's wheel then finds here
    ok = ok and run([PY, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--find-links", str(dist), "-w",
                     str(dist), str(src / "agent")]).returncode == 0
    ok = ok and run([PY, "-m", "venv", str(venv)]).returncode == 0
    ok = ok and run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--find-links",
                     str(dist), "pos-cashkeeper-agent"]).returncode == 0
    ok = ok and run([str(venv / "bin" / "cashkeeper-agent"), "--version"]).returncode == 0
    results.add("agent-install", int(ok), int(not ok), "bare venv: cashkeeper-agent --version")


def _junit_counts(xml):
    if not xml.exists():
        return {"passed": 0, "failed": 1, "skipped": 0}
    suite = ET.parse(xml).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    total, fail, err, skip = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
    return {"passed": total - fail - err - skip, "failed": fail + err, "skipped": skip}


def parse_odoo_log(path, module=MODULE):
    """Return (summary tuple or None, skipped lines, our warnings/errors while installing, failure lines)."""
    summary, skipped, ours, failures = None, [], [], []
    installing = True  # until post-install tests start; tests log the warnings they provoke
    for line in Path(path).read_text(errors="replace").splitlines():
        if "Starting post tests" in line:
            installing = False
        if m := SUMMARY.search(line):
            summary = tuple(int(x) for x in m.groups())
        m = LOG_LINE.match(line)
        if not m:
            continue
        level, logger, msg = m["level"], m["logger"], m["msg"]
        if msg.startswith("skipped ") and " : " in msg:
            skipped.append(line)
        if level in ("WARNING", "ERROR", "CRITICAL"):
            if installing and (module in logger or module in msg):
                ours.append(line)
            if level != "WARNING" and ("FAIL" in msg or "ERROR" in msg or logger.startswith("odoo.addons")):
                failures.append(line)
    return summary, skipped, ours, failures


def module_test_counts(path, module):
    """(tests started, tests failed or in error, tests skipped) of ``module``'s tests in an Odoo log."""
    prefix = f"odoo.addons.{module}."
    started = bad = skipped = 0
    for line in Path(path).read_text(errors="replace").splitlines():
        m = LOG_LINE.match(line)
        if not m or m["logger"].endswith(".browser"):  # a tour's console, not the test result
            continue
        level, logger, msg = m["level"], m["logger"], m["msg"]
        if level == "INFO" and logger.startswith(prefix) and TEST_STARTED.match(msg):
            started += 1
        elif not (logger.startswith(prefix) or prefix in msg):
            continue
        elif level == "INFO" and msg.startswith("skipped ") and " : " in msg:
            skipped += 1
        elif level == "ERROR" and TEST_FAILED.match(msg):
            bad += 1
    return started, bad, skipped


def suite_odoo(results, db, data_dir, logs, module=MODULE, name="odoo", also=None):
    """Install ``module`` into a new database and run its tests (suites ``name``, ``name``-install);
    ``also`` ({row: module}): in the same run, those modules' tests too, each counted in a row."""
    also = also or {}
    log = logs / f"{name}-install-and-test.log"
    started = time.monotonic()
    tags = ",".join(f"/{tagged}" for tagged in (module, *also.values()))
    proc = run(odoo_cmd(db, data_dir, "-i", module, "--test-tags", tags, "--stop-after-init",
                        "--log-level=info"), log)
    summary, skipped, ours, failures = parse_odoo_log(log, module)
    elapsed = f"{time.monotonic() - started:.0f} s, log {log}"
    for line in (ours + skipped + failures)[:40]:
        print("   " + line)
    if summary is None:
        results.add(name, 0, 1, f"no test summary in the log (exit {proc.returncode}); {elapsed}")
        return False
    failed, errors, total = summary
    bad, skips = failed + errors + len(skipped), len(skipped)
    # The other modules' counts come from their tests' log lines; ``module`` gets the rest of
    # Odoo's summary (so a failure no line names is ours), and never less than its own lines say.
    others = {row: module_test_counts(log, other) for row, other in also.items()}
    if others:
        total -= sum(n for n, _, _ in others.values())
        bad -= sum(b + k for _, b, k in others.values())
        skips -= sum(k for _, _, k in others.values())
        _, own_bad, own_skips = module_test_counts(log, module)
        bad, skips = max(bad, own_bad + own_skips), max(skips, own_skips)
    results.add(name, max(total - bad, 0), bad,
                f"{skips} skipped (a skipped test is a failure); {elapsed}" if skips else elapsed)
    install_ok = not ours  # test failures are counted above; this is about installing
    results.add("install" if name == "odoo" else f"{name}-install", int(install_ok), int(not install_ok),
                "clean" if install_ok else f"{len(ours)} warning/error line(s) of ours while installing")
    if total == 0:
        results.add(f"{name}-count", 0, 1, f"Odoo ran no test of {module}")
    for row, other in also.items():
        other_total, other_bad, other_skips = others[row]
        note = f"Odoo's {other} tests, {module} installed"
        results.add(row, max(other_total - other_bad - other_skips, 0), other_bad + other_skips,
                    f"{note}; {other_skips} skipped (a skipped test is a failure)" if other_skips else note)
        if other_total == 0:
            results.add(f"{row}-count", 0, 1, f"Odoo ran no test of {other}")
    return True


def suite_pytest_odoo(results, db, data_dir, tmp):
    """pytest-odoo reads the Odoo config file; write one matching the odoo-bin run."""
    conf = tmp / "odoo.conf"
    lines = ["[options]", f"addons_path = {ADDONS_PATH}", f"data_dir = {data_dir}"]
    lines += [f"{key} = {value}" for key, value in pg_settings().items()]
    conf.write_text("\n".join(lines) + "\n")
    xml = tmp / "pytest-odoo.xml"
    # The path must go through the addons folder so the tests import as odoo.addons.pos_cashkeeper.
    run([PY, "-m", "pytest", "-q", "-p", "odoo", "-p", "no:cacheprovider", f"--odoo-database={db}",
         f"--odoo-config={conf}", "--odoo-http", f"--junitxml={xml}", str(ADDONS_DIR / MODULE / "tests")],
        cwd=tmp)
    counts = _junit_counts(xml)
    results.add("pytest-odoo", counts["passed"], counts["failed"] + counts["skipped"])


def suite_chaos(results, db, data_dir, logs):
    for mode, extra in (("", []), ("cloud", ["--cloud"])):
        log = logs / f"chaos{'-' + mode if mode else ''}.log"
        proc = run([PY, REPO / "tools" / "chaos.py", "--payments", str(CHAOS_PAYMENTS), "--db", db,
                    "--data-dir", data_dir, *extra], log)
        text = Path(log).read_text(errors="replace")
        summary = [line for line in text.splitlines() if line.startswith((
            "payments", "lost", "doubled", "unbacked", "stuck", "unbooked", "invented", "log errors", "flagged",
            "figures", "error", "chaos:"))]
        print("\n".join("   " + line for line in summary))
        ok = proc.returncode == 0
        what = "through the on-site agent, Odoo behind nginx" if mode else "on-premise"
        results.add(f"chaos{' ' + mode if mode else ''}", int(ok), int(not ok),
                    f"{CHAOS_PAYMENTS} payments with faults, {what}; log {log}")


def suite_bench(results, db, data_dir, logs):
    log = logs / "bench-smoke.log"
    proc = run([PY, REPO / "tools" / "bench.py", "--smoke", "--db", db, "--data-dir", data_dir], log)
    text = Path(log).read_text(errors="replace")
    wanted = ("detection latency p95", "targets")
    print("\n".join("   " + line for line in text.splitlines() if line.startswith(wanted)))
    ok = proc.returncode == 0 and "no payment lost: met" in text
    results.add("bench", int(ok), int(not ok), f"smoke run; log {log}")


UNINSTALL = """
module = env['ir.module.module'].search([('name', '=', '{module}')])
module.button_immediate_uninstall()
env.invalidate_all()
print('UNINSTALL-STATE', module.state)
"""


def suite_uninstall(results, db, data_dir, logs, module=MODULE, name="uninstall"):
    log = logs / f"{name}.log"
    proc = run(odoo_cmd(db, data_dir, "--no-http", "--log-level=warn", command=["shell"]), log,
               input=UNINSTALL.format(module=module), text=True)
    text = Path(log).read_text(errors="replace")
    _, _, ours, failures = parse_odoo_log(log, module)
    ok = proc.returncode == 0 and "UNINSTALL-STATE uninstalled" in text and not ours and not failures
    for line in (ours + failures)[:20]:
        print("   " + line)
    results.add(name, int(ok), int(not ok), "clean" if ok else f"see {log}")


def suite_upgrade(results, logs):
    """Databases made with the previous releases, upgraded to this checkout (tools/upgrade_check.py)."""
    started = time.monotonic()
    proc = run([PY, str(REPO / "tools" / "upgrade_check.py")], logs / "upgrade.out")
    lines = (logs / "upgrade.out").read_text(errors="replace").splitlines()
    for line in lines:
        if line.startswith(("upgrade", "  FAIL")):
            print("   " + line)
    counts = re.search(r"upgrade: (\d+) passed, (\d+) failed", "\n".join(lines))
    passed, failed = (int(counts[1]), int(counts[2])) if counts else (0, 1)
    releases = [line.split()[2] for line in lines if line.startswith("upgrade from ")]
    results.add("upgrade", passed, failed or int(proc.returncode != 0),
                f"checks after -u from {', '.join(releases) or '?'} ({time.monotonic() - started:.0f} s; "
                f"{logs / 'upgrade.out'})")


def suite_kiosk(results, db, data_dir, logs):
    """The kiosk bridge in a database of its own: shops without a kiosk never get pos_self_order,
    so the addon's own suites run without it, and this one with it."""
    if suite_odoo(results, db, data_dir, logs, module=KIOSK_MODULE, name="kiosk", also=KIOSK_ODOO_TESTS):
        suite_uninstall(results, db, data_dir, logs, module=KIOSK_MODULE, name="kiosk-uninstall")


def suite_screenshots(results, tmp, logs):
    """tools/screenshots.py as a maintainer runs it (its tours and shots), written to a temporary
    folder: the description page's images can always be made again."""
    from screenshots import RUNS

    started, out, log = time.monotonic(), tmp / "screenshots", logs / "screenshots.log"
    proc = run([PY, str(REPO / "tools" / "screenshots.py"), "--out", str(out)], log)
    wanted = {"icon.png", *(shot for _tags, shots in RUNS.values() for shot in shots)}
    shots = {path.name for path in out.glob("*.png") if path.stat().st_size}
    ok = proc.returncode == 0 and shots == wanted
    results.add("screenshots", int(ok), int(not ok),
                f"{len(shots)} images ({time.monotonic() - started:.0f} s; log {log})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated suites: " + ",".join(SUITES))
    parser.add_argument("--keep-db", action="store_true", help="keep the throwaway database")
    args = parser.parse_args()
    wanted = set(args.only.split(",")) if args.only else set(SUITES)
    unknown = wanted - set(SUITES)
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(sorted(unknown))}")

    results = Results()
    tmp = Path(tempfile.mkdtemp(prefix="ck-tests-"))
    logs = CK_HOME / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    db = f"ck_test_{os.getpid()}_{int(time.time())}"
    kiosk_db = f"{db}_kiosk"
    data_dir = tmp / "data"
    try:
        if "ruff" in wanted:
            suite_ruff(results)
        if "ckfast" in wanted:
            suite_ckfast(results, tmp)
        if "agent" in wanted:
            suite_agent(results, tmp)
        if wanted & {"odoo", "pytest-odoo", "chaos", "bench", "uninstall"} and suite_odoo(results, db, data_dir, logs):
                if "pytest-odoo" in wanted:
                    suite_pytest_odoo(results, db, data_dir, tmp)
                if "chaos" in wanted:
                    suite_chaos(results, db, data_dir, logs)
                if "bench" in wanted:
                    suite_bench(results, db, data_dir, logs)
                if "uninstall" in wanted:
                    suite_uninstall(results, db, data_dir, logs)
        if "upgrade" in wanted:
            suite_upgrade(results, logs)
        if "kiosk" in wanted:
            suite_kiosk(results, kiosk_db, data_dir, logs)
        if "screenshots" in wanted:
            suite_screenshots(results, tmp, logs)
    finally:
        if not args.keep_db:
            for name in (db, kiosk_db):
                subprocess.run(["dropdb", "--if-exists", name], check=False, capture_output=True)
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept databases {db}, {kiosk_db} (data dir {data_dir})")
    return results.close()


if __name__ == "__main__":
    sys.exit(main())
