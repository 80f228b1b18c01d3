"""What the tools share to run Odoo: the odoo-bin command line (the Odoo tree, interpreter and
addons folder tools/dev exported, the environment's PostgreSQL settings) and a small server
harness (install, shell scripts, start/stop, nginx in front as Odoo's deployment documentation
sets it up) for the chaos run and the benchmark, and the on-site agent's launcher (demo,
benchmark, screenshots)."""

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
PY = os.environ.get("CK_PY", sys.executable)
ODOO_SRC = Path(os.environ.get("CK_ODOO_SRC", "/opt/odoo18"))
ADDONS_DIR = Path(os.environ.get("CK_ADDONS_DIR", REPO.parent))
ADDONS_PATH = f"{ODOO_SRC / 'addons'},{ADDONS_DIR}"


def _agent_process():
    """tests/agent_process.py (plain Python): the tests' agent launcher, so that tests and tools
    start the agent one way."""
    spec = importlib.util.spec_from_file_location("agent_process", REPO / "tests" / "agent_process.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_AGENT_PROCESS = _agent_process()
wait_until = _AGENT_PROCESS.wait_until


def start_agent(odoo_url, api_key, ckmonitor_port, log, **settings):
    """The real on-site agent (agent/, this checkout's) as a process (a Popen)."""
    return _AGENT_PROCESS.AgentProcess(odoo_url, api_key, ckmonitor_port, log, python=PY, **settings).start().proc


def stop_all(processes, timeout=30):
    """SIGTERM them all, then wait for each (a graceful stop: agents say goodbye)."""
    for proc in processes:
        proc.terminate()
    for proc in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)


# Run in `odoo-bin shell` (demo, screenshots): see Odoo.open_kiosk. A kiosk is unattended, so
# it has a method of its own ("CashKeeper (kiosk)", the drawer beside the kiosk), alone on it:
# the kiosk opens straight on it.
KIOSK_SETUP = """
import json
from odoo import Command
company = env.ref("base.main_company")
admin = env.ref("base.user_admin")
kiosk = env["pos.config"].search([("self_ordering_mode", "=", "kiosk"), ("company_id", "=", company.id)], limit=1) \
    or env["pos.config"].create({{"name": "Kiosk", "self_ordering_mode": "kiosk", "company_id": company.id}})
if not kiosk.current_session_id:
    journal = env["account.journal"].search([("code", "=", "CKP"), ("company_id", "=", company.id)], limit=1) \
        or env["account.journal"].create({{"name": "CashKeeper", "type": "bank", "code": "CKP",
                                          "company_id": company.id}})
    method = env["pos.payment.method"].search([("name", "=", "CashKeeper (kiosk)"), ("company_id", "=", company.id)],
                                              limit=1)
    values = {{"cashkeeper_host": "127.0.0.1", "cashkeeper_port": {port}}}
    if method:
        method.write(values)
    else:
        method = env["pos.payment.method"].create({{
            "name": "CashKeeper (kiosk)", "journal_id": journal.id, "payment_method_type": "terminal",
            "use_payment_terminal": "cashkeeper", "cashkeeper_id_caja": "2", "company_id": company.id, **values}})
    kiosk.write({{"self_ordering_default_user_id": admin.id, "self_ordering_pay_after": "each",
                 "self_ordering_service_mode": "counter", "self_ordering_takeaway": False,
                 "payment_method_ids": [Command.set(method.ids)]}})
    kiosk.with_user(admin).open_ui()
    kiosk.current_session_id.set_opening_control(0, "")
env.cr.commit()
print("KIOSK-SETUP " + json.dumps({{"id": kiosk.id, "name": kiosk.name, "route": kiosk._get_self_order_route()}}))
"""


def pg_settings():
    """Odoo config keys for the PostgreSQL settings given as PGHOST/PGPORT/PGUSER."""
    names = (("PGHOST", "db_host"), ("PGPORT", "db_port"), ("PGUSER", "db_user"))
    return {key: os.environ[env] for env, key in names if os.environ.get(env)}


def odoo_command(db, data_dir, *args, command=()):
    """odoo-bin [COMMAND] with our addons path, data dir and database, then ARGS."""
    return [PY, str(ODOO_SRC / "odoo-bin"), *command, f"--addons-path={ADDONS_PATH}", f"--data-dir={data_dir}",
            "-d", db, *(f"--{key}={value}" for key, value in pg_settings().items()), *args]


def in_threads(target, args_list):
    """``target(*args)`` for each of ``args_list`` at once, each in a thread; returns when all are done."""
    threads = [threading.Thread(target=target, args=args) for args in args_list]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


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
        self.gevent_port = free_port()
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

    def install(self, modules="pos_cashkeeper"):
        with open(self.log, "a") as log:
            subprocess.run(self.cmd("-i", modules, "--stop-after-init", "--no-http"), stdout=log,
                           stderr=subprocess.STDOUT, check=True)

    def open_kiosk(self, ckmonitor_port):
        """The demo kiosk (pos_self_order's, with the kiosk bridge installed) offering a CashKeeper
        method of its own, its session open; returns {id, name, route} (the kiosk's URL path)."""
        return self.shell(KIOSK_SETUP.format(port=ckmonitor_port), "KIOSK-SETUP")

    def start(self, *args):
        """Serve on a free port (threaded; pass e.g. ``--workers=2`` for prefork)."""
        log = open(self.log, "a")  # noqa: SIM115 - kept open for the server's lifetime
        self.proc = subprocess.Popen(self.cmd(f"--http-port={self.port}", "--http-interface=127.0.0.1",
                                              f"--gevent-port={self.gevent_port}", f"--db-filter=^{self.db}$", *args),
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


# Odoo's documented nginx set-up for a multi-worker server: /websocket to the gevent port with
# the upgrade headers, everything else to the HTTP workers.
NGINX_CONF = """
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi; uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream odoo {{ server 127.0.0.1:{http}; keepalive 16; }}
    upstream odoochat {{ server 127.0.0.1:{gevent}; }}
    server {{
        listen 127.0.0.1:{port};
        proxy_read_timeout 720s; proxy_connect_timeout 720s; proxy_send_timeout 720s;
        proxy_set_header X-Forwarded-Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Real-IP $remote_addr;
        location /websocket {{
            proxy_pass http://odoochat;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
        location / {{
            proxy_pass http://odoo;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


class Nginx:
    """nginx (Debian's) in front of an Odoo started with workers: ``url`` is what agents and
    clients use, as in production."""

    def __init__(self, odoo):
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            sys.exit("nginx is missing (the benchmark runs Odoo behind it, as in production). "
                     "Fix: sudo apt-get install nginx")
        self.prefix = Path(tempfile.mkdtemp(prefix="ck-nginx-"))
        self.port = free_port()
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(NGINX_CONF.format(prefix=self.prefix, http=odoo.port, gevent=odoo.gevent_port,
                                               port=self.port))
        self.binary = binary
        self.start()

    def start(self):
        self.proc = subprocess.Popen([self.binary, "-p", str(self.prefix), "-c", str(self.conf), "-e",
                                      str(self.prefix / "error.log"), "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # both Odoo's workers and its websocket worker answer
            try:
                if all(requests.get(f"{self.url}{path}", timeout=2).ok for path in ("/web/login", "/websocket/health")):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        sys.exit(f"nginx or Odoo's websocket worker did not start; see {self.prefix / 'error.log'}")

    def restart(self):
        """Every connection through it is cut (websockets included), as a proxy reload or a network blip does."""
        self.stop()
        self.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
