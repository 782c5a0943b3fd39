"""Listing a bucket's prefix in runs of folders, at once, and the requests it all costs.

A listing is one request per 1,000 keys, strictly one after the other (each page names the
next), so millions of keys at 20-50 ms a request take minutes. One delimiter listing finds
the folders directly below the prefix (the 256 ``blobs/sha256/<hh>``, each top-level
repository folder) and shows the files directly below it; the folders are then cut into
as many runs of consecutive folders as the caller's pool lists at once, each run listed
from where it begins (S3's ``start-after``) up to where the next begins
(:func:`key_ranges`). A run of folders, not a folder: listed one by one, each folder costs
a request however few keys it holds, so 5,000 blobs cost 256 requests where their 5,000
keys need 5; a run costs one request more than its keys need at most (the page on which
the next run begins, whose keys are thrown away).

The requests of a run, by :class:`S3Request`, and their floor:

- ``LIST``: ``ceil(keys / 1000)`` for each prefix walked (:func:`list_floor`): a page
  holds at most 1,000 keys, and a listing of no key still costs a request. Listed in runs,
  a prefix costs the delimiter listing (a request per 1,000 folders and files directly
  below) and, per run, at most one request above its keys' share;
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
from itertools import pairwise
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
    """The fewest ``LIST`` requests that list these listings (prefixes, each listed whole):
    one per 1,000 keys of each, and one for a listing that finds none."""
    return sum(max(1, math.ceil(keys / PAGE)) for keys in keys_per_listing)


def delete_floor(keys: int) -> int:
    """The fewest ``DeleteObjects`` requests that delete ``keys`` keys."""
    return math.ceil(keys / PAGE)


def key_ranges(folders: Sequence[str], runs: int) -> list[tuple[str | None, str | None]]:
    """Cut ``folders`` (the paths of the folders directly below one prefix, without their
    final ``/``) into at most ``runs`` runs of consecutive folders, about as many in each;
    for each run, the keys ``(after, through)`` between which its folders' keys lie:
    ``after < key <= through``, None for no bound.

    A run's bounds are ``<its last folder>0``: ``0`` sorts right after ``/``, so every key
    of that folder (``<folder>/...``) and of the folders before it sorts below, and every
    key of the folders after it above (one named ``<folder>0`` too: its keys begin with
    the bound and are longer). Keys are compared as S3 orders them (by their UTF-8
    bytes, the order of Python's strings); the folders are sorted here as their keys sort,
    ``a-b/`` before ``a/``. Only a file directly below the prefix may fall anywhere: the
    delimiter listing already shows those, and a run leaves them out."""
    if not folders:
        return []
    ordered = sorted(folders, key=lambda folder: f"{folder}/")
    runs = max(1, min(runs, len(ordered)))
    size, longer = divmod(len(ordered), runs)
    bounds: list[str | None] = [None]
    end = 0
    for run in range(runs - 1):
        end += size + (run < longer)
        bounds.append(f"{ordered[end - 1]}0")
    bounds.append(None)
    return list(pairwise(bounds))


def list_prefix(
    store: ObjectStore, prefix: str, count: Callable[[], None], *, after: str | None = None
) -> Iterator[Page]:
    """The keys below ``prefix`` (those after ``after``, when given), page by page; ``count``
    is called once per request. A page is asked for only when the one before has been gone
    through, so a listing left part way sends no more requests."""
    pages = 0
    for page in obstore.list(store, prefix, offset=after, chunk_size=PAGE):
        pages += 1
        count()
        yield page
    if not pages:
        count()  # a listing that found nothing was a request all the same
