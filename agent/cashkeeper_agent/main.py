"""``cashkeeper-agent``: command line, logging and signal handling.

Exit status: 0 stopped normally (or ``--check`` passed), 1 ``--check`` found a problem or the
agent crashed, 2 the configuration is unusable (the message says what to fix).
"""

import argparse
import logging
import logging.handlers
import platform
import signal
import sys
import threading
import time
from importlib import metadata

from . import __version__
from .agent import Agent
from .bus import BusListener
from .config import LOG_LEVELS, ConfigError, load_config
from .odoo import OdooAuthError, OdooError, OdooUnavailable

_logger = logging.getLogger("cashkeeper_agent")
LOG_FORMAT = "%(asctime)s %(levelname)s %(threadName)s: %(message)s"
STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGBREAK")  # SIGBREAK: Ctrl-Break / service stop on Windows


def build_parser():
    parser = argparse.ArgumentParser(
        prog="cashkeeper-agent",
        description="On-site CashKeeper agent for Odoo's pos_cashkeeper (cloud mode): connects out to Odoo "
                    "and drives the local CKMonitor. Settings: an INI file (--config or CK_AGENT_CONFIG), "
                    "CK_AGENT_* environment variables, then these flags. The API key is read from the file or "
                    "CK_AGENT_API_KEY only, never from the command line (other users could see it).",
    )
    parser.add_argument("--version", action="version", version=_version_text())
    parser.add_argument("--config", metavar="PATH", help="INI configuration file (default: $CK_AGENT_CONFIG)")
    parser.add_argument("--check", action="store_true",
                        help="check the configuration, Odoo and CKMonitor once, print a summary and exit (0 = ok)")
    group = parser.add_argument_group("overrides of the configuration file and environment")
    group.add_argument("--odoo-url", dest="odoo_url", metavar="URL", help="Odoo address, e.g. https://shop.odoo.com")
    group.add_argument("--database", dest="odoo_database", metavar="NAME", help="Odoo database to select")
    group.add_argument("--verify-tls", dest="odoo_verify_tls", choices=("true", "false"),
                       help="verify Odoo's TLS certificate (default true)")
    group.add_argument("--ca-file", dest="odoo_ca_file", metavar="PATH",
                       help="CA bundle trusted for Odoo's certificate")
    group.add_argument("--ckmonitor-host", dest="ckmonitor_host", metavar="HOST", help="CKMonitor host (127.0.0.1)")
    group.add_argument("--ckmonitor-port", dest="ckmonitor_port", metavar="PORT", type=int,
                       help="CKMonitor port (16501)")
    group.add_argument("--poll-wait", dest="poll_wait", metavar="S", type=float,
                       help="longest seconds between two polls while nothing happens (25; Odoo may ask less)")
    group.add_argument("--fallback-interval", dest="fallback_interval", metavar="S", type=float,
                       help="seconds between polls while Odoo's bus websocket cannot be opened (2)")
    group.add_argument("--status-interval", dest="status_interval", metavar="S", type=float,
                       help="seconds between status questions to CKMonitor for an open ticket (0.25)")
    group.add_argument("--fixed-interval", dest="fixed_interval", metavar="S", type=float,
                       help="benchmark baseline only: poll every S seconds instead of listening to the bus (0 = off)")
    group.add_argument("--log-level", dest="log_level", type=str.upper, choices=LOG_LEVELS, help="INFO by default")
    group.add_argument("--log-file", dest="log_file", metavar="PATH",
                       help="also log to this file (rotated at 5 MB, 5 kept); default: standard error only")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    overrides = {key: value for key, value in vars(args).items() if key not in ("config", "check")}
    try:
        config = load_config(args.config, overrides=overrides)
    except ConfigError as e:
        print(f"cashkeeper-agent: configuration error: {e}", file=sys.stderr)
        return 2
    try:
        setup_logging(config)
    except OSError as e:
        print(f"cashkeeper-agent: cannot open the log file {config.log_file}: {e.strerror or e}", file=sys.stderr)
        return 2
    if args.check:
        return check(config)  # prints the warnings in its summary
    for warning in config.warnings:
        _logger.warning("%s", warning)
    agent = Agent(config)
    install_signal_handlers(agent)
    try:
        agent.run()
    except Exception:
        _logger.exception("the agent crashed")
        return 1
    return 0


def install_signal_handlers(agent):
    """SIGTERM (systemd, NSSM), SIGINT (Ctrl-C) and SIGBREAK (Windows) stop the agent gracefully;
    a second signal while stopping exits at once."""

    def handler(signum, frame):
        if agent.stop_event.is_set():
            raise SystemExit(1)
        agent.request_stop()  # nothing else here: a handler must not take the logging lock

    for name in STOP_SIGNALS:
        if hasattr(signal, name) and threading.current_thread() is threading.main_thread():
            signal.signal(getattr(signal, name), handler)


class RedactKey(logging.Filter):
    """Defence in depth: the API key never reaches a log line, whoever tries to print it."""

    def __init__(self, secret):
        super().__init__()
        self.secret = secret

    def filter(self, record):
        if self.secret and self.secret in record.getMessage():
            record.msg, record.args = record.getMessage().replace(self.secret, "[API key hidden]"), None
        return True


def setup_logging(config):
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    handlers = [logging.StreamHandler(sys.stderr)]
    if config.log_file:
        handlers.append(logging.handlers.RotatingFileHandler(
            config.log_file, maxBytes=5_000_000, backupCount=5, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(RedactKey(config.odoo_api_key))
        root.addHandler(handler)
    root.setLevel(config.log_level)


def check(config, out=print):
    """One pass over everything the agent needs; a human summary; 0 when all is well."""
    ok = True
    out(f"cashkeeper-agent {__version__}, configuration: {config.source or 'environment only'}")
    agent = Agent(config)  # its clients and its CKMonitor check, as the running agent has them
    started = time.monotonic()
    agent.ping_ckmonitor()
    reach = agent.reachability()
    if reach["reachable"]:
        out(f"CKMonitor {reach['endpoint']}: ok, answers CKFast in {(time.monotonic() - started) * 1000:.0f} ms")
    else:
        ok = False
        out(f"CKMonitor {reach['endpoint']}: PROBLEM: {reach['message']}")
    odoo = agent.odoo
    where = f"Odoo {config.odoo_url}" + (f" (database {config.odoo_database})" if config.odoo_database else "")
    try:
        answer = odoo.poll(version=__version__, ckmonitor=reach)
    except OdooError as e:
        ok = False
        out(f"{where}: PROBLEM: " + (
            f"the API key is refused ({e}). Generate a new key on the agent's form in Odoo."
            if isinstance(e, OdooAuthError) else f"unreachable: {e}" if isinstance(e, OdooUnavailable) else str(e)))
    else:
        tickets = (answer.get("tickets") or []) if isinstance(answer, dict) else []
        name = answer.get("agent") if isinstance(answer, dict) else "?"
        out(f"{where}: ok, connected as agent {name!r}; {len(tickets)} open ticket(s)")
        bus = BusListener(config.odoo_url, cookie=odoo.cookie_header, on_wake=lambda _payloads: None,
                          stop=threading.Event(), verify_tls=config.odoo_verify_tls, ca_file=config.odoo_ca_file)
        refusal = bus.probe()
        out(f"Odoo's bus websocket {bus.url}: " + (
            "ok, new work arrives at once" if refusal is None else
            f"NOT available ({refusal}): the agent works, but polls Odoo every {config.fallback_interval:g} s "
            "instead (see 'Odoo behind a proxy' in the agent's README)"))
    if config.warnings:
        out("warnings:")
        for warning in config.warnings:
            out(f"  - {warning}")
    out("all checks passed" if ok else "some checks FAILED")
    return 0 if ok else 1


def _version_text():
    try:
        ckfast_version = metadata.version("ckfast")
    except metadata.PackageNotFoundError:
        ckfast_version = "from source"
    return f"cashkeeper-agent {__version__} (ckfast {ckfast_version}, Python {platform.python_version()})"
