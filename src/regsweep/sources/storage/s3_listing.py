"""Listing a bucket's prefix in ranges that may run at once, and the requests it all costs.

A listing is one request per 1,000 keys, strictly one after the other (each page names the
next), so millions of keys at 20-50 ms a request take minutes. Split at the folders
directly below the prefix (the 256 ``blobs/sha256/<hh>``, each top-level repository), the
key space becomes ranges of consecutive folders, each listed on its own from where it
begins (``start-after``) until the next range begins: the ranges run at once, and every
key lies in exactly one range (a range is a span of the key space, not a set of folders,
so a file or an odd name between two folders is in one too). Consecutive folders are
grouped rather than listed one by one because every listing costs a request however few
keys it holds: 256 listings of 20 keys each would cost 256 requests where 6 ranges of
1,000 keys cost 6.

The requests of a run, by :class:`S3Request`, and their floor:

- ``LIST``: ``sum over the listings of max(1, ceil(keys / 1000))`` (:func:`list_floor`):
  a page holds at most 1,000 keys, and a listing of no key still costs a request. A
  split listing adds the delimiter listing that finds the folders (one request per
  1,000 folders), and its ranges each end in a page that may reach into the next range;
- ``GET``: one per manifest (and per link, tag and revision, that discovery reads);
- ``DELETE``: one ``DeleteObjects`` per 1,000 keys deleted;
- ``HEAD``, ``PUT``, ``COPY``: the lock, the quarantine, the spine's check.

They are counted as regsweep sends them; obstore's own retries of a failed request are not
seen here (``benchmarks/bench_s3_gc.py`` sets these counts beside the server's log).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

import obstore

if TYPE_CHECKING:
    from obstore import ObjectMeta
    from obstore.store import ObjectStore

#: Keys per page: what S3 returns at most.
PAGE = 1000

Page = Sequence["ObjectMeta"]


class S3Request(StrEnum):
    """What a request to the bucket does, as a run counts it."""

    LIST = "list"
    GET = "get"
    HEAD = "head"
    PUT = "put"
    COPY = "copy"
    #: ``DeleteObjects``: up to 1,000 keys a request
    DELETE = "delete"


def list_floor(keys_per_listing: Iterable[int]) -> int:
    """The fewest ``LIST`` requests that list these listings: one per 1,000 keys of each,
    and one for a listing that finds none."""
    return sum(max(1, math.ceil(keys / PAGE)) for keys in keys_per_listing)


def delete_floor(keys: int) -> int:
    """The fewest ``DeleteObjects`` requests that delete ``keys`` keys."""
    return math.ceil(keys / PAGE)


def range_starts(prefix: str, folders: Sequence[str], ranges: int) -> list[str | None]:
    """Where each of at most ``ranges`` ranges of ``prefix`` begins: None for the first
    (the start of the prefix), then ``<prefix>/<folder>/`` of every n-th folder, so that
    each range holds as many folders as the others, give or take one."""
    ordered = sorted(folders)
    count = max(1, min(ranges, len(ordered)))
    cuts = sorted({round(i * len(ordered) / count) for i in range(1, count)})
    return [None, *(f"{prefix}/{ordered[cut]}/" for cut in cuts)]


def list_range(
    store: ObjectStore,
    prefix: str,
    start: str | None,
    end: str | None,
    count: Callable[[], None],
) -> Iterator[Page]:
    """The keys below ``prefix`` from ``start`` (included) to ``end`` (excluded), page by
    page; ``count`` is called once per request.

    The listing starts after ``start`` without its last character (keys equal to ``start``
    are listed too), then drops what sorts before ``start``: names such as ``app-x`` lie
    between ``app`` and ``app/``. It stops at the first key past ``end``.
    """
    offset = start[:-1] if start else None
    pages = 0
    for page in obstore.list(store, prefix, offset=offset, chunk_size=PAGE):
        pages += 1
        count()
        keys = [meta for meta in page if start is None or meta["path"] >= start]
        if end is not None and keys and keys[-1]["path"] >= end:
            yield [meta for meta in keys if meta["path"] < end]
            return
        yield keys
    if not pages:
        count()  # a listing that found nothing was a request all the same
