"""Untag method detection and fallbacks against an in-memory registry (MockTransport)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

import httpx
import pytest

from regsweep.apply.untag import Untagger, UntagMethod
from regsweep.core.errors import RegistryAPIError
from regsweep.core.model import Digest
from regsweep.sources.api.client import RegistryClient
from regsweep.sources.api.retry import RetryPolicy
from tests.support.api_client import with_mock_client
from tests.support.images import sha256_digest

T = TypeVar("T")
TagDelete = Literal["untag", "unsupported", "deletes-manifest"]
_PATH = re.compile(r"/v2/(?P<repo>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)")


def error(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": [{"code": code, "message": code.lower()}]})


class FakeRegistry:
    """One repository's tags, manifests and blobs, with a configurable tag delete."""

    def __init__(self, tag_delete: TagDelete, *, push: bool = True) -> None:
        self.tag_delete = tag_delete
        self.push = push
        self.tags: dict[str, str] = {}
        self.manifests: dict[str, bytes] = {}
        self.blobs: set[str] = set()
        self.log: list[str] = []
        #: manifest DELETEs that, as distribution 2.x does when a tag link it reads is being
        #: rewritten, remove the manifest, leave its tags and answer 500
        self.half_deletes = 0

    def add(self, tag: str, raw: bytes) -> str:
        digest = sha256_digest(raw)
        self.manifests[digest] = raw
        self.tags[tag] = digest
        return digest

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.log.append(f"{request.method} {request.url.path}")
        path = request.url.path
        if request.method == "POST" and path.endswith("/blobs/uploads/"):
            if not self.push:
                return error(403, "DENIED")
            return httpx.Response(202, headers={"Location": "/upload/1?state=x"})
        if request.method == "PUT" and path == "/upload/1":
            assert request.url.params["state"] == "x"
            self.blobs.add(request.url.params["digest"])
            return httpx.Response(201)
        if request.method == "GET" and path.endswith("/tags/list"):
            return httpx.Response(200, json={"name": "app", "tags": sorted(self.tags)})
        match = _PATH.fullmatch(path)
        assert match is not None, path
        kind, ref = match["kind"], match["ref"]
        if kind == "blobs":
            assert request.method == "DELETE"
            if ref in self.blobs:
                self.blobs.remove(ref)
                return httpx.Response(202)
            return error(404, "BLOB_UNKNOWN")
        digest = ref if ref.startswith("sha256:") else self.tags.get(ref)
        if request.method == "PUT":
            raw = request.read()
            self.manifests[sha256_digest(raw)] = raw
            if not ref.startswith("sha256:"):
                self.tags[ref] = sha256_digest(raw)
            return httpx.Response(201)
        if request.method in ("GET", "HEAD"):
            if digest is None or digest not in self.manifests:
                return error(404, "MANIFEST_UNKNOWN")
            raw = self.manifests[digest]
            return httpx.Response(
                200,
                content=raw if request.method == "GET" else b"",
                headers={
                    "Docker-Content-Digest": digest,
                    "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                    "Content-Length": str(len(raw)),
                },
            )
        assert request.method == "DELETE"
        if not ref.startswith("sha256:"):
            if self.tag_delete == "unsupported":
                return error(400, "DIGEST_INVALID")
            if ref not in self.tags:
                return error(404, "MANIFEST_UNKNOWN")
            if self.tag_delete == "untag":
                del self.tags[ref]
                return httpx.Response(202)
        if digest is None or digest not in self.manifests:
            return error(404, "MANIFEST_UNKNOWN")
        del self.manifests[digest]
        if self.half_deletes:
            self.half_deletes -= 1
            return error(500, "UNKNOWN")
        self.tags = {t: d for t, d in self.tags.items() if d != digest}
        return httpx.Response(202)


def run(
    fake: FakeRegistry, use: Callable[[RegistryClient], Awaitable[T]], *, attempts: int = 1
) -> T:
    retry = RetryPolicy(attempts=attempts, wait_initial=0, wait_max=0, wait_jitter=0)
    return with_mock_client(fake, use, retry=retry)


def untag_old(
    fake: FakeRegistry, method: UntagMethod = UntagMethod.AUTO, *, attempts: int = 1
) -> tuple[str, str]:
    digest = fake.add("old", b'{"schemaVersion":2}')
    fake.tags["latest"] = digest

    async def use(client: RegistryClient) -> tuple[str, str]:
        untagger = Untagger(client, method)
        result = await untagger.untag("app", "old", Digest(digest))
        return (await untagger.method("app")).value, result.outcome.value

    return run(fake, use, attempts=attempts)


def test_a_registry_with_tag_delete_uses_it() -> None:
    fake = FakeRegistry("untag")
    assert untag_old(fake) == ("tag-delete", "deleted")
    assert fake.tags == {"latest": sha256_digest(b'{"schemaVersion":2}')}
    assert "DELETE /v2/app/manifests/old" in fake.log
    assert fake.blobs == set()  # the probe's config was cleaned up
    assert list(fake.manifests) == [sha256_digest(b'{"schemaVersion":2}')]


def test_a_tag_delete_that_takes_the_siblings_is_detected_and_avoided() -> None:
    fake = FakeRegistry("deletes-manifest")
    assert untag_old(fake) == ("throwaway", "deleted")
    assert fake.tags == {"latest": sha256_digest(b'{"schemaVersion":2}')}
    assert "DELETE /v2/app/manifests/old" not in fake.log
    assert fake.blobs == set()


def test_without_tag_delete_the_throwaway_is_used() -> None:
    fake = FakeRegistry("unsupported")
    assert untag_old(fake) == ("throwaway", "deleted")
    assert fake.tags == {"latest": sha256_digest(b'{"schemaVersion":2}')}


def test_without_push_rights_and_tag_delete_the_tag_is_skipped() -> None:
    fake = FakeRegistry("unsupported", push=False)
    assert untag_old(fake) == ("none", "skipped")
    assert set(fake.tags) == {"old", "latest"}


def test_without_push_rights_tag_delete_is_still_used() -> None:
    fake = FakeRegistry("untag", push=False)
    assert untag_old(fake) == ("tag-delete", "deleted")
    assert set(fake.tags) == {"latest"}


@pytest.mark.parametrize("method", [UntagMethod.THROWAWAY, UntagMethod.TAG_DELETE])
def test_a_forced_method_skips_detection(method: UntagMethod) -> None:
    fake = FakeRegistry("untag")
    assert untag_old(fake, method) == (method.value, "deleted")
    assert not any("regsweep-probe" in line for line in fake.log)
    assert set(fake.tags) == {"latest"}


def test_a_delete_that_leaves_the_tag_behind_is_redone() -> None:
    """Regression: the registry removed the throw-away but not the tag on it (a 500 half
    way, then 404 to the retry); the tag was reported deleted and left pointing at
    nothing, no longer pulling."""
    fake = FakeRegistry("unsupported")
    fake.half_deletes = 1
    assert untag_old(fake, UntagMethod.THROWAWAY, attempts=2) == ("throwaway", "deleted")
    assert fake.tags == {"latest": sha256_digest(b'{"schemaVersion":2}')}
    assert sum("PUT /v2/app/manifests/old" in line for line in fake.log) == 2


def test_a_tag_the_registry_keeps_leaving_behind_fails_the_untag() -> None:
    fake = FakeRegistry("unsupported")
    fake.half_deletes = 99
    with pytest.raises(RegistryAPIError, match="still listed, pointing at the deleted"):
        untag_old(fake, UntagMethod.THROWAWAY, attempts=2)


def test_throwaway_untags_of_one_repository_run_one_at_a_time() -> None:
    """While a throw-away is deleted, distribution reads every tag link of the repository:
    another throw-away PUT at that moment can make the delete fail half way."""
    fake = FakeRegistry("unsupported")
    digest = fake.add("latest", b'{"schemaVersion":2}')
    for tag in ("a", "b", "c"):
        fake.tags[tag] = digest

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.001)  # every untag gets its turn between two requests
        return fake(request)

    async def untag_all(client: RegistryClient) -> None:
        untagger = Untagger(client, UntagMethod.THROWAWAY)
        await asyncio.gather(*(untagger.untag("app", t, Digest(digest)) for t in "abc"))

    with_mock_client(slow, untag_all)
    writes = [line for line in fake.log if line.startswith(("PUT /v2", "DELETE /v2/app/manifests"))]
    assert [line.split()[0] for line in writes] == ["PUT", "DELETE"] * 3
    assert set(fake.tags) == {"latest"}
