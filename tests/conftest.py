"""Suite-wide test configuration: the Hypothesis profile every property test runs under.

The profile ``sotk`` is loaded by default and under CI: derandomized (the same examples every
run, so a failure reproduces anywhere), a modest number of examples per property (the suite runs
in ``make test`` on a shared 2-core machine), no deadline (no test depends on machine speed) and
no example database in the checkout. ``HYPOTHESIS_PROFILE=thorough`` runs many more, random
examples, on purpose and by hand. A test may still set its own ``@settings``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "sotk",
    derandomize=True,
    database=None,  # nothing written into the checkout; derandomized runs replay anyway
    max_examples=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    parent=settings.get_profile("sotk"),
    derandomize=False,
    max_examples=2000,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "sotk"))
