"""Work on the pool in batches: per-path calls are too many to submit one by one, and an
object store takes deletes (and answers stats) in batches anyway."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from functools import partial
from typing import TypeVar

from regsweep.sources.storage.store import PathEscapeError, ScannableStore, StoredFile

#: Items per task on the pool.
BATCH = 256
#: Keys per delete task on object storage: one ``DeleteObjects`` request takes 1,000, and
#: a batch of fewer costs a whole request all the same.
OBJECT_DELETES = 1000

T = TypeVar("T")
R = TypeVar("R")


def map_batches(pool: Executor, work: Callable[[list[T]], list[R]], items: Sequence[T]) -> list[R]:
    """``work`` over ``items`` in batches on the pool; the results in order."""
    parts = [list(items[i : i + BATCH]) for i in range(0, len(items), BATCH)]
    return [r for part in pool.map(work, parts) for r in part]


def each_batch(
    pool: Executor, work: Callable[[list[T]], object], items: Sequence[T], size: int = BATCH
) -> None:
    """``work`` over ``items`` in batches of ``size`` on the pool, for its effect; errors
    propagate."""
    parts = [list(items[i : i + size]) for i in range(0, len(items), size)]
    for _ in pool.map(work, parts):
        pass


def delete_batch(store: ScannableStore) -> int:
    """Items per delete task: :data:`OBJECT_DELETES` on a store that lists flat (object
    storage), else :data:`BATCH`, which spreads a local folder's deletes over the threads."""
    return OBJECT_DELETES if store.lists_flat else BATCH


def stat_all(
    store: ScannableStore, pool: Executor, paths: Sequence[str]
) -> list[StoredFile | None]:
    """:func:`stat_each` of every path, in batches on the pool; the results in order."""
    return map_batches(pool, partial(stat_each, store), paths)


def stat_each(store: ScannableStore, paths: Sequence[str]) -> list[StoredFile | None]:
    """``stat_many`` of the paths, where a path below a symlinked folder (refused: it is
    never followed) comes back as a symlink that was written just now.

    Its age is unknown, so nothing decided by age takes it: a blob whose layer link is such
    a path stays young, a link or a folder there is never removed. Without this, one
    symlinked folder would stop the whole collection.
    """
    try:
        return store.stat_many(paths)
    except PathEscapeError:
        return [_stat_or_symlink(store, path) for path in paths]


def _stat_or_symlink(store: ScannableStore, path: str) -> StoredFile | None:
    try:
        return store.stat(path)
    except PathEscapeError:
        return StoredFile(path, 0, math.inf, is_link=True)
