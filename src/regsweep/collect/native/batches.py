"""Work on the pool in batches: per-path calls are too many to submit one by one, and an
object store takes deletes (and answers stats) in batches anyway."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import TypeVar

from regsweep.sources.storage.store import ScannableStore, StoredFile

#: Items per task on the pool.
BATCH = 256

T = TypeVar("T")
R = TypeVar("R")


def map_batches(pool: Executor, work: Callable[[list[T]], list[R]], items: Sequence[T]) -> list[R]:
    """``work`` over ``items`` in batches on the pool; the results in order."""
    parts = [list(items[i : i + BATCH]) for i in range(0, len(items), BATCH)]
    return [r for part in pool.map(work, parts) for r in part]


def each_batch(pool: Executor, work: Callable[[list[T]], object], items: Sequence[T]) -> None:
    """``work`` over ``items`` in batches on the pool, for its effect; errors propagate."""
    parts = [list(items[i : i + BATCH]) for i in range(0, len(items), BATCH)]
    for _ in pool.map(work, parts):
        pass


def stat_all(
    store: ScannableStore, pool: Executor, paths: Sequence[str]
) -> list[StoredFile | None]:
    """``stat_many`` of every path, in batches on the pool; the results in order."""
    return map_batches(pool, store.stat_many, paths)
