"""The memory a run may use when ``--memory-limit`` is not given: its container's limit,
else a quarter of the machine's memory.

Read here, at the edge (the cgroup files are I/O); the use cases get a number of bytes.

- The cgroup's limit (v2 ``memory.max``, else v1 ``memory.limit_in_bytes``) is what the
  kernel kills the container at, so the run plans to stay below it. ``max``, or a value
  of at least the machine's memory (v1 writes 9223372036854771712 for "none"), is no limit.
- Without one, a quarter of the physical memory: regsweep is a maintenance job that shares
  its machine, often with the registry it cleans, and a quarter is what the JVM takes by
  default for the same reason. Spilling costs time, not answers, so erring low is safe.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

CGROUP_FILES = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)
#: The part of the machine's memory a run takes when its cgroup sets no limit.
RAM_SHARE = 0.25


def default_memory_limit(cgroup_files: Sequence[Path] = CGROUP_FILES) -> int | None:
    """The cgroup's limit, else :data:`RAM_SHARE` of the physical memory; None when
    neither can be read (no limit)."""
    ram = _physical_memory()
    for path in cgroup_files:
        limit = _cgroup_limit(path)
        if limit is not None and (ram is None or limit < ram):
            return limit
    return None if ram is None else int(ram * RAM_SHARE)


def _cgroup_limit(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
