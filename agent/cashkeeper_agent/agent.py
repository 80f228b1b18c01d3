"""The agent's two loops (agent/PROTOCOL.md).

* inbox: polls Odoo for the open tickets whenever Odoo's bus wakes it (bus.py), and every
  heartbeat; for each "new" ticket it claims it (Odoo counts the attempt first), sends ``C`` to
  CKMonitor and reports the answer. A C report Odoo could not receive is kept and sent again
  before anything else. Without the bus websocket it polls every ``fallback_interval``.
* drawer: every ``status_interval`` asks CKMonitor ``S`` about each open ticket past "new" and
  reports only what changed; when nothing is open it pings CKMonitor now and then, so every
  poll tells Odoo whether the drawer answers.

Safety rules: ``C`` goes out only right after Odoo granted a claim; reports are idempotent, so
resending one is always safe; CKMonitor faults are reported, never fatal; Odoo faults are
retried with exponential backoff and jitter.
"""

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ckfast import (
    CKFastClient,
    CKFastFieldError,
    CKFastProtocolError,
    CKMonitorTimeout,
    CKMonitorUnreachable,
    TicketConflict,
    error_to_dict,
)
from ckfast.agent_link import FINAL_STATES, NEW, WAKE

from . import __version__
from .bus import BusListener
from .odoo import OdooAuthError, OdooClient, OdooError, OdooUnavailable

_logger = logging.getLogger(__name__)

PING_EVERY = 10.0  # seconds between CKMonitor pings while no exchange proves it answers
C_RETRY_WAIT = 5.0  # after a C that CKMonitor did not take, poll again (and re-claim) this soon
STOP_GRACE = 10.0  # seconds a stop waits for a C or a report in flight
BYE_TIMEOUT = 5.0  # seconds for the last reports and the goodbye poll
FINAL_MEMORY = 600.0  # seconds a ticket Odoo called final is ignored in (possibly stale) poll answers
CREATE_AT_ONCE = 4  # new tickets claimed and sent in parallel


class Backoff:
    """Exponential backoff with jitter: base, 2 x base, ... up to ``maximum``, each scaled by a
    random factor in [0.75, 1] so that agents retrying together spread out."""

    def __init__(self, base, maximum):
        self.base, self.maximum = base, maximum
        self.failures = 0

    def next(self, longest=False):
        """The delay before the next try; ``longest``: jump to the maximum (the key is refused)."""
        delay = self.maximum if longest else min(self.maximum, self.base * 2**self.failures)
        self.failures += 1
        return delay * random.uniform(0.75, 1.0)

    def reset(self):
        self.failures = 0


class OdooLink:
    """Whether Odoo answers, shared by both loops: one log line when it goes away and one when it
    is back, and a loop waiting out its backoff resumes at once when the other one got through."""

    def __init__(self, url, stop):
        self.url, self._stop = url, stop
        self._lock = threading.Lock()
        self.down_since = None
        self.generation = 0  # +1 each time Odoo answers after a failure

    def ok(self):
        with self._lock:
            if self.down_since is None:
                return False
            _logger.info("Odoo is back at %s (unreachable for %.0f s)", self.url, time.monotonic() - self.down_since)
            self.down_since = None
            self.generation += 1
            return True

    def failed(self, error, backoff):
        """Log ``error`` (a network failure once per outage), then wait out ``backoff``'s next
        delay: less if stopping or if the other loop got through to Odoo meanwhile."""
        with self._lock:
            if isinstance(error, OdooAuthError):
                _logger.error(
                    "Odoo at %s refuses this agent: %s. Check the API key in the configuration (generate a new "
                    "one on the agent's form in Odoo); retrying slowly", self.url, error)
            elif isinstance(error, OdooUnavailable):
                if self.down_since is None:
                    _logger.warning("Odoo unreachable at %s: %s; retrying with backoff", self.url, error)
                else:
                    _logger.debug("Odoo still unreachable: %s", error)
            else:
                _logger.error("Odoo error: %s", error)
            if isinstance(error, OdooAuthError | OdooUnavailable) and self.down_since is None:
                self.down_since = time.monotonic()
            generation = self.generation
        deadline = time.monotonic() + backoff.next(longest=isinstance(error, OdooAuthError))
        while not self._stop.is_set() and self.generation == generation:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._stop.wait(min(remaining, 0.2))


class Agent:
    def __init__(self, config, *, odoo=None, backoff_base=0.5, backoff_max=30.0, ping_every=PING_EVERY,
                 c_retry_wait=C_RETRY_WAIT):
        self.config = config
        self.odoo = odoo or OdooClient(config.odoo_url, config.odoo_api_key, database=config.odoo_database,
                                       verify_tls=config.odoo_verify_tls, ca_file=config.odoo_ca_file)
        host, port = config.ckmonitor_host, config.ckmonitor_port
        timeouts = {"connect_timeout": config.ckmonitor_connect_timeout,
                    "read_timeout": config.ckmonitor_read_timeout}
        self.creator = CKFastClient(host, port, retries=2, **timeouts)  # C: retried with the same id
        self.watcher = CKFastClient(host, port, retries=0, **timeouts)  # S and ping: asked again soon anyway
        self.endpoint = config.ckmonitor_endpoint
        self.fixed_interval = config.fixed_interval
        self.wake = threading.Event()  # set by the bus: poll Odoo now
        self.backoff_base, self.backoff_max, self.ping_every = backoff_base, backoff_max, ping_every
        self.c_retry_wait = c_retry_wait
        self.stop_event = threading.Event()
        self.connected = threading.Event()  # set by the first poll Odoo answers
        self.link = OdooLink(config.odoo_url, self.stop_event)
        self.bus = None if self.fixed_interval else BusListener(
            config.odoo_url, cookie=self.odoo.cookie_header, on_wake=lambda _payloads: self.wake.set(),
            stop=self.stop_event, verify_tls=config.odoo_verify_tls, ca_file=config.odoo_ca_file,
            wake_type=WAKE)
        self.agent_name = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = 0  # claims/C/reports in flight
        self._view = {}  # open tickets as last known: {ticket: {"state": ..., "attempts": n}}
        self._creating = set()  # tickets this process is claiming/sending/reporting C for
        self._pending = []  # C reports Odoo has not received yet, oldest first
        self._report_lock = threading.Lock()  # one sender of pending reports at a time
        self._poll_lock = threading.Lock()  # the inbox's poll, or the goodbye
        self._reported = {}  # {ticket: last S outcome reported}, to report only changes
        self._final = {}  # {ticket: monotonic time Odoo said it is final}: a stale poll answer cannot reopen it
        self._reachability = {"reachable": False, "endpoint": self.endpoint, "message": "not checked yet"}
        self._ckmonitor_known = None  # True/False once known, for "unreachable"/"back" log lines
        self._last_exchange = float("-inf")  # monotonic time of CKMonitor's last answer or fault
        self._retry_soon = False
        self._threads = []

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self):
        _logger.info("cashkeeper-agent %s starting: Odoo %s%s, CKMonitor %s%s", __version__, self.config.odoo_url,
                     f" (database {self.config.odoo_database})" if self.config.odoo_database else "", self.endpoint,
                     f"; FIXED {self.fixed_interval:g} s polling (benchmark baseline)" if self.fixed_interval else "")
        for name, target in (("inbox", self._inbox_loop), ("drawer", self._drawer_loop)):
            thread = threading.Thread(target=self._guarded, args=(target,), name=f"ck-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def request_stop(self):
        self.stop_event.set()

    def run(self):
        """Start, wait for ``request_stop`` (a signal handler calls it), stop gracefully."""
        self.start()
        while not self.stop_event.wait(0.5):  # a timeout keeps Ctrl-C working on Windows
            pass
        self.shutdown()

    def shutdown(self, grace=STOP_GRACE):
        """Let a C or report in flight finish (up to ``grace`` s), send the reports still owed,
        tell Odoo goodbye, and return."""
        self.stop_event.set()
        _logger.info("stopping: finishing the work in flight")
        with self._idle:
            if not self._idle.wait_for(lambda: self._busy == 0, timeout=grace):
                _logger.warning("stopping with a CKMonitor exchange still in flight: Odoo counted its attempt "
                                "and the next start resends the same ticket safely")
        deadline = time.monotonic() + BYE_TIMEOUT
        if self._pending and self._report_lock.acquire(timeout=BYE_TIMEOUT / 2):
            try:
                self._flush_reports(timeout=BYE_TIMEOUT / 2)
            except OdooError as e:
                _logger.debug("last reports not delivered: %s", e)
            finally:
                self._report_lock.release()
        for params in list(self._pending):
            _logger.warning("ticket %s: Odoo did not get the report of its C (%s); the next start claims it "
                            "again and CKMonitor recognises the resend", params["ticket"], _outcome_text(params))
        if self.bus:
            self.bus.close()
        # A poll already on its way ends first: none follows the goodbye.
        polling = self._poll_lock.acquire(timeout=max(0.1, deadline - time.monotonic() - 1))
        try:
            self.odoo.poll(version=__version__, ckmonitor=self.reachability(), bye=True,
                           timeout=max(1.0, deadline - time.monotonic()))
            _logger.info("told Odoo goodbye: the agent shows offline")
        except OdooError as e:
            _logger.warning("could not tell Odoo goodbye (%s): it shows the agent offline after its timeout", e)
        finally:
            if polling:
                self._poll_lock.release()
        for thread in self._threads:
            if thread.name == "ck-drawer":
                thread.join(timeout=1.0)
        _logger.info("stopped")

    def _guarded(self, loop):
        """Run a loop; a bug must not silently kill a thread: log it and start the loop again."""
        while not self.stop_event.is_set():
            try:
                loop()
            except Exception:
                _logger.exception("unexpected error in the %s loop; restarting it", threading.current_thread().name)
                self.stop_event.wait(self.backoff_max / 10)

    def _begin(self):
        """Account for one piece of work that a stop must wait for; False once stopping."""
        with self._lock:
            if self.stop_event.is_set():
                return False
            self._busy += 1
            return True

    def _end(self):
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()

    # -- shared state ------------------------------------------------------------------------
    def reachability(self):
        with self._lock:
            return dict(self._reachability)

    def _note_ckmonitor(self, reachable, message):
        with self._lock:
            self._last_exchange = time.monotonic()
            self._reachability = {"reachable": reachable, "endpoint": self.endpoint, "message": message[:300]}
            before, self._ckmonitor_known = self._ckmonitor_known, reachable
        if before is reachable:
            return
        if reachable:
            _logger.info("CKMonitor at %s %s", self.endpoint, "is back" if before is False else "answers")
        else:
            _logger.warning("CKMonitor unreachable at %s: %s", self.endpoint, message)

    def _note_fault(self, error):
        self._note_ckmonitor(False, f"answers something that is not CKFast ({error.reason}): {error.printable}"
                             if isinstance(error, CKFastProtocolError) else str(error))

    def _remember_state(self, ticket, state, why, before=None):
        """Odoo said ``ticket`` is now ``state``: update the view (final: forget it). ``before``:
        the state the caller saw, for the log when a poll answer has already dropped the ticket."""
        with self._lock:
            info = self._view.get(ticket)
            before = info["state"] if info else before
            if state in FINAL_STATES:
                self._view.pop(ticket, None)
                self._reported.pop(ticket, None)
                self._final[ticket] = time.monotonic()
            elif info is not None:
                info["state"] = state
            else:
                self._view[ticket] = {"state": state, "attempts": 0}
        if state != before:
            _logger.info("ticket %s: %s -> %s (%s)", ticket, before or "?", state, why)

    # -- inbox: poll, claim, C, report -------------------------------------------------------
    def _inbox_loop(self):
        backoff = Backoff(self.backoff_base, self.backoff_max)
        self.ping_ckmonitor()  # so that the first poll tells Odoo whether CKMonitor answers
        resume, heartbeat = False, self.config.poll_wait
        while not self.stop_event.is_set():
            try:
                with self._report_lock:
                    self._flush_reports()  # owed reports go first
                if resume:  # new tickets of the last answer that an Odoo failure interrupted
                    self._create_new_tickets()
                    resume = False
                self.wake.clear()  # a wake-up from here on brings another poll
                answer = self._poll()
                backoff.reset()
                if answer is None or self.stop_event.is_set():
                    return
                self._apply_poll(answer)
                if isinstance(answer.get("heartbeat"), int | float) and answer["heartbeat"] > 0:
                    heartbeat = min(self.config.poll_wait, answer["heartbeat"])
                if self.bus:
                    self.bus.wake_type = answer.get("wake") or self.bus.wake_type
                    self.bus.follow(answer.get("channel"))
                self._create_new_tickets()
            except OdooError as e:
                resume = True
                self.link.failed(e, backoff)
                continue
            self.wake.wait(self._next_poll_in(heartbeat))

    def _next_poll_in(self, heartbeat):
        """Seconds until the next poll unless woken: a heartbeat while the bus is heard, else the
        short fallback interval (or the benchmark's fixed one)."""
        if self.fixed_interval:
            return self.fixed_interval
        seconds = heartbeat if self.bus.listening else min(heartbeat, self.config.fallback_interval)
        if self._retry_soon:  # a C failed: claim it again soon
            self._retry_soon, seconds = False, min(seconds, self.c_retry_wait)
        return seconds

    def _poll(self):
        """One poll; None once stopping (the goodbye is the last poll Odoo gets)."""
        with self._poll_lock:
            if self.stop_event.is_set():
                return None
            answer = self.odoo.poll(version=__version__, ckmonitor=self.reachability())
        if not isinstance(answer, dict):
            raise OdooError(f"poll: unexpected answer {str(answer)[:80]!r}")
        back = self.link.ok()
        if not self.connected.is_set() or back:
            self.agent_name = answer.get("agent")
            reach = self.reachability()
            _logger.info("connected to Odoo %s as agent %r; CKMonitor %s %s; %d open ticket(s)",
                         self.config.odoo_url, self.agent_name, self.endpoint,
                         "reachable" if reach["reachable"] else f"NOT reachable ({reach['message']})",
                         len(answer.get("tickets") or ()))
            self.connected.set()
        return answer

    def _apply_poll(self, answer):
        """The answer's ``tickets`` replace the view of the open tickets."""
        view = {}
        for item in answer.get("tickets") or ():
            if isinstance(item, dict) and isinstance(item.get("ticket"), str) and isinstance(item.get("state"), str):
                attempts = item.get("attempts")
                attempts = attempts if isinstance(attempts, int) else 0
                view[item["ticket"]] = {"state": item["state"], "attempts": attempts}
        with self._lock:
            now = time.monotonic()
            self._final = {t: at for t, at in self._final.items() if now - at < FINAL_MEMORY}
            for ticket in self._final.keys() & view.keys():  # answered before Odoo took our final report
                del view[ticket]
            before, self._view = self._view, view
            self._reported = {t: outcome for t, outcome in self._reported.items() if t in view}
        for ticket, info in view.items():
            old = before.get(ticket)
            if old is None:
                _logger.info("ticket %s open in Odoo: %s (attempts %d)", ticket, info["state"], info["attempts"])
            elif old["state"] != info["state"]:
                _logger.info("ticket %s: %s -> %s (Odoo)", ticket, old["state"], info["state"])
        for ticket in before.keys() - view.keys():
            _logger.debug("ticket %s is no longer open", ticket)

    def _create_new_tickets(self):
        """Claim, send and report the new tickets, a few at a time (tills of a shop pressing Pay
        together must not queue behind each other); raises the first Odoo failure."""
        with self._lock:
            new = [t for t, info in self._view.items() if info["state"] == NEW and t not in self._creating]
        if len(new) <= 1:
            for ticket in new:
                self._create(ticket)
            return
        with ThreadPoolExecutor(max_workers=CREATE_AT_ONCE, thread_name_prefix="ck-inbox") as pool:
            futures = [pool.submit(self._create, ticket) for ticket in new]
        for future in futures:
            future.result()

    def _create(self, ticket):
        """Claim ``ticket``, send its C and report CKMonitor's answer (kept to resend if Odoo did
        not get it: the ticket stays in ``_creating`` until the report is through)."""
        if not self._begin():
            return
        with self._lock:
            self._creating.add(ticket)
        owed = False
        try:
            try:
                claim = self.odoo.claim(ticket)
            except OdooError as e:
                if e.retry_later:
                    raise  # the loop backs off; Odoo may have counted the attempt: the next claim resends safely
                _logger.error("ticket %s: Odoo refused the claim: %s", ticket, e)
                return
            claim = claim if isinstance(claim, dict) else {}
            if claim.get("claimed") is not True or not isinstance(claim.get("attempt"), int):
                state = claim.get("state")
                _logger.info("ticket %s not claimed (Odoo: %s): no C sent", ticket, state or claim)
                if isinstance(state, str):
                    self._remember_state(ticket, state, "claim refused")
                return
            _logger.info("ticket %s claimed (attempt %d): sending C to CKMonitor", ticket, claim["attempt"])
            params = self._send_create(ticket, claim)  # a bug raising here: the next claim resends C safely
            with self._lock:
                self._pending.append(params)
                owed = True
            with self._report_lock:
                self._flush_reports()  # OdooUnavailable: kept, and the loop sends it again first
        finally:
            if not owed:
                with self._lock:
                    self._creating.discard(ticket)
            self._end()

    def _send_create(self, ticket, claim):
        """Send the claim's C line, byte for byte as Odoo stored it; return the report params."""
        attempt = claim["attempt"]
        params = {"ticket": ticket, "command": "C", "attempt": attempt, "reply": None, "ours": False, "error": None}
        try:
            result = self.creator.send_create(claim.get("request"), ticket, sent_before=attempt > 1)
        except TicketConflict as e:
            params["reply"] = _text(e.reply.raw)
            self._note_ckmonitor(True, "answers CKFast")
            _logger.warning("ticket %s: CKMonitor refused the id: %s", ticket, params["reply"].strip())
        except (CKMonitorUnreachable, CKMonitorTimeout, CKFastProtocolError) as e:
            params["error"] = error_to_dict(e)
            self._note_fault(e)
            self._retry_soon = True
            _logger.warning("ticket %s: C not confirmed by CKMonitor: %s", ticket, e)
        except CKFastFieldError as e:  # nothing was sent: the claim's line is not a valid C for this ticket
            params["error"] = {"kind": "protocol", "raw": "", "reason": str(e)[:200]}
            _logger.error("ticket %s: C not sent: %s", ticket, e)
        else:
            params["reply"], params["ours"] = _text(result.reply.raw), True
            self._note_ckmonitor(True, "answers CKFast")
            _logger.info("ticket %s: C sent, CKMonitor answered %s%s", ticket, params["reply"].strip(),
                         " (our earlier attempt)" if result.already_existed else "")
        return params

    def _flush_reports(self, timeout=None):
        """Send the C reports Odoo still owes an answer to, oldest first (caller holds _report_lock).
        Raises OdooUnavailable / OdooAuthError (about the key) and keeps the report."""
        while True:
            with self._lock:
                if not self._pending:
                    return
                params = self._pending[0]
            ticket = params["ticket"]
            try:
                answer = self.odoo.report(params) if timeout is None else self.odoo.report(params, timeout=timeout)
            except OdooError as e:
                if e.retry_later:
                    raise
                _logger.error("ticket %s: Odoo refused the report of C (%s): %s", ticket, _outcome_text(params), e)
                answer = None
            self.link.ok()
            with self._lock:
                self._pending.pop(0)
                self._creating.discard(ticket)
            if isinstance(answer, dict) and isinstance(answer.get("state"), str):
                self._remember_state(ticket, answer["state"], f"C: {_outcome_text(params)}", NEW)

    # -- drawer: S for open tickets, ping when idle ------------------------------------------
    def _drawer_loop(self):
        backoff = Backoff(self.backoff_base, self.backoff_max)
        interval = self.fixed_interval or self.config.status_interval
        while not self.stop_event.wait(interval):
            with self._lock:
                watched = [t for t, info in self._view.items() if info["state"] != NEW and t not in self._creating]
                idle_for = time.monotonic() - self._last_exchange
            if not watched:
                if idle_for >= self.ping_every:
                    self.ping_ckmonitor()
                continue
            try:
                for ticket in watched:
                    if self.stop_event.is_set():
                        return
                    self._ask(ticket)
                backoff.reset()
            except OdooError as e:
                self.link.failed(e, backoff)

    def ping_ckmonitor(self):
        try:
            self.watcher.ping()
        except (CKMonitorUnreachable, CKMonitorTimeout, CKFastProtocolError) as e:
            self._note_fault(e)
        else:
            self._note_ckmonitor(True, "answers CKFast")

    def _ask(self, ticket):
        """Ask S about ``ticket``; report the outcome if it differs from the last one reported."""
        params = {"ticket": ticket, "command": "S", "reply": None, "error": None}
        try:
            params["reply"] = _text(self.watcher.ticket_status(ticket).raw)
            self._note_ckmonitor(True, "answers CKFast")
        except (CKMonitorUnreachable, CKMonitorTimeout, CKFastProtocolError) as e:
            params["error"] = error_to_dict(e)
            self._note_fault(e)
        outcome = (params["reply"], params["error"])
        with self._lock:
            if self._reported.get(ticket) == outcome or ticket not in self._view or ticket in self._creating:
                return
            before = self._view[ticket]["state"]
        if not self._begin():
            return
        try:
            answer = self.odoo.report(params)
        except OdooError as e:
            if e.retry_later:
                raise  # not recorded as reported: the next round asks and reports again
            _logger.error("ticket %s: Odoo refused the report of S (%s): %s", ticket, _outcome_text(params), e)
            answer = None
        finally:
            self._end()
        self.link.ok()
        if not isinstance(answer, dict):
            return  # not recorded as reported: the next round reports it again
        with self._lock:
            if ticket in self._view:
                self._reported[ticket] = outcome
        if isinstance(answer.get("state"), str):
            self._remember_state(ticket, answer["state"], f"S: {_outcome_text(params)}", before)


def _text(raw):
    return raw.decode("ascii", "replace")


def _outcome_text(params):
    """A report's content as one short line for the log."""
    if params.get("reply") is not None:
        return f"CKMonitor answered {params['reply'].strip()}"
    error = params.get("error") or {}
    return f"CKMonitor fault {error.get('kind', '?')}"
