"""S3Store against moto's S3 server: the Store contract as the collector and apply use it."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import obstore
import pytest

from regsweep.core.errors import NotARegistryError, UsageError
from regsweep.sources.storage import s3_listing
from regsweep.sources.storage.open import open_storage
from regsweep.sources.storage.s3 import S3Location, S3Options, S3Store
from regsweep.sources.storage.store import PathEscapeError
from regsweep.state.lock import LOCK, StorageLockedError, storage_lock
from tests.support.moto import MotoServer, aws_env


@pytest.fixture
def store(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Store]:
    for name, value in aws_env().items():
        monkeypatch.setenv(name, value)
    bucket = f"store-{secrets.token_hex(6)}"
    moto_server.create_bucket(bucket)
    yield S3Store(S3Location(bucket, "root"), S3Options(endpoint=moto_server.endpoint))


def put(store: S3Store, *paths: str) -> None:
    for path in paths:
        assert store.write_new(path, path.encode())


def test_location_parse() -> None:
    assert S3Location.parse("s3://bucket/a/b/") == S3Location("bucket", "a/b")
    assert str(S3Location.parse("s3://my.bucket")) == "s3://my.bucket"
    for bad in ("s3://B/x", "http://bucket/x", "s3://bucket/a/../b", "s3://bucket/x?y=1"):
        with pytest.raises(ValueError):
            S3Location.parse(bad)


def test_folders_are_prefixes(store: S3Store) -> None:
    put(store, "a/b/c", "a/d")

    assert store.exists("a") and store.exists("a/b") and store.exists("a/b/c")
    assert not store.exists("a/x") and not store.exists("a/b/c/d")
    assert sorted(store.list_dir("a")) == ["b", "d"]
    assert store.list_dir("nothing") == []
    assert store.stat("a/b") is None  # a folder is no object
    assert store.remove_empty_folders(["a/b"]) == 0
    assert sorted(f.path for f in store.list_files("a")) == ["a/b/c", "a/d"]


def test_read_stat_and_missing(store: S3Store) -> None:
    put(store, "x/link")

    assert store.read("x/link") == b"x/link"
    found = store.stat_many(["x/link", "x/none", "x/link"])
    assert [f.path if f else None for f in found] == ["x/link", None, "x/link"]
    assert found[0] is not None and found[0].size == 6 and found[0].mtime > 0
    with pytest.raises(FileNotFoundError):
        store.read("x/none")


def test_paths_outside_the_root_are_refused(store: S3Store) -> None:
    for call in (
        lambda: store.read("../x"),
        lambda: store.stat("/x"),
        lambda: store.write_new("a/../../x", b""),
        lambda: store.delete_files(["a//b"]),
        lambda: list(store.list_files("..")),
    ):
        with pytest.raises(PathEscapeError):
            call()


def test_write_new_is_exclusive(store: S3Store) -> None:
    assert store.write_new("lock", b"first")
    assert not store.write_new("lock", b"second")
    assert store.read("lock") == b"first"


def test_replace_is_a_compare_and_swap_on_the_etag(store: S3Store) -> None:
    assert not store.replace("lock", b"", b"new")  # absent
    assert store.write_new("lock", b"old")

    assert not store.replace("lock", b"other", b"new")
    assert store.replace("lock", b"old", b"new")
    assert not store.replace("lock", b"old", b"newer")
    assert store.read("lock") == b"new"


@pytest.mark.parametrize("hours", [-1, 1])
def test_a_lock_from_another_host_is_taken_over_only_once_its_lease_ran_out(
    store: S3Store, hours: int
) -> None:
    expires = datetime.now(UTC) + timedelta(hours=hours)
    holder = {"pid": 1, "host": "elsewhere", "pidns": "x", "since": "then"}
    other = json.dumps({**holder, "expires": expires.isoformat()}).encode()
    assert store.write_new(LOCK, other)

    if hours > 0:
        with (
            pytest.raises(StorageLockedError, match="elsewhere"),
            storage_lock(store, now=datetime.now(UTC), command="gc"),
        ):
            pytest.fail("entered a held lock")
        assert store.read(LOCK) == other
        return
    with storage_lock(store, now=datetime.now(UTC), command="gc"):
        assert json.loads(store.read(LOCK))["host"] == socket.gethostname()
    assert not store.exists(LOCK)


def test_delete_files_in_batches_and_delete_tree(store: S3Store) -> None:
    keys = [f"many/{n:04d}" for n in range(1200)]
    store.delete_files([])
    for key in keys[:5]:
        store.write_new(key, b"")
    put(store, "tree/a/1", "tree/b/2", "tree/c")

    assert store.delete_files(keys) == len(keys)  # more than one DeleteObjects request
    assert not store.exists("many")
    assert store.delete_tree("tree/a")
    assert not store.delete_tree("tree/a")
    assert store.delete_tree("tree/c")  # a file
    assert [f.path for f in store.list_files("tree")] == ["tree/b/2"]


def test_move_copies_then_deletes_and_never_overwrites(store: S3Store) -> None:
    put(store, "blobs/ab/abc/data", "blobs/ab/abd/data", "q/1/abd/data")

    assert store.move("blobs/ab/abc", "q/1/abc")
    assert store.read("q/1/abc/data") == b"blobs/ab/abc/data"
    assert not store.exists("blobs/ab/abc")
    assert not store.move("blobs/ab/abc", "q/1/abc")  # gone already
    with pytest.raises(FileExistsError):
        store.move("blobs/ab/abd", "q/1/abd")
    assert store.exists("blobs/ab/abd/data")
    assert store.move("q/1/abc/data", "blobs/ab/abc/data")  # a single file
    assert store.read("blobs/ab/abc/data") == b"blobs/ab/abc/data"


@pytest.mark.parametrize("parts", [1, 2, 3, 20])
def test_a_split_listing_lists_every_key_once(
    store: S3Store, monkeypatch: pytest.MonkeyPatch, parts: int
) -> None:
    """Runs of folders, and the files directly below the prefix from the delimiter listing
    that found the folders; tiny pages: every key comes out once, odd names too (``a-b``
    and ``a.b`` sort between ``a`` and ``a/``, ``a0`` right after the bound of a run ending
    at ``a``, files anywhere between the folders), and nothing from a name that only begins
    like the prefix (``topless``)."""
    monkeypatch.setattr(s3_listing, "PAGE", 2)
    keys = sorted(
        [f"top/a/{n}" for n in range(5)]
        + [f"top/{name}/{n}" for name in ("a-b", "a.b", "a0", "a0b") for n in range(3)]
        + [f"top/b{n}/x/y" for n in range(7)]
        + ["top/a.txt", "top/a0", "top/b3.txt", "top/file", "top/zz", "topless/x"]
    )
    put(store, *keys)

    listings = store.split_listing("top", parts)
    listed = [[f.path for f in listing()] for listing in listings]

    assert len(listings) == 1 + min(parts, 12)  # the files, then runs of the 12 folders
    assert listed[0] == ["top/a.txt", "top/a0", "top/b3.txt", "top/file", "top/zz"]
    every = sorted(p for part in listed for p in part)
    assert every == [k for k in keys if k.startswith("top/")]
    folders = [{p.split("/")[1] for p in part} for part in listed[1:]]
    assert sum(map(len, folders)) == 12  # each folder whole in one run


def test_a_listing_abandoned_part_way_stops(
    store: S3Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_listing, "PAGE", 2)
    put(store, *(f"top/{folder}/{n}" for folder in "abcdef" for n in range(4)))

    listing = store.list_files("top")
    first = [next(listing) for _ in range(5)]
    listing.close()

    assert len(set(f.path for f in first)) == 5


def test_requests_are_counted_as_the_server_sees_them(
    store: S3Store, moto_server: MotoServer
) -> None:
    """The counts are the server's (its access log). A flat listing costs one request per
    1,000 keys (one for a prefix of none); a listing in runs, the delimiter listing and
    each run's pages from where it begins (``start-after``, not the prefix's first key)
    to the page where the next run begins."""
    bucket = store.location.bucket
    keys = [f"top/{n % 7}/{n:05}" for n in range(2500)] + ["top/file", "other/x"]
    upload(moto_server, bucket, keys)
    before = moto_server.requests(bucket)
    counted = store.requests.by_kind.copy()

    whole = list(store.list_files("top"))
    runs = store.split_listing("top", 3)  # folders 0-2, 3-4, 5-6
    assert sum(len(list(run())) for run in runs) == len(whole)
    assert list(store.list_files("nothing")) == []
    store.read("top/0/00000")
    store.stat("top/0/00000")
    store.delete_files([f.path for f in whole[:1050]])

    seen = moto_server.requests(bucket)
    seen.subtract(before)
    sent = store.requests.by_kind.copy()
    sent.subtract(counted)
    listed = sorted(f.path for f in whole)  # as S3 lists them: the file after folder 6
    starts = [0, listed.index("top/3/00003"), listed.index("top/5/00005")]
    run_pages = [(end - start) // 1000 + 1 for start, end in pairwise(starts)]
    run_pages.append(-(-(len(listed) - starts[-1]) // 1000))
    assert run_pages == [2, 1, 1]  # 1,072 keys, 714, 715
    flat = s3_listing.list_floor([len(whole), 0])  # the flat listing; nothing
    assert +seen == {"list": flat + 1 + sum(run_pages), "get": 1, "head": 1, "delete": 2}
    assert {kind.value: n for kind, n in (+sent).items()} == +seen


def upload(moto: MotoServer, bucket: str, keys: list[str]) -> None:
    """Put many small objects at once (moto takes them one by one, but without waiting for
    each answer in turn)."""
    raw = moto.store(bucket, "root")

    async def put_all() -> None:
        slots = asyncio.Semaphore(16)

        async def put(key: str) -> None:
            async with slots:
                await obstore.put_async(raw, key, b"x")

        await asyncio.gather(*(put(key) for key in keys))

    asyncio.run(put_all())


def test_errors_are_oserrors_and_open_refuses_what_is_no_registry(
    store: S3Store, moto_server: MotoServer
) -> None:
    options = S3Options(endpoint=moto_server.endpoint)
    missing = S3Store(S3Location("no-such-bucket", "root"), options)
    with pytest.raises(OSError, match="NoSuchBucket"):
        missing.list_dir("a")
    with pytest.raises(UsageError, match="cannot read s3://no-such-bucket/root"):
        open_storage("s3://no-such-bucket/root", s3=options)
    with pytest.raises(NotARegistryError, match="not a registry storage root"):
        open_storage(f"s3://{store.location.bucket}/root", s3=options)
