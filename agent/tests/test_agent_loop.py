"""The agent's loops against the transport fake (real HTTP, no Odoo rules: each test moves its
tickets as Odoo would) and the real CKMonitor simulator."""

import logging
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from conftest import AGENT_DIR, REPO
from fake_odoo import wait_until

from ckfast import CKFastClient
from ckfast.simulator import TicketState

T = "K1ABC123"


def c_lines(sim, ticket=T):
    return [r.line for r in sim.requests if r.line.startswith(f"C|{ticket}|".encode())]


def s_count(sim, ticket=T):
    return len([r for r in sim.requests if r.line.startswith(f"S|{ticket}".encode())])


def reports(odoo, command, status="ok"):
    return [p for p in odoo.params("report", status) if p["command"] == command]


def replies(odoo, command):
    return [p["reply"] for p in reports(odoo, command)]


def reported(odoo, command, reply, timeout=5.0):
    """Wait until the agent reported ``reply`` to ``command`` (the test then plays Odoo's part)."""
    return wait_until(lambda: reply in replies(odoo, command), timeout=timeout)


# The plain path, scripted as Odoo would answer it (the real rules are tested against Odoo).
PLAIN = {"OK|Added\r\n": "queued", "OK|Pending\r\n": "pending", "OK|OK\r\n": "paid",
         "OK|Cancel\r\n": "cancelled"}


def queue_and_pend(odoo, sim, ticket=T):
    """Odoo's part for a ticket whose C the agent sent: queued, then pending on the first S."""
    odoo.moves = PLAIN
    assert reported(odoo, "C", "OK|Added\r\n")
    assert reported(odoo, "S", "OK|Pending\r\n")


def test_new_ticket_claimed_once_sent_once_and_paid(sim, odoo, make_agent, caplog):
    caplog.set_level(logging.DEBUG)
    agent = make_agent().start()
    assert wait_until(agent.connected.is_set)
    odoo.add_ticket(T)
    queue_and_pend(odoo, sim)
    assert c_lines(sim) == [f"C|{T}|1234||1|TPV1||efectivo\r\n".encode()]
    sim.pay(T)
    assert reported(odoo, "S", "OK|OK\r\n")
    time.sleep(0.3)  # several more status rounds: nothing new to ask or report
    assert odoo.count("claim") == 1
    assert len(c_lines(sim)) == 1
    [c_report] = reports(odoo, "C")
    assert c_report == {"ticket": T, "command": "C", "attempt": 1, "reply": "OK|Added\r\n", "ours": True,
                        "error": None}
    # S is asked every 50 ms, but only changes are reported: pending once, paid once.
    assert wait_until(lambda: T not in agent._view)  # final: no longer watched
    assert replies(odoo, "S") == ["OK|Pending\r\n", "OK|OK\r\n"]
    asked = s_count(sim)
    time.sleep(0.2)
    assert s_count(sim) == asked  # final: no longer watched
    heartbeat = odoo.params("poll")[-1]
    assert heartbeat["ckmonitor"] == {"reachable": True, "endpoint": f"127.0.0.1:{sim.port}",
                                      "message": "answers CKFast"}
    assert (heartbeat["version"], heartbeat["protocol"]) == ("18.0.1.1.0", 2)
    agent.shutdown()
    assert odoo.params("poll")[-1]["bye"] is True
    assert odoo.api_key not in caplog.text
    assert f"ticket {T} claimed (attempt 1)" in caplog.text
    assert f"ticket {T}: C sent, CKMonitor answered OK|Added" in caplog.text
    assert f"ticket {T}: pending -> paid" in caplog.text


def test_without_the_bus_websocket_it_polls_on_the_fallback_interval(sim, odoo, make_agent, caplog):
    """The fake serves no websocket (a proxy without websocket support): the agent says why, once,
    and polls every fallback_interval instead of every heartbeat."""
    agent = make_agent(CK_AGENT_FALLBACK_INTERVAL="0.2", CK_AGENT_POLL_WAIT="30").start()
    assert wait_until(lambda: "bus websocket cannot be opened" in caplog.text)
    assert "HTTP 404" in caplog.text and "/websocket to Odoo's gevent port" in caplog.text
    before = odoo.count("poll")
    time.sleep(1.0)
    assert 3 <= odoo.count("poll") - before <= 7  # about every 0.2 s, never held
    assert not agent.bus.listening
    odoo.add_ticket(T)
    assert reported(odoo, "C", "OK|Added\r\n", timeout=2)
    assert caplog.text.count("bus websocket cannot be opened") == 1  # retried quietly


def test_cancelled_at_the_drawer(sim, odoo, make_agent):
    make_agent().start()
    odoo.add_ticket(T)
    queue_and_pend(odoo, sim)
    sim.cancel(T)
    assert reported(odoo, "S", "OK|Cancel\r\n")
    assert replies(odoo, "S") == ["OK|Pending\r\n", "OK|Cancel\r\n"]


def test_several_new_tickets_at_once(sim, odoo, make_agent):
    odoo.moves = PLAIN
    tickets = [f"K{i}XYZ" for i in range(5)]
    for ticket in tickets:
        odoo.add_ticket(ticket)
    make_agent().start()
    assert wait_until(lambda: len(reports(odoo, "C")) == 5)
    assert sorted(sim.tickets()) == sorted(tickets)
    assert odoo.count("claim") == 5


def test_odoo_failing_the_report_keeps_it_and_never_resends_c(sim, odoo, make_agent, caplog):
    odoo.moves = PLAIN
    odoo.fail_next("report", 502, count=3)
    agent = make_agent().start()
    assert wait_until(agent.connected.is_set)
    odoo.add_ticket(T)
    assert wait_until(lambda: reports(odoo, "C"))
    assert len(c_lines(sim)) == 1
    assert odoo.count("claim") == 1
    failed, delivered = reports(odoo, "C", status=502), reports(odoo, "C")
    assert len(failed) == 3
    assert delivered == failed[:1]  # the very same report, sent again
    assert "Odoo unreachable" in caplog.text
    assert wait_until(lambda: "Odoo is back" in caplog.text)


def test_odoo_down_then_back(sim, odoo, make_agent, caplog):
    agent = make_agent().start()
    assert wait_until(agent.connected.is_set)
    time.sleep(0.1)
    odoo.stop()  # new connections refused
    odoo.moves = PLAIN
    odoo.add_ticket(T)
    assert wait_until(lambda: "Odoo unreachable" in caplog.text)
    time.sleep(0.3)
    odoo.start()  # same port
    assert reported(odoo, "C", "OK|Added\r\n", timeout=8)
    assert wait_until(lambda: "Odoo is back" in caplog.text)
    assert len(c_lines(sim)) == 1


def test_agent_stopped_before_its_report_resends_safely_on_restart(sim, odoo, make_agent, caplog):
    """The first process sent C but Odoo never got the report; the next claims attempt 2: the
    resend meets "already exists", which is ours: one ticket at the drawer."""
    odoo.fail_next("report", 502, count=1000)
    first = make_agent().start()
    odoo.add_ticket(T)
    assert wait_until(lambda: len(c_lines(sim)) == 1)
    assert wait_until(lambda: len(reports(odoo, "C", status=502)) >= 1)
    first.shutdown(grace=1)
    assert "did not get the report of its C" in caplog.text
    odoo.failures.clear()
    odoo.moves = {"NOK Already exists\r\n": "queued"}
    second = make_agent().start()
    assert wait_until(lambda: reports(odoo, "C"))
    claims = [c["ticket"] for c in odoo.params("claim")]
    assert claims == [T, T]
    last = reports(odoo, "C")[-1]
    assert (last["attempt"], last["reply"], last["ours"]) == (2, "NOK Already exists\r\n", True)
    assert list(sim.tickets()) == [T]
    second.shutdown()


def test_restart_with_a_ticket_new_after_one_attempt(sim, odoo, make_agent):
    CKFastClient("127.0.0.1", sim.port).create_ticket(T, Decimal("12.34"), id_caja="1", terminal="TPV1")
    odoo.add_ticket(T, attempts=1)  # the previous process's C reached CKMonitor, its report did not reach Odoo
    odoo.moves = {"NOK Already exists\r\n": "queued"}
    make_agent().start()
    assert wait_until(lambda: reports(odoo, "C"))
    [report] = reports(odoo, "C")
    assert (report["attempt"], report["reply"], report["ours"]) == (2, "NOK Already exists\r\n", True)
    assert list(sim.tickets()) == [T]
    assert sim.ticket_state(T) is TicketState.PENDING


def test_someone_elses_ticket_id_is_a_conflict(sim, odoo, make_agent):
    CKFastClient("127.0.0.1", sim.port).create_ticket(T, Decimal("1"))  # another till's ticket
    odoo.moves = {"NOK Already exists\r\n": "failed"}
    make_agent().start()
    odoo.add_ticket(T)
    assert wait_until(lambda: reports(odoo, "C"))
    [report] = reports(odoo, "C")
    assert (report["attempt"], report["reply"], report["ours"]) == (1, "NOK Already exists\r\n", False)


def test_ckmonitor_unreachable_is_reported_then_c_goes_out_once_back(sim, odoo, make_agent, caplog):
    sim.inject("refuse")
    make_agent().start()
    assert wait_until(lambda: odoo.params("poll") and odoo.params("poll")[-1]["ckmonitor"]["reachable"] is False)
    odoo.add_ticket(T)
    assert wait_until(lambda: reports(odoo, "C"))
    error = reports(odoo, "C")[0]["error"]
    assert (error["kind"], error["port"], error["cause"]) == ("unreachable", sim.port, "connection refused")
    assert "CKMonitor unreachable" in caplog.text
    odoo.moves = PLAIN
    sim.clear_faults()  # the ticket is still new in Odoo: the agent claims it again soon
    assert reported(odoo, "C", "OK|Added\r\n")
    assert list(sim.tickets()) == [T]
    assert len(c_lines(sim)) == 1  # the C attempts before were refused: nothing reached it
    assert [c["ticket"] for c in odoo.params("claim")][-1] == T and odoo.tickets[T].attempts >= 2
    assert wait_until(lambda: f"CKMonitor at 127.0.0.1:{sim.port} is back" in caplog.text)
    assert wait_until(lambda: odoo.params("poll")[-1]["ckmonitor"]["reachable"] is True)


def test_ckmonitor_fault_during_status_is_reported_once(sim, odoo, make_agent):
    make_agent().start()
    odoo.add_ticket(T)
    queue_and_pend(odoo, sim)
    sim.inject("refuse")
    assert wait_until(lambda: any(p["error"] for p in reports(odoo, "S")))
    time.sleep(0.3)
    errors = [p for p in reports(odoo, "S") if p["error"]]
    assert len(errors) == 1  # the same fault again is not news
    sim.clear_faults()
    sim.pay(T)
    assert reported(odoo, "S", "OK|OK\r\n")


def test_abandoned_after_a_lost_claim_is_watched_not_sent(sim, odoo, make_agent):
    """A ticket claimed by an earlier run whose C never arrived, then abandoned: the agent only
    asks (S), never sends C again; CKMonitor never heard of it."""
    odoo.add_ticket(T, state="abandoned", attempts=1)
    make_agent().start()
    assert reported(odoo, "S", "NOK Not found\r\n")
    assert odoo.count("claim") == 0
    assert c_lines(sim) == []


def test_claim_refused_sends_no_c(sim, odoo, make_agent):
    """Odoo answers claimed: false (the cashier cancelled meanwhile): nothing goes to CKMonitor."""
    original = odoo.claim

    def claim_after_cancel(params):
        odoo.tickets[params["ticket"]].state = "failed"  # Odoo fails a ticket cancelled before its claim
        return original(params)

    odoo.claim = claim_after_cancel
    make_agent().start()
    odoo.add_ticket(T)
    assert wait_until(lambda: odoo.count("claim") == 1)
    time.sleep(0.3)
    assert c_lines(sim) == []
    assert reports(odoo, "S") == []  # nothing to watch: no C ever went out


@pytest.mark.parametrize("request_line, reason", [
    ("C|OTHER1|1234||1|TPV1||efectivo", "NumTiquet"),  # another ticket's line
    (f"C|{T}|1234||1|TPV1\nX||efectivo", "Terminal"),  # a line break smuggled into a field
    (f"C|{T}|12.345.6||1|TPV1||efectivo", "Importe"),
])
def test_invalid_claim_request_is_reported_not_sent(sim, odoo, make_agent, caplog, request_line, reason):
    make_agent().start()
    odoo.add_ticket(T, request=request_line)
    assert wait_until(lambda: reports(odoo, "C"))
    error = reports(odoo, "C")[0]["error"]
    assert error["kind"] == "protocol" and error["raw"] == "" and reason in error["reason"]
    assert c_lines(sim) == []
    assert "C not sent" in caplog.text


@pytest.mark.parametrize("refusal", ["http", "rpc"])
def test_refused_key_backs_off_to_the_longest_delay(sim, odoo, make_agent, caplog, refusal):
    odoo.auth_failure = refusal
    agent = make_agent(CK_AGENT_API_KEY="wrong-key", agent_kwargs={"backoff_base": 0.01, "backoff_max": 1.0})
    agent.start()
    time.sleep(1.6)
    tries = len([c for c in odoo.calls if c.name == "poll"])
    # From 0.01 s doubling, a plain backoff would have tried ~8 times; at the longest delay 2-3.
    assert 1 <= tries <= 3
    assert "refuses this agent" in caplog.text
    assert "wrong-key" not in caplog.text
    assert not agent.connected.is_set()


def test_graceful_stop_says_bye_at_once(sim, odoo, make_agent):
    agent = make_agent(CK_AGENT_POLL_WAIT="30", CK_AGENT_FALLBACK_INTERVAL="30").start()
    assert wait_until(agent.connected.is_set)
    time.sleep(0.2)  # waiting for the next poll now
    started = time.monotonic()
    agent.shutdown()
    assert time.monotonic() - started < 2
    assert odoo.params("poll")[-1]["bye"] is True


def test_graceful_stop_waits_for_the_c_in_flight(sim, odoo, make_agent):
    sim.inject("delay", count=1, seconds=0.6)  # CKMonitor takes its time to answer the C
    agent = make_agent().start()
    assert wait_until(agent.connected.is_set)
    odoo.moves = PLAIN
    odoo.add_ticket(T)
    assert wait_until(lambda: c_lines(sim))
    agent.shutdown()
    assert replies(odoo, "C") == ["OK|Added\r\n"]  # the report went out before the agent stopped
    names = [c.name for c in odoo.calls if c.status == "ok"]
    assert names[-2:] == ["report", "poll"]
    assert odoo.params("poll")[-1]["bye"] is True


def test_fixed_interval_is_plain_polling(sim, odoo, make_agent):
    agent = make_agent(CK_AGENT_FIXED_INTERVAL="0.2").start()
    odoo.add_ticket(T)
    queue_and_pend(odoo, sim)
    before = odoo.count("poll")
    time.sleep(1.0)
    assert 3 <= odoo.count("poll") - before <= 7  # one every 0.2 s
    assert agent.bus is None  # the baseline does not listen to the bus
    sim.pay(T)
    assert reported(odoo, "S", "OK|OK\r\n")
    agent.shutdown()


def test_database_is_pinned_with_the_session_cookie(sim, odoo, make_agent):
    agent = make_agent(CK_AGENT_DATABASE="shopdb").start()
    assert wait_until(agent.connected.is_set)
    assert odoo.params("login")[0] == {"db": "shopdb"}
    polls = [c for c in odoo.calls if c.name == "poll"]
    assert "session_id=session-of-shopdb" in polls[0].cookie
    assert agent.odoo.cookie_header() == "session_id=session-of-shopdb"  # the websocket's too


def test_sigterm_stops_the_process_gracefully(sim, odoo, agent_env, tmp_path):
    if sys.platform == "win32":
        pytest.skip("POSIX signals")
    env = {**os.environ, **agent_env, "PYTHONPATH": os.pathsep.join([str(AGENT_DIR), str(REPO)])}
    env["CK_AGENT_POLL_WAIT"] = "30"
    log = tmp_path / "agent.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cashkeeper_agent"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: odoo.count("poll") >= 1, timeout=10), log.read_text()
        time.sleep(0.3)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert "connected to Odoo" in text and "stopped" in text
    assert odoo.api_key not in text
    assert odoo.params("poll")[-1]["bye"] is True


def test_check_command(sim, odoo, agent_env, monkeypatch, capsys):
    from cashkeeper_agent.main import main

    for key, value in agent_env.items():
        monkeypatch.setenv(key, value)
    assert main(["--check"]) == 0
    out = capsys.readouterr().out
    assert "all checks passed" in out and "connected as agent 'Test shop'" in out and "answers CKFast" in out
    assert "bus websocket" in out and "NOT available (HTTP 404" in out  # a warning: the agent still works
    assert odoo.params("poll")[-1]["bye"] is False
    monkeypatch.setenv("CK_AGENT_API_KEY", "wrong-key")
    sim.inject("refuse")
    assert main(["--check"]) == 1
    out = capsys.readouterr().out
    assert "API key is refused" in out and "Cannot reach CKMonitor" in out and "FAILED" in out
