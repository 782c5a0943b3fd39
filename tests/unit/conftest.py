"""Hypothesis profiles for the unit suite.

``ci`` (the default) keeps the whole unit suite well under 30 s on the shared 2-core machine;
``REGSWEEP_HYPOTHESIS_PROFILE=long`` searches much harder before a release or after a change
to the planner or the parsers. No deadline: timing on a shared machine is noise, not a bug.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("REGSWEEP_HYPOTHESIS_PROFILE", "ci"))
