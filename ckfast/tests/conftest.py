import hypothesis_profiles  # noqa: F401  (loads the CI profile; see that file)
import pytest

from ckfast.client import CKFastClient
from ckfast.simulator import Simulator


class SleepRecorder:
    """Records backoff delays instead of sleeping, so retry tests stay fast and checkable."""

    def __init__(self):
        self.delays = []

    def __call__(self, seconds):
        self.delays.append(seconds)


@pytest.fixture
def sim():
    """A CKMonitor simulator on a free loopback port; tickets only change state on command."""
    with Simulator(port=0, control_port=0, pay_after=None) as simulator:
        yield simulator


@pytest.fixture
def sleeps():
    return SleepRecorder()


@pytest.fixture
def client(sim, sleeps):
    """Sub-second timeouts so every fault test finishes quickly."""
    return CKFastClient(
        "127.0.0.1", sim.port, connect_timeout=0.5, read_timeout=0.3, retries=2, sleep=sleeps
    )
