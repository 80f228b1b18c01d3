"""CKFastClient against the real simulator over TCP: every reply and every fault mode."""

import socket
import time
from decimal import Decimal

import pytest

from ckfast.client import CKFastClient
from ckfast.errors import (
    CKFastFieldError,
    CKFastProtocolError,
    CKMonitorTimeout,
    CKMonitorUnreachable,
    TicketConflict,
)
from ckfast.protocol import AmountFormat, ReplyKind
from ckfast.simulator import Simulator, TicketState


# -- replies ----------------------------------------------------------------------------------
def test_create_then_status_until_paid(sim, client):
    result = client.create_ticket("T1", "12.34", id_caja="2", terminal="TPV1", vendedor="V7")
    assert (result.reply.kind, result.attempts, result.already_existed) == (ReplyKind.ADDED, 1, False)
    assert sim.requests[0].line == b"C|T1|1234||2|TPV1|V7|efectivo\r\n"
    assert sim.tickets()["T1"].amount == Decimal("12.34")
    assert client.ticket_status("T1").kind is ReplyKind.PENDING
    sim.pay("T1")
    assert client.ticket_status("T1").kind is ReplyKind.PAID


def test_cancelled_at_the_drawer(sim, client):
    client.create_ticket("T2", 5)
    sim.cancel("T2")
    assert client.ticket_status("T2").kind is ReplyKind.CANCELLED


def test_unknown_ticket_is_not_found(client):
    assert client.ticket_status("NOPE").kind is ReplyKind.NOT_FOUND


def test_ping_proves_ckfast_is_spoken(sim, client):
    assert client.ping().kind is ReplyKind.NOT_FOUND
    assert sim.requests[-1].line.startswith(b"S|")


def test_already_exists_for_a_fresh_id_is_a_conflict(sim, client):
    client.create_ticket("T3", 1)
    with pytest.raises(TicketConflict, match="Already exists"):
        client.create_ticket("T3", 1)


def test_already_exists_after_our_own_earlier_attempt_means_queued(sim, client):
    client.create_ticket("T4", 1)
    result = client.create_ticket("T4", 1, sent_before=True)
    assert result.already_existed and result.reply.kind is ReplyKind.ALREADY_EXISTS
    assert len(sim.tickets()) == 1


def test_invalid_id_from_ckmonitor_is_a_conflict(sleeps):
    # A site whose CKMonitor accepts shorter ids than we allow.
    with Simulator(port=0, pay_after=None, ticket_id_max_len=4) as strict:
        client = CKFastClient("127.0.0.1", strict.port, read_timeout=0.3, sleep=sleeps)
        with pytest.raises(TicketConflict, match="Invalid ID"):
            client.create_ticket("LONGER1", 1)
        assert strict.tickets() == {}


def test_invalid_input_sends_nothing(sim, client):
    with pytest.raises(CKFastFieldError, match="Vendedor"):
        client.create_ticket("T5", 1, vendedor="x|S|T5")
    with pytest.raises(CKFastFieldError, match="NumTiquet"):
        client.ticket_status("T5\r\nC")
    with pytest.raises(CKFastFieldError, match="Importe"):
        client.create_ticket("T5", -1)
    assert sim.requests == []


@pytest.mark.parametrize("fmt", list(AmountFormat))
def test_simulator_honours_the_configured_amount_format(fmt, sleeps):
    with Simulator(port=0, pay_after=None, amount_format=fmt) as site:
        client = CKFastClient("127.0.0.1", site.port, read_timeout=0.3, sleep=sleeps)
        client.create_ticket("OK1", "12.34", amount_format=fmt)
        assert site.tickets()["OK1"].amount == Decimal("12.34")
        wrong = next(f for f in AmountFormat if f is not fmt)
        with pytest.raises(CKFastProtocolError, match="Invalid amount"):
            client.create_ticket("BAD1", "12.34", amount_format=wrong)
        assert "BAD1" not in site.tickets()


def test_reply_ended_by_bare_lf_or_by_close(sim, client):
    sim.inject("garbage", count=1, garbage=b"OK|Pending\n")
    assert client.ticket_status("X").kind is ReplyKind.PENDING
    sim.inject("garbage", count=1, garbage=b"OK|OK")  # no terminator, then the peer closes
    assert client.ticket_status("X").kind is ReplyKind.PAID


def test_reply_meant_for_another_command_is_refused(sim, client):
    sim.inject("garbage", count=1, garbage=b"OK|OK\r\n")
    with pytest.raises(CKFastProtocolError, match="not an answer to C"):
        client.create_ticket("T6", 1)
    sim.inject("garbage", count=1, garbage=b"OK|Added\r\n")
    with pytest.raises(CKFastProtocolError, match="not an answer to S"):
        client.ticket_status("T6")


# -- faults -----------------------------------------------------------------------------------
def test_refused_connection_is_retried_with_backoff_then_reported(sim, client, sleeps):
    sim.inject("refuse")
    with pytest.raises(CKMonitorUnreachable) as err:
        client.ticket_status("T1")
    assert f"Cannot reach CKMonitor at 127.0.0.1:{sim.port} (connection refused)" in str(err.value)
    assert "firewall" in str(err.value)
    assert len(sleeps.delays) == 2  # retries=2: three attempts, two pauses
    assert 0.125 <= sleeps.delays[0] <= 0.25 and 0.25 <= sleeps.delays[1] <= 0.5


def test_backoff_is_capped_and_jittered(sleeps):
    client = CKFastClient("127.0.0.1", 1, retries=6, backoff_base=0.5, backoff_max=1.0, sleep=sleeps)
    delays = [client._backoff(n) for n in range(1, 7)]
    assert all(0.25 <= d <= 1.0 for d in delays)
    assert max(delays[2:]) <= 1.0 and len(set(delays)) > 1


def test_service_back_after_refusal_succeeds_on_retry(sim, client):
    sim.inject("refuse")

    def back_online(_delay):
        sim.clear_faults()

    client._sleep = back_online
    assert client.create_ticket("T7", 1).attempts == 2


def test_reset_connection_is_retried(sim, client, sleeps):
    sim.inject("reset", count=1)
    assert client.ticket_status("T1").kind is ReplyKind.NOT_FOUND
    assert [r.fault and r.fault.value for r in sim.requests] == ["reset", None]
    assert len(sleeps.delays) == 1


def test_reset_every_time_is_unreachable(sim, client):
    sim.inject("reset")
    with pytest.raises(CKMonitorUnreachable, match="Cannot reach CKMonitor"):
        client.ticket_status("T1")
    assert len(sim.requests) == 3


def test_create_whose_reply_was_lost_is_retried_with_the_same_id(sim, client):
    """CKMonitor queued the ticket but closed before replying: the retry's 'Already exists'
    proves the first attempt landed, so the ticket is queued once, not created twice."""
    sim.inject("close", count=1)
    result = client.create_ticket("T8", "3.50")
    assert result.already_existed and result.attempts == 2
    assert [r.line for r in sim.requests] == [b"C|T8|350|||||efectivo\r\n"] * 2
    assert list(sim.tickets()) == ["T8"]


def test_closed_without_reply_every_time_is_unreachable(sim, client):
    sim.inject("close")
    with pytest.raises(CKMonitorUnreachable, match="closed without a reply"):
        client.ticket_status("T1")
    assert len(sim.requests) == 3


def test_slow_reply_within_the_timeout_is_fine(sim, client):
    sim.inject("delay", count=1, seconds=0.1)
    assert client.ticket_status("T1").kind is ReplyKind.NOT_FOUND
    assert len(sim.requests) == 1


def test_reply_later_than_the_timeout_is_a_timeout_after_retries(sim, client, sleeps):
    sim.inject("delay", seconds=0.6)
    started = time.monotonic()
    with pytest.raises(CKMonitorTimeout, match=r"did not answer in 0.3 s"):
        client.ticket_status("T1")
    assert 0.85 <= time.monotonic() - started < 1.5  # three attempts of 0.3 s each
    assert len(sim.requests) == 3 and len(sleeps.delays) == 2


def test_a_stored_create_is_resent_byte_for_byte(sim, client):
    """The ledger keeps its first C: a resend is that line, whatever the settings became."""
    line = b"C|T9|1234||1|TPV1||efectivo\r\n"
    assert client.send_create(line, "T9").reply.kind is ReplyKind.ADDED
    assert client.send_create(line.decode(), "T9", sent_before=True).already_existed
    assert [r.line for r in sim.requests] == [line, line]
    with pytest.raises(CKFastFieldError):
        client.send_create(line, "T10")  # not that ticket's line: nothing is sent
    assert len(sim.requests) == 2


def test_create_timing_out_then_answering_is_queued_once(sim, client):
    sim.inject("delay", count=1, seconds=0.6)
    result = client.create_ticket("T9", 2)
    assert result.already_existed and result.attempts == 2
    assert list(sim.tickets()) == ["T9"]


def test_silent_peer_is_a_timeout(sim, client):
    sim.inject("silent")
    with pytest.raises(CKMonitorTimeout) as err:
        client.ticket_status("T1")
    assert err.value.seconds == 0.3 and "did not answer" in str(err.value)


def test_garbage_is_a_protocol_error_and_not_retried(sim, client, sleeps):
    client.create_ticket("T10", 1)
    sim.inject("garbage")
    with pytest.raises(CKFastProtocolError) as err:
        client.ticket_status("T10")
    assert err.value.raw == b"\x15\xfe\x00#!?garbage\xff\r\n"
    assert len(sim.requests) == 2 and sleeps.delays == []


def test_half_a_line_is_a_protocol_error_and_not_retried(sim, client, sleeps):
    client.create_ticket("T11", 1)
    sim.inject("half")
    with pytest.raises(CKFastProtocolError) as err:
        client.ticket_status("T11")
    assert err.value.raw == b"OK|Pe"  # half of "OK|Pending", then the peer closed
    assert sleeps.delays == []


def test_garbage_on_create_is_not_retried_and_ticket_may_exist(sim, client):
    """A reply we do not understand is surfaced, never guessed: the caller records it and later
    resends with sent_before=True, which finds the ticket queued."""
    sim.inject("garbage", count=1)
    with pytest.raises(CKFastProtocolError):
        client.create_ticket("T12", 1)
    assert client.create_ticket("T12", 1, sent_before=True).already_existed


def test_connect_timeout_is_reported_as_unreachable(sleeps):
    # A listener that never accepts, with its backlog full: further SYNs go unanswered.
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(0)
        port = blocker.getsockname()[1]
        fillers = []
        try:
            for _ in range(4):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                fillers.append(s)
            time.sleep(0.05)
            client = CKFastClient("127.0.0.1", port, connect_timeout=0.2, read_timeout=0.2,
                                  retries=0, sleep=sleeps)
            with pytest.raises((CKMonitorUnreachable, CKMonitorTimeout)) as err:
                client.ticket_status("T1")
            assert f"127.0.0.1:{port}" in str(err.value)
        finally:
            for s in fillers:
                s.close()


def test_ckmonitor_restart_forgets_tickets(sim, client):
    client.create_ticket("T13", 1)
    sim.forget()
    assert client.ticket_status("T13").kind is ReplyKind.NOT_FOUND


def test_ticket_pays_itself_after_the_configured_delay(sleeps):
    with Simulator(port=0, pay_after=0.2) as site:
        client = CKFastClient("127.0.0.1", site.port, read_timeout=0.3, sleep=sleeps)
        client.create_ticket("AUTO1", 1)
        assert client.ticket_status("AUTO1").kind is ReplyKind.PENDING
        time.sleep(0.25)
        assert client.ticket_status("AUTO1").kind is ReplyKind.PAID
        assert site.ticket_state("AUTO1") is TicketState.PAID


def test_sent_before_may_be_asked_only_when_needed(sim, client):
    asked = []

    def ledger_says(value):
        def sent_before():
            asked.append(value)
            return value
        return sent_before

    client.create_ticket("T14", 1, sent_before=ledger_says(False))
    assert asked == []  # OK|Added: nothing to ask
    assert client.create_ticket("T14", 1, sent_before=ledger_says(True)).already_existed
    with pytest.raises(TicketConflict):
        client.create_ticket("T14", 1, sent_before=ledger_says(False))
    assert asked == [True, False]
