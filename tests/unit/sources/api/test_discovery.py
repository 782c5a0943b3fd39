"""API discovery finds artifacts: the referrers API where the registry has it, and subjects.

distribution 2.8 (the real registry of the integration tests) has no referrers API, so the
registries that do are played here by a fake that serves exactly the OCI spec's answers.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from regsweep.core import mediatypes
from regsweep.core.errors import RegistryAPIError
from regsweep.core.model import Digest, Inventory
from regsweep.sources.api.discovery import discover_api
from tests.support.api_client import with_mock_client


def manifest(name: str, subject: bytes | None = None) -> bytes:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {"mediaType": mediatypes.OCI_EMPTY, "digest": sha(b"{}"), "size": 2},
        "layers": [{"mediaType": "payload", "digest": sha(name.encode()), "size": 10}],
    }
    if subject is not None:
        doc["subject"] = {"mediaType": mediatypes.OCI_MANIFEST, "digest": sha(subject), "size": 1}
    return json.dumps(doc).encode()


def sha(raw: bytes) -> Digest:
    return Digest("sha256:" + hashlib.sha256(raw).hexdigest())


IMAGE = manifest("image")
SBOM = manifest("sbom", subject=IMAGE)
SBOM_SIGNATURE = manifest("signature of the sbom", subject=SBOM)
OTHER = manifest("other image")


class FakeRegistry:
    """Repositories ``app`` (tag v1 -> IMAGE, untagged SBOM and its signature) and ``lib``."""

    def __init__(self, referrers_api: bool, pages: int = 1) -> None:
        self.referrers_api = referrers_api
        self.pages = pages
        self.referrer_requests: list[str] = []
        self.blobs = {sha(raw): raw for raw in (IMAGE, SBOM, SBOM_SIGNATURE, OTHER)}
        self.tags = {"app": {"v1": IMAGE}, "lib": {"v1": OTHER}}
        self.contents = {"app": {IMAGE, SBOM, SBOM_SIGNATURE}, "lib": {OTHER}}
        self.referrers = {sha(IMAGE): [SBOM], sha(SBOM): [SBOM_SIGNATURE]}
        self.body: dict[str, Any] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v2/_catalog":
            return httpx.Response(200, json={"repositories": sorted(self.tags)})
        name, _, rest = path.removeprefix("/v2/").partition("/")
        if rest == "tags/list":
            return httpx.Response(200, json={"name": name, "tags": sorted(self.tags[name])})
        kind, _, reference = rest.partition("/")
        if kind == "manifests":
            raw = self.tags[name].get(reference) or self.blobs.get(Digest(reference))
            if raw not in self.contents[name]:
                return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})
            return httpx.Response(
                200, content=raw, headers={"Content-Type": mediatypes.OCI_MANIFEST}
            )
        if kind == "referrers":
            self.referrer_requests.append(str(request.url))
            if not self.referrers_api:
                return httpx.Response(404, text="404 page not found")
            return self.referrers_page(name, Digest(reference), request)
        return httpx.Response(404)

    def referrers_page(self, name: str, digest: Digest, request: httpx.Request) -> httpx.Response:
        if self.body is not None:
            return httpx.Response(200, json=self.body)
        found = self.referrers.get(digest, []) if name == "app" else []
        page = int(request.url.params.get("page", "0"))
        descriptors = [
            {"mediaType": mediatypes.OCI_MANIFEST, "digest": sha(raw), "size": len(raw)}
            for i, raw in enumerate(found)
            if i % self.pages == page
        ]
        headers = {}
        if page + 1 < self.pages:
            headers["Link"] = f'</v2/{name}/referrers/{digest}?page={page + 1}>; rel="next"'
        body = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": descriptors}
        return httpx.Response(200, json=body, headers=headers)


def discover(registry: FakeRegistry) -> Inventory:
    return with_mock_client(registry, discover_api)


@pytest.mark.parametrize("pages", [1, 2])
def test_untagged_referrers_and_their_referrers_are_found_through_the_referrers_api(
    pages: int,
) -> None:
    registry = FakeRegistry(referrers_api=True, pages=pages)
    inventory = discover(registry)
    assert set(inventory.repositories["app"].revisions) == {
        sha(IMAGE),
        sha(SBOM),
        sha(SBOM_SIGNATURE),
    }
    assert inventory.manifests[sha(SBOM_SIGNATURE)].subject == sha(SBOM)
    assert set(inventory.repositories["lib"].revisions) == {sha(OTHER)}


def test_a_registry_without_the_referrers_api_is_asked_once() -> None:
    registry = FakeRegistry(referrers_api=False)
    inventory = discover(registry)
    assert set(inventory.repositories["app"].revisions) == {sha(IMAGE)}
    assert len(registry.referrer_requests) == 1


def test_a_referrers_answer_that_is_not_an_index_is_an_error() -> None:
    registry = FakeRegistry(referrers_api=True)
    registry.body = {"manifests": [{"digest": "sha256:nope"}]}
    with pytest.raises(RegistryAPIError, match="not an image index of referrers"):
        discover(registry)


def test_a_subject_is_looked_up_in_its_own_repository_not_taken_from_another() -> None:
    """``lib`` holds a signature whose subject exists only in ``app``: there it is an orphan."""
    registry = FakeRegistry(referrers_api=False)
    registry.tags["lib"]["sig"] = SBOM
    registry.contents["lib"].add(SBOM)
    inventory = discover(registry)
    assert set(inventory.repositories["lib"].revisions) == {sha(OTHER), sha(SBOM)}
