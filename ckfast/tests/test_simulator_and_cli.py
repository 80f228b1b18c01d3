"""The simulator as a program (python -m, control port) and the diagnostic CLI against it."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ckfast import cli
from ckfast.simulator import Simulator, TicketState

REPO = Path(__file__).resolve().parents[2]


def run_cli(port, *args):
    lines = []
    code = cli.main(["--port", str(port), "--read-timeout", "0.5", "--retries", "1", *args], out=lines.append)
    return code, "\n".join(lines)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sim_cp():
    """Simulator whose control port is its CKFast port + 1, as the CLI expects by default."""
    for _ in range(20):
        port = free_port()
        try:
            sim = Simulator(port=port, control_port=port + 1, pay_after=None).start()
        except OSError:
            continue
        yield sim
        sim.stop()
        return
    pytest.fail("no free pair of ports")


def test_cli_ping_create_status_wait(sim_cp):
    port = sim_cp.port
    assert run_cli(port, "ping")[0] == 0
    code, out = run_cli(port, "create", "CLI1", "12.34", "--id-caja", "1", "--vendedor", "V1")
    assert code == 0 and "sending C|CLI1|1234||1||V1|efectivo" in out and "queued: OK|Added" in out
    code, out = run_cli(port, "status", "CLI1")
    assert code == 0 and "pending" in out
    assert run_cli(port, "sim", "pay", "CLI1") == (0, "ok pay CLI1")
    code, out = run_cli(port, "wait", "CLI1", "--interval", "0.05", "--timeout", "2")
    assert code == 0 and "paid (OK|OK)" in out


def test_cli_reports_problems_with_exit_codes(sim_cp):
    port = sim_cp.port
    code, out = run_cli(port, "status", "NOPE")
    assert code == 1 and "not found" in out
    code, out = run_cli(port, "create", "bad|id", "1")
    assert code == 2 and "NumTiquet" in out
    code, out = run_cli(port, "create", "A1", "1", "--amount-format", "decimal_comma")
    assert code == 1 and "Invalid amount" in out  # this simulator expects cents
    run_cli(port, "create", "A2", "1")
    code, out = run_cli(port, "create", "A2", "1")
    assert code == 1 and "Already exists" in out
    code, out = run_cli(port, "create", "A2", "1", "--resend")
    assert code == 0 and "already existed" in out
    code, out = run_cli(free_port(), "ping")
    assert code == 1 and "Cannot reach CKMonitor" in out and "firewall" in out


def test_cli_wait_gives_up_on_cancel_and_timeout(sim_cp):
    port = sim_cp.port
    run_cli(port, "create", "W1", "1")
    run_cli(port, "create", "W2", "1")
    run_cli(port, "sim", "cancel", "W1")
    code, out = run_cli(port, "wait", "W1", "--interval", "0.05")
    assert code == 1 and "cancelled at the drawer" in out
    code, out = run_cli(port, "wait", "W2", "--interval", "0.05", "--timeout", "0.2")
    assert code == 1 and "pending" in out


def test_control_port_drives_faults_and_tickets(sim_cp):
    port = sim_cp.port
    assert run_cli(port, "sim", "fault", "close", "1")[0] == 0
    code, out = run_cli(port, "--retries", "0", "status", "X")
    assert code == 1 and "closed without a reply" in out
    run_cli(port, "sim", "fault", "refuse")
    code, out = run_cli(port, "ping")
    assert code == 1 and "connection refused" in out
    assert run_cli(port, "sim", "clear")[0] == 0
    assert run_cli(port, "ping")[0] == 0
    run_cli(port, "create", "F1", "2")
    run_cli(port, "sim", "hold", "F1")
    code, out = run_cli(port, "sim", "tickets")
    assert out == "F1 pending 2.00"
    run_cli(port, "sim", "forget")
    assert run_cli(port, "sim", "tickets")[1] == "(no tickets)"
    assert "fault: close" in run_cli(port, "sim", "log")[1]
    code, out = run_cli(port, "sim", "pay", "NOPE")
    assert code == 1 and out == "error: no ticket NOPE"
    code, out = run_cli(port, "sim", "fault", "explode")
    assert code == 1 and "error" in out
    assert run_cli(port, "sim", "pay-after", "0")[0] == 0
    run_cli(port, "create", "F2", "2")
    assert sim_cp.ticket_state("F2") is TicketState.PAID


def test_settling_twice_is_refused(sim):
    sim.handle_line(b"C|P1|100|||||efectivo\r\n")
    sim.pay("P1")
    with pytest.raises(ValueError, match="already paid"):
        sim.cancel("P1")


def test_simulator_handles_unknown_commands_and_bad_ids(sim):
    assert sim.handle_line(b"X|1\r\n") == b"NOK Unknown command\r\n"
    assert sim.handle_line(b"C|T1|100\r\n") == b"NOK Unknown command\r\n"
    assert sim.handle_line(b"C|T-1|100|||||efectivo\r\n") == b"NOK Invalid ID\r\n"
    assert sim.handle_line(b"C|" + b"A" * 21 + b"|100|||||efectivo\r\n") == b"NOK Invalid ID\r\n"
    assert sim.handle_line(b"C|T1|0|||||efectivo\r\n") == b"NOK Invalid amount\r\n"


def test_simulator_runs_as_a_program_and_stops_on_sigterm():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ckfast.simulator", "--port", str(port), "--control-port", "0",
         "--pay-after", "never"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO,
    )
    try:
        banner = proc.stdout.readline()
        assert f"listening on 127.0.0.1:{port}" in banner
        code, out = run_cli(port, "create", "PROG1", "1")
        assert code == 0
        assert "C|PROG1|100|||||efectivo  ->  OK|Added" in proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()


def test_cli_runs_as_module():
    proc = subprocess.run(
        [sys.executable, "-m", "ckfast", "--port", str(free_port()), "--retries", "0", "ping"],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=20, check=False,
    )
    assert proc.returncode == 1 and "Cannot reach CKMonitor" in proc.stdout


def test_simulator_refuses_a_busy_port():
    with Simulator(port=0) as first, pytest.raises(OSError):
        Simulator(port=first.port).start()


def test_package_imports_without_odoo():
    """ckfast must stay Odoo-free: the CLI, the simulator and the later agent run without it."""
    code = (
        "import sys; sys.modules['odoo'] = None\n"  # any `import odoo` now fails
        "import ckfast, ckfast.client, ckfast.protocol, ckfast.simulator, ckfast.cli, ckfast.errors\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=20, check=False)
    assert proc.returncode == 0, proc.stderr


def test_settle_all_and_cancel_after(sim_cp):
    port = sim_cp.port
    run_cli(port, "create", "S1", "1")
    run_cli(port, "create", "S2", "1")
    assert run_cli(port, "sim", "pay-all") == (0, "ok paid: S1 S2")
    assert run_cli(port, "sim", "cancel-all") == (0, "ok cancelled: (no pending ticket)")
    run_cli(port, "sim", "cancel-after", "0")
    run_cli(port, "create", "S3", "1")
    code, out = run_cli(port, "status", "S3")
    assert "cancelled at the drawer" in out


def test_control_port_answers_http(sim):
    import urllib.request

    sim.handle_line(b"C|H1|100|||||efectivo\r\n")
    url = f"http://127.0.0.1:{sim.control_port}/?cmd=pay-all"
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert resp.read() == b"ok paid: H1\n"
    assert sim.ticket_state("H1") is TicketState.PAID
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://127.0.0.1:{sim.control_port}/?cmd=pay+NOPE", timeout=5)
    assert err.value.code == 400
