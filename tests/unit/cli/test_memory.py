"""The default memory limit: the cgroup's when it sets one, else a quarter of the RAM."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from regsweep.cli.memory import RAM_SHARE, default_memory_limit

RAM = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def limit_in(tmp_path: Path, *contents: str | None) -> int | None:
    files = []
    for i, content in enumerate(contents):
        path = tmp_path / f"cgroup{i}"
        if content is not None:
            path.write_text(content)
        files.append(path)
    return default_memory_limit(files)


@pytest.mark.parametrize(
    ("v2", "v1", "expected"),
    [
        ("268435456\n", None, 268435456),
        (None, "536870912\n", 536870912),
        ("max\n", "536870912\n", 536870912),
        ("max\n", None, int(RAM * RAM_SHARE)),
        (None, "9223372036854771712\n", int(RAM * RAM_SHARE)),
        (None, None, int(RAM * RAM_SHARE)),
        ("garbage", None, int(RAM * RAM_SHARE)),
    ],
)
def test_cgroup_v2_then_v1_then_a_share_of_the_ram(
    tmp_path: Path, v2: str | None, v1: str | None, expected: int
) -> None:
    assert limit_in(tmp_path, v2, v1) == expected
