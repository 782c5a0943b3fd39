"""The short soak: pushes race a collector looping beside the registry, nothing is lost.

The long run is ``python -m benchmarks.soak_gc --seconds 300`` (see that module for the
workload). Here: about 15 seconds, with the registry's in-memory blob cache on and no
restart, grace 0, so only the quarantine and the re-mark stand between a racing push and
a broken image.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.soak_gc import CACHED, soak
from tests.conftest import RegistryFactory

SECONDS = 15


def test_pushes_racing_the_collector_all_pull(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    registry = registry_factory(CACHED)

    result = soak(registry, SECONDS, tmp_path, pushers=3)

    totals = result.totals()
    print(totals)
    assert result.broken == []
    assert totals["tags_checked"] >= 10
    assert totals["deletes"] > 0 and totals["quarantined"] > 0  # the collector did sweep
    assert totals["collections"] >= 3
