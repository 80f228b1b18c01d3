"""What the tools share to run Odoo: the odoo-bin command line (the Odoo tree, interpreter and
addons folder tools/dev exported, the environment's PostgreSQL settings) and a small server
harness (install, shell scripts, start/stop) for the chaos run and the benchmark, and the
on-site agent's launcher (demo, benchmark, screenshots)."""

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
PY = os.environ.get("CK_PY", sys.executable)
ODOO_SRC = Path(os.environ.get("CK_ODOO_SRC", "/opt/odoo18"))
ADDONS_DIR = Path(os.environ.get("CK_ADDONS_DIR", REPO.parent))
ADDONS_PATH = f"{ODOO_SRC / 'addons'},{ADDONS_DIR}"


def start_agent(odoo_url, api_key, ckmonitor_port, log, **settings):
    """The real on-site agent (agent/, this checkout's) as a process: the tests' launcher
    (tests/agent_process.py, plain Python), so that tests and tools start it one way."""
    spec = importlib.util.spec_from_file_location("agent_process", REPO / "tests" / "agent_process.py")
    agent_process = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(agent_process)
    return agent_process.AgentProcess(odoo_url, api_key, ckmonitor_port, log, python=PY, **settings).start().proc


def pg_settings():
    """Odoo config keys for the PostgreSQL settings given as PGHOST/PGPORT/PGUSER."""
    names = (("PGHOST", "db_host"), ("PGPORT", "db_port"), ("PGUSER", "db_user"))
    return {key: os.environ[env] for env, key in names if os.environ.get(env)}


def odoo_command(db, data_dir, *args, command=()):
    """odoo-bin [COMMAND] with our addons path, data dir and database, then ARGS."""
    return [PY, str(ODOO_SRC / "odoo-bin"), *command, f"--addons-path={ADDONS_PATH}", f"--data-dir={data_dir}",
            "-d", db, *(f"--{key}={value}" for key, value in pg_settings().items()), *args]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Odoo:
    """One database's Odoo: install the addon, run `odoo-bin shell` scripts that print
    `MARKER {json}`, and start/stop a threaded server on a free port."""

    def __init__(self, db, data_dir, log):
        self.db, self.data_dir, self.log = db, data_dir, log
        self.port = free_port()
        self.proc = None

    def cmd(self, *args, command=()):
        return odoo_command(self.db, self.data_dir, "--max-cron-threads=0", *args, command=command)

    def shell(self, script, marker):
        with open(self.log, "a") as log:
            out = subprocess.run(self.cmd("--no-http", command=["shell"]), input=script, text=True,
                                 stdout=subprocess.PIPE, stderr=log, check=False).stdout
        for line in out.splitlines():
            if line.startswith(marker + " "):
                return json.loads(line[len(marker) + 1:])
        sys.exit(f"odoo shell: the `{marker}` step failed; see {self.log}")

    def install(self):
        with open(self.log, "a") as log:
            subprocess.run(self.cmd("-i", "pos_cashkeeper", "--stop-after-init", "--no-http"), stdout=log,
                           stderr=subprocess.STDOUT, check=True)

    def start(self, *args):
        """Serve on a free port (threaded; pass e.g. ``--workers=2`` for prefork)."""
        log = open(self.log, "a")  # noqa: SIM115 - kept open for the server's lifetime
        self.proc = subprocess.Popen(self.cmd(f"--http-port={self.port}", "--http-interface=127.0.0.1",
                                              f"--gevent-port={free_port()}", f"--db-filter=^{self.db}$", *args),
                                     stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/web/login", timeout=2).ok:
                    return
            except requests.RequestException:
                time.sleep(0.3)
        sys.exit(f"Odoo did not start; see {self.log}")

    def stop(self):
        """SIGTERM, as a service manager stops Odoo; if it has not exited 30 s later (a thread
        still serving a kept-alive connection), SIGKILL: for the chaos run, a crash is a restart too."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"
