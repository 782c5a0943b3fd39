"""Listing a bucket's prefix folder by folder, at once, and the requests it all costs.

A listing is one request per 1,000 keys, strictly one after the other (each page names the
next), so millions of keys at 20-50 ms a request take minutes. Cut at the folders directly
below the prefix (the 256 ``blobs/sha256/<hh>``, each top-level repository), found by one
delimiter listing (which shows the files directly below the prefix as well), the folders
are listed each on its own, as many at once as the caller's pool runs. Each folder is
listed by its own prefix, so that a page holds only that folder's keys: a listing that
started after a key and stopped at the next folder would fetch a page of 1,000 keys
reaching into the following folders, to throw most of them away.

The requests of a run, by :class:`S3Request`, and their floor:

- ``LIST``: ``sum over the prefixes listed of max(1, ceil(keys / 1000))``
  (:func:`list_floor`): a page holds at most 1,000 keys, and a listing of no key still
  costs a request. Listed folder by folder, the prefixes are the delimiter listing (its
  entries are the folders and the files directly below) and each folder; listed flat,
  the one prefix;
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


def list_prefix(store: ObjectStore, prefix: str, count: Callable[[], None]) -> Iterator[Page]:
    """The keys below ``prefix``, page by page; ``count`` is called once per request."""
    pages = 0
    for page in obstore.list(store, prefix, chunk_size=PAGE):
        pages += 1
        count()
        yield page
    if not pages:
        count()  # a listing that found nothing was a request all the same
