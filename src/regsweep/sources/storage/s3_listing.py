"""Listing a prefix of a bucket: page after page, then in parallel across its folders.

A listing is one request per 1,000 keys, strictly one after the other (each page names the
next), so millions of keys at 20-50 ms a request take minutes. The first
:data:`SEQUENTIAL_PAGES` pages are listed in order, which is all a small registry needs;
a listing still going after them continues with one listing per folder directly below the
prefix (the 256 ``blobs/sha256/<hh>``, each top-level repository), :data:`WORKERS` at a
time. Pages come out in no particular order, and at most :data:`BUFFERED` of them wait in
memory however long the listing.

It relies on S3 listing keys in byte order, which lets the folders the first pages covered
be skipped: the keys of folder ``f`` all lie in ``[f/, f0)`` (``0`` follows ``/``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, cast

import obstore

if TYPE_CHECKING:
    from obstore import ObjectMeta
    from obstore.store import ObjectStore

#: Keys per page: what S3 returns at most.
PAGE = 1000
#: Pages listed in order before a listing goes parallel: 10,000 keys.
SEQUENTIAL_PAGES = 10
#: Folder listings at once once it does.
WORKERS = 16
#: Pages the parallel listings may hold before the reader takes them.
BUFFERED = 2 * WORKERS

Page = Sequence["ObjectMeta"]


def list_pages(store: ObjectStore, prefix: str) -> Iterator[Page]:
    """Every object below ``prefix``, page by page (see the module docstring)."""
    last: str | None = None
    for count, page in enumerate(obstore.list(store, prefix, chunk_size=PAGE), start=1):
        yield page
        if page:
            last = page[-1]["path"]
        if count == SEQUENTIAL_PAGES and last is not None:
            break
    else:
        return
    listed = obstore.list_with_delimiter(store, prefix)
    yield [meta for meta in listed["objects"] if meta["path"] > last]
    jobs = [
        (folder, last if f"{folder}/" <= last else None)
        for folder in listed["common_prefixes"]
        if f"{folder}0" > last
    ]
    yield from _in_parallel(store, jobs)


#: What a folder's listing puts last.
_DONE = object()


def _in_parallel(store: ObjectStore, jobs: list[tuple[str, str | None]]) -> Iterator[Page]:
    """List each ``(folder, after)`` (keys after ``after`` only, when given) on a pool."""
    pages: queue.Queue[object] = queue.Queue(BUFFERED)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                pages.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def work(job: tuple[str, str | None]) -> None:
        folder, after = job
        try:
            for page in obstore.list(store, folder, offset=after, chunk_size=PAGE):
                if not put(page):
                    return
        except BaseException as exc:  # the reader raises it
            put(exc)
        put(_DONE)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for job in jobs:
            pool.submit(work, job)
        try:
            finished = 0
            while finished < len(jobs):
                item = pages.get()
                if item is _DONE:
                    finished += 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield cast(Page, item)
        finally:
            stop.set()  # a reader that stops early (or fails) releases the workers
