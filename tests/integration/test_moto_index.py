"""The benchmark's moto (``benchmarks/moto_index``) answers listings as moto itself does.

``bench_s3_gc --indexed-moto`` serves listings from a sorted index and writes ListObjectsV2
pages itself, to take moto's own costs out of what the benchmark measures; its figures
mean something only if the answers are moto's. Both servers here hold the same keys (names
that need escaping, folders that sort around ``/``, a file between folders) and are asked
the same listings, page by page, token by token; the answers must be the same bytes but
for the dates (the keys were written at different moments) and the request ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import obstore
import pytest

from tests.support.moto import MotoServer

INDEX = Path(__file__).resolve().parents[2] / "benchmarks" / "moto_index"
BUCKET = "listed"
KEYS = [
    *(f"blobs/{n:02}/{n:04}/data" for n in range(0, 40, 3)),
    "a/x&y<z>",
    "a/q\"'",
    "a/é 1",
    "a-b/k",
    "a.b/k",
    "a/b/c",
    "a/b/d",
    "a0/k",
    "a0b",
    "top",
]
LISTINGS_V2 = [
    {},
    {"max-keys": "1"},
    {"max-keys": "3"},
    {"prefix": "a"},
    {"prefix": "a/", "delimiter": "/"},
    {"delimiter": "/", "max-keys": "2"},
    {"prefix": "blobs/", "delimiter": "/", "max-keys": "4"},
    {"prefix": "blobs/", "max-keys": "4"},
    {"start-after": "a/b/c"},
    {"start-after": "a/b/c", "max-keys": "2", "prefix": "a"},
    {"start-after": "zzz"},
    {"prefix": "none/"},
    {"encoding-type": "url"},
    {"encoding-type": "url", "prefix": "a/", "delimiter": "/", "max-keys": "2"},
    {"fetch-owner": "true", "max-keys": "5"},
    {"max-keys": "0"},
]
# ListObjects (version 1); not with a delimiter and fewer max-keys than keys and folders:
# moto counts only the keys against max-keys and gives every folder on the first page;
# the index counts both, as S3 does.
LISTINGS_V1 = [
    {},
    {"max-keys": "3"},
    {"prefix": "a/", "delimiter": "/"},
    {"prefix": "blobs/", "delimiter": "/"},
    {"prefix": "blobs/", "max-keys": "4"},
    {"marker": "a/b/c"},
    {"marker": "a/b/c", "max-keys": "2"},
    {"encoding-type": "url", "max-keys": "5"},
]
LISTINGS = [{"list-type": "2", **query} for query in LISTINGS_V2] + LISTINGS_V1
_DATE = re.compile(r"<LastModified>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z</LastModified>")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MotoServer, MotoServer]]:
    """moto as it is, and moto with the benchmark's module on its PYTHONPATH."""
    work = tmp_path_factory.mktemp("moto-index")
    plain, indexed = MotoServer(work / "plain.log"), MotoServer(work / "indexed.log")
    try:
        plain.start()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PYTHONPATH", str(INDEX))
            indexed.start()
        for server in (plain, indexed):
            server.create_bucket(BUCKET)
            for key in KEYS:
                obstore.put(server.store(BUCKET, prefix=None), key, key.encode())
        yield plain, indexed
    finally:
        plain.stop()
        indexed.stop()


def _pages(server: MotoServer, query: dict[str, str]) -> list[tuple[int, str, str]]:
    """Every page of a listing, following its tokens: status, content type, body with
    its dates made equal (each is checked to be one, in S3's form)."""
    pages = []
    params = dict(query)
    token, parameter = (
        ("NextContinuationToken", "continuation-token")
        if query.get("list-type") == "2"
        else ("NextMarker", "marker")
    )
    with httpx.Client(base_url=server.endpoint, trust_env=False) as client:
        while True:
            answer = client.get(f"/{BUCKET}", params=params)
            body = _DATE.sub("<LastModified/>", answer.text)
            assert "LastModified>" not in body.replace("<LastModified/>", "")
            pages.append((answer.status_code, answer.headers["content-type"], body))
            found = re.search(f"<{token}>([^<]+)<", answer.text)
            if found is None or len(pages) > len(KEYS) + 1:
                return pages
            params[parameter] = found.group(1)


def _named(query: dict[str, str]) -> str:
    return "&".join(f"{name}={value}" for name, value in query.items())


@pytest.mark.parametrize("query", LISTINGS, ids=_named)
def test_listing_pages_are_moto_s_own(
    servers: tuple[MotoServer, MotoServer], query: dict[str, str]
) -> None:
    plain, indexed = servers
    expected = _pages(plain, query)
    assert _pages(indexed, query) == expected
    assert all(status == 200 for status, _, _ in expected)


def test_a_listing_sees_keys_written_and_deleted_since_the_last(
    servers: tuple[MotoServer, MotoServer],
) -> None:
    """The index is rebuilt after a change to the bucket: a listing after a write or a
    delete shows it, on both servers alike."""
    for server in servers:
        obstore.put(server.store(BUCKET, prefix=None), "a/new", b"new")
        obstore.delete(server.store(BUCKET, prefix=None), "a/b/c")
    try:
        plain, indexed = servers
        query = {"list-type": "2", "prefix": "a/", "max-keys": "2"}
        pages = _pages(indexed, query)
        assert pages == _pages(plain, query)
        listed = "".join(body for _, _, body in pages)
        assert "<Key>a/new</Key>" in listed
        assert "<Key>a/b/c</Key>" not in listed
    finally:
        for server in servers:
            obstore.delete(server.store(BUCKET, prefix=None), "a/new")
            obstore.put(server.store(BUCKET, prefix=None), "a/b/c", b"a/b/c")
