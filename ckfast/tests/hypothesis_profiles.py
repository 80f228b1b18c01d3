"""Hypothesis profiles for the property tests.

Every profile keeps each test's strength (Hypothesis' number of examples) and is load-proof: no
per-example deadline and no "data generation is too slow" / "data too large" health checks,
which on a busy two-core machine fail a correct test.

* ``steady`` (the default, for ``tools/dev test`` and CI alike): a fixed seed (derandomize), so a
  run is repeatable and a failure is the same on every machine.
* ``explore`` (``HYPOTHESIS_PROFILE=explore``): fresh random examples on each run, to look for
  new failures; Hypothesis prints the seed to replay one.
"""

import os

from hypothesis import HealthCheck, settings

LOAD_PROOF = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}

settings.register_profile("steady", derandomize=True, print_blob=True, **LOAD_PROOF)
settings.register_profile("explore", print_blob=True, **LOAD_PROOF)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "steady")
