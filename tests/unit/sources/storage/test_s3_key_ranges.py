"""The runs of folders a prefix is listed in: every key of a folder in exactly one run, the
folders whole, the runs in the order S3 lists them. A run lists the keys ``after < key <=
through`` (S3's ``start-after``, then stopping at the first key past ``through``); the
keys are compared as S3 compares them, by their UTF-8 bytes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from regsweep.sources.storage.s3_listing import key_ranges

#: what a repository path and a blob folder may hold, and the characters sorting around ``/``
NAME = st.text(alphabet="ab0z-._", min_size=1, max_size=4)


def run_of(key: str, ranges: list[tuple[str | None, str | None]]) -> list[int]:
    """The runs a key falls in, compared as S3 compares keys."""
    raw = key.encode()
    return [
        n
        for n, (after, through) in enumerate(ranges)
        if (after is None or raw > after.encode()) and (through is None or raw <= through.encode())
    ]


def folders_per_run(paths: list[str], ranges: list[tuple[str | None, str | None]]) -> list[int]:
    runs = [run_of(f"{path}/x/data", ranges) for path in paths]
    return [runs.count([n]) for n in range(len(ranges))]


@given(
    folders=st.sets(NAME, max_size=12),
    inner=st.lists(st.text(alphabet="ab0/-.", min_size=1, max_size=5), min_size=1, max_size=3),
    runs=st.integers(min_value=1, max_value=15),
)
def test_each_folder_is_whole_in_exactly_one_run(
    folders: set[str], inner: list[str], runs: int
) -> None:
    paths = [f"top/{name}" for name in folders]
    ranges = key_ranges(paths, runs)

    assert len(ranges) == min(runs, len(paths))
    found: dict[str, set[int]] = {}
    for folder in paths:
        for rest in inner:
            key = f"{folder}/{rest}"
            (run,) = run_of(key, ranges)  # one run, not none and not two
            found.setdefault(folder, set()).add(run)
    assert all(len(seen) == 1 for seen in found.values())
    # the runs follow the keys' order: a later run's folders sort after an earlier one's
    in_order = [min(found[p]) for p in sorted(paths, key=lambda p: f"{p}/".encode())]
    assert in_order == sorted(in_order)


def test_folders_are_cut_into_runs_of_about_as_many() -> None:
    paths = [f"blobs/sha256/{n:02x}" for n in range(256)]

    ranges = key_ranges(list(reversed(paths)), 16)

    assert len(ranges) == 16
    assert ranges[0] == (None, "blobs/sha256/0f0")
    assert ranges[1] == ("blobs/sha256/0f0", "blobs/sha256/1f0")
    assert ranges[-1] == ("blobs/sha256/ef0", None)
    assert folders_per_run(paths, ranges) == [16] * 16
    assert folders_per_run(paths[:10], key_ranges(paths[:10], 4)) == [3, 3, 2, 2]


def test_no_folder_no_run_and_one_run_the_whole_prefix() -> None:
    assert key_ranges([], 16) == []
    assert key_ranges(["top/a", "top/b"], 1) == [(None, None)]
    assert key_ranges(["top/a", "top/b"], 0) == [(None, None)]
