"""Walking a tree in parts that are listed at once (:meth:`ReadableStore.split_listing`).

On object storage a listing is a request per 1,000 keys, one after the other: a walk in
one listing waits for every page in turn. Split into runs of its folders listed at once,
on the pool that also reads (so the requests in flight stay bounded by one setting,
:attr:`ReadableStore.readers`), it waits for the longest run only. A local folder's
walk is not split: it is one part, listed on the calling thread, as before.

Each part's work runs on the pool and returns what the calling thread does with it
(merging into the caller's results), so the caller's data needs no lock, and a part's
files are handled as its pages come, never all kept first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from functools import partial
from typing import TypeVar

from regsweep.sources.storage.store import FolderFilter, ReadableStore, StoredFile

R = TypeVar("R")


def parts_of(
    store: ReadableStore, prefix: str, listings: int, skip: FolderFilter | None = None
) -> list[Callable[[], Iterator[StoredFile]]]:
    """The walk of ``prefix`` in parts: as many as ``listings`` run at once, else one flat
    listing (the fewest requests, when they would run one after the other); ``skip``: see
    :meth:`ReadableStore.list_files`."""
    if listings <= 1:
        return [partial(store.list_files, prefix, skip)]
    return store.split_listing(prefix, listings, skip)


def run_parts(pool: Executor, parts: Iterable[Callable[[], R]], *, window: int) -> Iterator[R]:
    """Run ``parts`` on ``pool``, at most ``window`` at once; their results as they come.
    One at a time, they run on the calling thread, in order."""
    if window <= 1:
        for part in parts:
            yield part()
        return
    waiting = iter(parts)
    pending: set[Future[R]] = set()
    for part in waiting:
        pending.add(pool.submit(part))
        if len(pending) >= window:
            break
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            following = next(waiting, None)
            if following is not None:
                pending.add(pool.submit(following))
            yield future.result()
