"""The agent's tests need no Odoo: a protocol fake (fake_odoo.py) over real HTTP, and the real
CKMonitor simulator of ckfast. Not a package (see the root pyproject): agent/ goes on sys.path
so that ``cashkeeper_agent`` is this checkout's; the repository root (for ``ckfast``) is put
there by the root pyproject's pytest settings."""

import logging
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
AGENT_DIR = HERE.parent
REPO = AGENT_DIR.parent
for path in (str(HERE), str(AGENT_DIR), str(REPO)):
    if path not in sys.path:
        sys.path.insert(0, path)

from fake_odoo import FakeOdoo  # noqa: E402

from cashkeeper_agent.agent import Agent  # noqa: E402
from cashkeeper_agent.config import load_config  # noqa: E402
from ckfast.simulator import Simulator  # noqa: E402

# Fast settings: everything that waits, waits a fraction of a second.
FAST = {
    "CK_AGENT_POLL_WAIT": "1",
    "CK_AGENT_FALLBACK_INTERVAL": "0.1",
    "CK_AGENT_STATUS_INTERVAL": "0.05",
    "CK_AGENT_CKMONITOR_CONNECT_TIMEOUT": "0.5",
    "CK_AGENT_CKMONITOR_READ_TIMEOUT": "0.5",
    "CK_AGENT_LOG_LEVEL": "DEBUG",
}


@pytest.fixture(autouse=True)
def agent_logs(caplog):
    """Every agent log line, INFO ones included, is in caplog.text."""
    caplog.set_level(logging.DEBUG, logger="cashkeeper_agent")
    return caplog


@pytest.fixture
def sim():
    """CKMonitor: tickets change state only when the test says so."""
    with Simulator(port=0, control_port=None, pay_after=None) as simulator:
        yield simulator


@pytest.fixture
def odoo():
    fake = FakeOdoo(heartbeat=1.0).start()
    yield fake
    fake.stop()


@pytest.fixture
def agent_env(sim, odoo):
    """The environment a test agent is configured from (as CK_AGENT_* variables)."""
    return {
        "CK_AGENT_ODOO_URL": odoo.url,
        "CK_AGENT_API_KEY": odoo.api_key,
        "CK_AGENT_CKMONITOR_HOST": "127.0.0.1",
        "CK_AGENT_CKMONITOR_PORT": str(sim.port),
        **FAST,
    }


@pytest.fixture
def make_agent(agent_env):
    """make_agent(**env overrides, agent_kwargs={...}) -> a started-on-demand Agent; every agent
    still running at the end of the test is stopped."""
    agents = []

    def make(agent_kwargs=None, **env):
        config = load_config(environ={**agent_env, **{k: str(v) for k, v in env.items()}})
        kwargs = {"backoff_base": 0.05, "backoff_max": 0.5, "ping_every": 0.5, "c_retry_wait": 0.3,
                  **(agent_kwargs or {})}
        agent = Agent(config, **kwargs)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        if agent._threads and not agent.stop_event.is_set():
            agent.shutdown(grace=2)
