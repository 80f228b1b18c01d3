"""The real on-site agent (agent/), run as its own process against the test's Odoo server, with a
tiny HTTP control a tour can call (``?ck_agent=PORT``) to stop and restart it mid-payment."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

REPO = Path(__file__).resolve().parents[1]


def wait_until(predicate, timeout=15.0, step=0.05):
    """True as soon as ``predicate()`` is true, False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


class AgentProcess:
    """The one launcher of the agent as a process, for the tests and for tools/ (demo, benchmark,
    screenshots import this file): configured through its environment; ``settings`` are more
    CK_AGENT_* values, e.g. ``poll_wait=2``, ``database="db"``, ``fixed_interval=2``. ``sim``: the
    simulator a tour's control asks (wait-queued)."""

    def __init__(self, odoo_url, api_key, ckmonitor_port, log_path, sim=None, python=sys.executable, **settings):
        self.sim, self.log_path, self.python, self.proc = sim, log_path, python, None
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO / "agent"), str(REPO)]),
            "CK_AGENT_ODOO_URL": odoo_url,
            "CK_AGENT_API_KEY": api_key,
            "CK_AGENT_CKMONITOR_HOST": "127.0.0.1",
            "CK_AGENT_CKMONITOR_PORT": str(ckmonitor_port),
            **{f"CK_AGENT_{name.upper()}": str(value) for name, value in settings.items()},
        }
        self.control = None

    def start(self):
        Path(self.log_path).write_bytes(b"")  # one run per log: "connected" means this run
        log = open(self.log_path, "ab")  # noqa: SIM115 (kept open for the process's life)
        self.proc = subprocess.Popen([self.python, "-m", "cashkeeper_agent"], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    def stop(self, timeout=20):
        """Graceful stop (SIGTERM), as systemd or the Windows service manager does it."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("the agent did not stop within 20 s of SIGTERM") from None
        return self.proc.returncode if self.proc else None

    def log(self):
        return Path(self.log_path).read_text(errors="replace")

    # -- control for tours -------------------------------------------------------------------
    def serve_control(self):
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                command = parse_qs(urlparse(self.path).query).get("cmd", [""])[0]
                status, text = 200, "ok"
                if command == "stop":
                    text = f"stopped, exit code {agent.stop()}"
                elif command == "start":  # and wait until it is connected to Odoo
                    agent.start()
                    connected = wait_until(lambda: "connected to Odoo" in agent.log())
                    status, text = (200, "connected") if connected else (504, agent.log())
                elif command == "wait-queued":  # until the agent's C reached the drawer
                    queued = wait_until(lambda: agent.sim.tickets())
                    status, text = (200, "queued") if queued else (504, "no ticket at the drawer")
                else:
                    status, text = 400, f"unknown command {command!r}"
                body = text.encode()
                self.send_response(status)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.control = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.control.serve_forever, daemon=True).start()
        return self.control.server_address[1]

    def close(self):
        self.stop()
        if self.control:
            self.control.shutdown()
            self.control.server_close()


class TestCookieProxy:
    """Forwards the agent's HTTP calls (and its bus websocket, as a tunnel) to the test's Odoo,
    adding the cookie by which Odoo's test framework lets a request use the test's transaction (it
    refuses cookie-less requests once a browser is involved). The agent under test runs
    unmodified; only this hop knows about tests."""

    def __init__(self, target, cookie):
        self.target, self.cookie = target.rstrip("/"), cookie  # cookie: () -> "name=value"
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.forward(body)

            def do_GET(self):
                if self.headers.get("Upgrade", "").lower() == "websocket":
                    self.tunnel()
                else:
                    self.forward(None)

            def tunnel(self):
                """The handshake with the cookie added, then bytes both ways until one side closes."""
                target = urlparse(proxy.target)
                upstream = socket.create_connection((target.hostname, target.port), timeout=10)
                upstream.settimeout(None)
                lines = [f"GET {self.path} HTTP/1.1"]
                for key, value in self.headers.items():
                    if key.lower() not in ("cookie", "host", "origin"):
                        lines.append(f"{key}: {value}")
                lines += [f"Host: {target.netloc}", f"Origin: {proxy.target}",
                          "Cookie: " + "; ".join(filter(None, [self.headers.get("Cookie"), proxy.cookie()]))]
                upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
                client = self.connection

                def pipe(source, sink):
                    try:
                        while chunk := source.recv(65536):
                            sink.sendall(chunk)
                    except OSError:
                        pass
                    finally:
                        for sock in (source, sink):
                            with contextlib.suppress(OSError):
                                sock.shutdown(socket.SHUT_RDWR)

                other = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
                other.start()
                pipe(client, upstream)
                other.join(5)
                upstream.close()
                self.close_connection = True

            def forward(self, body):
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "cookie", "connection")}
                headers["Cookie"] = "; ".join(filter(None, [self.headers.get("Cookie"), proxy.cookie()]))
                upstream = urllib.request.Request(proxy.target + self.path, data=body, headers=headers,
                                                  method=self.command)
                try:
                    with urllib.request.urlopen(upstream, timeout=120) as response:
                        status, reply, reply_headers = response.status, response.read(), response.headers
                except urllib.error.HTTPError as e:
                    status, reply, reply_headers = e.code, e.read(), e.headers
                except OSError as e:
                    status, reply, reply_headers = 502, str(e).encode(), {}
                try:
                    self.send_response(status)
                    for key, value in reply_headers.items():
                        if key.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass  # the agent stopped meanwhile: nobody to answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
