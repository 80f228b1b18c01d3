"""Hypothesis profiles for the property tests.

``ci`` (chosen when ``CI=true``, as ``.ci/run`` sets it) keeps every test's strength (same
number of examples) but makes the run load-proof and repeatable: a fixed seed (derandomize),
no per-example deadline and no "data generation is too slow" health check, which on a busy
two-core machine fail a correct test. ``dev`` is Hypothesis' default: random, fresh examples.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev"))
