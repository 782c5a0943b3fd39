"""A registry storage tree in an S3 bucket (the registry's ``s3`` driver), through obstore.

The keys are ``<rootdirectory>/docker/registry/v2/...``, the same tree as on disk, with
objects for files and no folders at all. How each :class:`~.store.Store` method bridges
the difference:

- a folder is a key prefix: it exists while an object lies below it and vanishes with the
  last one, so ``remove_empty_folders`` has nothing to do and ``stat`` of a folder is None;
- ``list_files`` is one flat listing, a request per 1,000 keys, streamed page by page so
  that millions of keys are never held at once; ``split_listing`` cuts it into
  listings of runs of folders, to be listed at once (:mod:`.s3_listing`); ``list_dir`` is
  a delimiter listing;
- there is no rename: ``move`` copies each object, then deletes the sources;
- ``delete_files`` sends 1,000 keys per request (``DeleteObjects``);
- ``write_new`` is a conditional put (``If-None-Match: *``) and ``replace`` one with
  ``If-Match`` on the ETag read, both atomic on S3 and on stores that honour them;
- a file's mtime is its ``LastModified``, in whole seconds.

Every request is counted by kind in :attr:`S3Store.requests` (:mod:`.s3_listing` states
the floor).

obstore's errors become :class:`OSError` here, which is what every caller of a store
already handles (a missing object is ``FileNotFoundError`` in obstore itself).
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import AlreadyExistsError, BaseError, PreconditionError
from obstore.store import S3Store as _ObstoreS3

from regsweep.core.errors import UsageError
from regsweep.sources.requests import RequestCounts
from regsweep.sources.storage.aws_profile import read_profile
from regsweep.sources.storage.s3_listing import (
    PAGE,
    S3Request,
    delete_floor,
    key_ranges,
    list_prefix,
)
from regsweep.sources.storage.s3_location import S3Location, S3Options
from regsweep.sources.storage.store import FolderFilter, StoredFile, check_relative

if TYPE_CHECKING:
    from obstore import ListResult, ObjectMeta, UpdateVersion
    from obstore.store import S3Config

#: Requests in flight for one batch call (``stat_many``, ``move``): S3 serves thousands
#: per second per prefix; more than this gains little over a loopback or a WAN link.
CONCURRENCY = 32

#: One object store request gives up after this: five retries with backoff cover S3's
#: ``503 SlowDown`` bursts, while a wrong endpoint fails in seconds, not minutes.
RETRIES = 5
RETRY_TIMEOUT = timedelta(seconds=60)

_S3_CODE = re.compile(r"<Code>([^<]{1,100})</Code>")
_S3_MESSAGE = re.compile(r"<Message>([^<]{1,300})</Message>")

T = TypeVar("T")


class S3Store:
    """The ``s3`` driver's tree below ``location`` (see the module docstring)."""

    lists_flat = True
    readers = 48
    blocks_briefly = False

    def __init__(self, location: S3Location, options: S3Options | None = None) -> None:
        self.location = location
        config = _config(location, options or S3Options(), os.environ, Path.home())
        try:
            self._store = _ObstoreS3(
                location.bucket,
                prefix=location.prefix or None,
                config=config,
                client_options={
                    # the registry's ``secure: false``: an http endpoint given on purpose
                    "allow_http": str(config.get("endpoint", "")).startswith("http://"),
                    "connect_timeout": timedelta(seconds=10),
                },
                retry_config={"max_retries": RETRIES, "retry_timeout": RETRY_TIMEOUT},
            )
        except BaseError as exc:  # e.g. AWS_ACCESS_KEY_ID without AWS_SECRET_ACCESS_KEY
            raise UsageError(f"S3 settings for {location}: {_describe(exc)}") from None
        #: every request sent, by kind; the store is shared by threads, hence the lock
        self.requests = RequestCounts(S3Request)
        self._counting = threading.Lock()

    def _count(self, kind: S3Request, requests: int = 1) -> None:
        with self._counting:
            self.requests.by_kind[kind] += requests

    def describe(self) -> str:
        """The ``s3://bucket/prefix`` URL."""
        return str(self.location)

    def exists(self, path: str) -> bool:
        """An object at ``path``, or any object below it: a folder is only a key prefix."""
        return self.stat(path) is not None or self._any_below(path)

    def list_files(self, prefix: str, skip: FolderFilter | None = None) -> Iterator[StoredFile]:
        """One flat listing, page by page: a request per 1,000 keys, and never every key in
        memory at once. ``skip`` leaves nothing out: the keys below a folder come in the
        same pages as the others."""
        check_relative(prefix)
        with self._errors(prefix):
            for page in list_prefix(self._store, prefix, partial(self._count, S3Request.LIST)):
                for meta in page:
                    yield _stored(meta)

    def split_listing(
        self, prefix: str, parts: int, skip: FolderFilter | None = None
    ) -> list[Callable[[], Iterator[StoredFile]]]:
        """``parts`` listings of runs of the folders directly below ``prefix``, and the
        files directly below it, which the delimiter listing finding the folders shows
        (:mod:`.s3_listing`); flat, so ``skip`` leaves nothing out."""
        listed = self._delimited(check_relative(prefix))
        files = [_stored(meta) for meta in listed["objects"]]
        runs: list[Callable[[], Iterator[StoredFile]]] = [
            partial(self._list_run, prefix, after, through)
            for after, through in key_ranges(listed["common_prefixes"], parts)
        ]
        return [partial(iter, files), *runs] if files else runs

    def _list_run(
        self, prefix: str, after: str | None, through: str | None
    ) -> Iterator[StoredFile]:
        """The keys below ``prefix`` after ``after`` up to ``through``, but the files
        directly below ``prefix`` (see :func:`.s3_listing.key_ranges`)."""
        below = len(prefix) + 1
        with self._errors(prefix):
            pages = list_prefix(
                self._store, prefix, partial(self._count, S3Request.LIST), after=after
            )
            for page in pages:
                for meta in page:
                    path = meta["path"]
                    if through is not None and path > through:
                        return
                    if "/" in path[below:]:
                        yield _stored(meta)

    def list_dir(self, prefix: str) -> list[str]:
        """A delimiter listing: the prefixes (folders) and objects directly below."""
        listed = self._delimited(check_relative(prefix))
        names = [p.rsplit("/", 1)[-1] for p in listed["common_prefixes"]]
        return names + [o["path"].rsplit("/", 1)[-1] for o in listed["objects"]]

    def _delimited(self, prefix: str) -> ListResult[Sequence[ObjectMeta]]:
        """One delimiter listing: a request per 1,000 names (obstore pages it itself)."""
        with self._errors(prefix):
            listed = obstore.list_with_delimiter(self._store, prefix)
        names = len(listed["common_prefixes"]) + len(listed["objects"])
        self._count(S3Request.LIST, max(1, -(-names // PAGE)))
        return listed

    def read(self, path: str) -> bytes:
        """One GET."""
        self._count(S3Request.GET)
        with self._errors(path):
            return bytes(obstore.get(self._store, check_relative(path)).bytes())

    def stat(self, path: str) -> StoredFile | None:
        """One HEAD; None for a folder, which is a prefix and no object."""
        self._count(S3Request.HEAD)
        try:
            with self._errors(path):
                return _stored(obstore.head(self._store, check_relative(path)))
        except FileNotFoundError:
            return None

    def delete_tree(self, prefix: str) -> bool:
        """Every object below ``prefix``, or the object ``prefix`` itself."""
        deleted = False
        batch: list[str] = []
        for stored in self.list_files(prefix):
            batch.append(stored.path)
            if len(batch) == PAGE:
                self.delete_files(batch)
                deleted, batch = True, []
        if batch:
            self.delete_files(batch)
            deleted = True
        if not deleted and self.stat(prefix) is not None:
            self.delete_files([prefix])
            deleted = True
        return deleted

    def stat_many(self, paths: Sequence[str]) -> list[StoredFile | None]:
        """One HEAD per path, :data:`CONCURRENCY` at a time."""
        checked = [check_relative(p) for p in paths]
        self._count(S3Request.HEAD, len(checked))

        async def head(path: str) -> StoredFile | None:
            try:
                with self._errors(path):
                    return _stored(await obstore.head_async(self._store, path))
            except FileNotFoundError:
                return None

        return _gather([partial(head, p) for p in checked])

    def delete_files(self, paths: Sequence[str]) -> int:
        """Delete in batches of 1,000 keys. S3 answers "deleted" for an absent key too, so
        the count is of the keys sent, not of the objects that were there."""
        if not paths:
            return 0
        self._count(S3Request.DELETE, delete_floor(len(paths)))
        with self._errors(paths[0]):
            obstore.delete(self._store, [check_relative(p) for p in paths])
        return len(paths)

    def remove_empty_folders(self, paths: Sequence[str]) -> int:
        """Nothing to do: a prefix vanishes with its last object."""
        return 0

    def move(self, source: str, target: str) -> bool:
        """Copy every object below ``source`` (or ``source`` itself) to ``target``, then
        delete the sources. Not atomic: a crash in between leaves both copies, the same
        bytes; the collector's restore and purge settle such doubles."""
        check_relative(target)
        keys = [f.path for f in self.list_files(source)]
        if keys:
            taken = self._any_below(target)
        else:
            if self.stat(source) is None:
                return False
            keys, taken = [source], self.stat(target) is not None
        if taken:
            raise FileExistsError(f"cannot move {source} to {target}: the target exists")
        pairs = [(key, target + key[len(source) :]) for key in keys]

        self._count(S3Request.COPY, len(pairs))

        async def copy(pair: tuple[str, str]) -> None:
            with self._errors(pair[0]):
                await obstore.copy_async(self._store, pair[0], pair[1])

        _gather([partial(copy, pair) for pair in pairs])
        self.delete_files(keys)
        return True

    def write_new(self, path: str, data: bytes) -> bool:
        """A conditional put (``If-None-Match: *``): of two creators, the store lets exactly one
        succeed."""
        self._count(S3Request.PUT)
        try:
            with self._errors(path):
                obstore.put(self._store, check_relative(path), data, mode="create")
        except FileExistsError:
            return False
        return True

    def replace(self, path: str, expected: bytes, data: bytes) -> bool:
        """Read, compare, then put with ``If-Match`` on the ETag read."""
        self._count(S3Request.GET)
        try:
            with self._errors(path):
                found = obstore.get(self._store, check_relative(path))
                if bytes(found.bytes()) != expected:
                    return False
                version: UpdateVersion = {"e_tag": found.meta["e_tag"]}
                if found.meta["version"] is not None:  # a versioned bucket
                    version["version"] = found.meta["version"]
                self._count(S3Request.PUT)
                obstore.put(self._store, path, data, mode=version)
        except (FileNotFoundError, FileExistsError):  # gone, or changed since it was read
            return False
        return True

    def _any_below(self, prefix: str) -> bool:
        self._count(S3Request.LIST)
        with self._errors(prefix):
            for page in obstore.list(self._store, check_relative(prefix), chunk_size=1):
                if page:
                    return True
        return False

    @contextmanager
    def _errors(self, path: str) -> Iterator[None]:
        """obstore's errors as the OSErrors every caller of a store handles."""
        try:
            yield
        except AlreadyExistsError as exc:
            raise FileExistsError(f"{self.describe()}/{path} exists") from exc
        except PreconditionError as exc:
            raise FileExistsError(f"{self.describe()}/{path} changed meanwhile") from exc
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.describe()}/{path} does not exist") from None
        except BaseError as exc:
            raise OSError(f"{self.describe()}/{path}: {_describe(exc)}") from exc


def _stored(meta: ObjectMeta) -> StoredFile:
    """Whole seconds: a HEAD's ``Last-Modified`` has no more, and some stores (MinIO) list
    milliseconds, which would make every push time read back at apply look changed."""
    return StoredFile(
        meta["path"], meta["size"], float(math.floor(meta["last_modified"].timestamp()))
    )


def _describe(exc: BaseException) -> str:
    """The S3 error code and message when the answer had them, else the first line:
    obstore's messages run over many lines (the whole answer, then a debug dump)."""
    text = str(exc).strip()
    code, message = _S3_CODE.search(text), _S3_MESSAGE.search(text)
    if code is not None:
        return f"{code.group(1)}: {message.group(1)}" if message else code.group(1)
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _gather(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run the calls with at most :data:`CONCURRENCY` in flight; results in order.

    Each call makes its awaitable only once a slot is free: obstore starts a request when
    the coroutine is made, so making them all up front would send them all at once.
    """
    if not calls:
        return []

    async def run() -> list[T]:
        slots = asyncio.Semaphore(CONCURRENCY)

        async def one(call: Callable[[], Awaitable[T]]) -> T:
            async with slots:
                return await call()

        return list(await asyncio.gather(*(one(c) for c in calls)))

    return asyncio.run(run())


def _config(
    location: S3Location, options: S3Options, env: Mapping[str, str], home: Path
) -> S3Config:
    """obstore's S3 settings: regsweep's options, else the AWS environment (which obstore
    reads itself), else the shared files' profile."""
    config: dict[str, Any] = {"virtual_hosted_style_request": not options.path_style}
    endpoint = options.endpoint or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        config["endpoint"] = _endpoint(endpoint, location.bucket, options.path_style)
    if options.region:
        config["region"] = options.region
    if not env.get("AWS_ACCESS_KEY_ID"):
        profile = read_profile(env, home)
        if profile.access_key_id and profile.secret_access_key:
            config["access_key_id"] = profile.access_key_id
            config["secret_access_key"] = profile.secret_access_key
            if profile.session_token:
                config["session_token"] = profile.session_token
        if profile.region and not (
            options.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        ):
            config["region"] = profile.region
    return config  # type: ignore[return-value]


def _endpoint(url: str, bucket: str, path_style: bool) -> str:
    """The endpoint as obstore wants it: with the bucket in the host name when requests are
    virtual-hosted (the registry's ``forcepathstyle: false``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"S3 endpoint {url!r} is not an http(s) URL")
    if path_style or parts.netloc.startswith(f"{bucket}."):
        return url.rstrip("/")
    return f"{parts.scheme}://{bucket}.{parts.netloc}"
