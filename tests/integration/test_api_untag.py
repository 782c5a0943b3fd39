"""Untagging over the API on distribution 2.8 (no tag delete): siblings are spared."""

from __future__ import annotations

from pathlib import Path

import pytest

from regsweep.apply.outcome import Outcome
from regsweep.apply.untag import Untagged, Untagger, UntagMethod
from regsweep.core.model import Digest
from regsweep.sources.api.client import RegistryClient
from regsweep.sources.api.errors import TagDeleteUnsupportedError
from tests.support import storage
from tests.support.api_client import with_client
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls


def tag_names(root: Path, repo: str) -> set[str]:
    return {p.name for p in (storage.repository_path(root, repo) / "_manifests/tags").iterdir()}


def test_old_tag_sharing_latest_is_removed_and_latest_still_pulls(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    image = pusher.push_image("app", "old")
    pusher.tag("app", "latest", image)
    children = [
        pusher.push_image("multi", platform=p) for p in [("linux", "amd64"), ("linux", "arm64")]
    ]
    index = pusher.push_index("multi", "1.0", children)
    pusher.tag("multi", "stable", index)
    layer_links_before = set(
        (storage.repository_path(registry.root, "app") / "_layers/sha256").iterdir()
    )

    async def use(client: RegistryClient) -> tuple[UntagMethod, Untagged, Untagged]:
        untagger = Untagger(client)
        first = await untagger.untag("app", "old", Digest(image.digest))
        second = await untagger.untag("multi", "1.0", Digest(index.digest))
        return await untagger.method("app"), first, second

    method, first, second = with_client(registry.url, use)

    assert method is UntagMethod.THROWAWAY
    assert first.outcome is second.outcome is Outcome.DELETED
    assert "throw-away" in first.detail
    assert tag_names(registry.root, "app") == {"latest"}
    assert tag_names(registry.root, "multi") == {"stable"}
    assert storage.revision_exists(registry.root, "app", image.digest)
    assert_pulls(registry.host, "app", "latest", tmp_path)
    assert_pulls(registry.host, "multi", "stable", tmp_path)
    for child in children:
        assert storage.revision_exists(registry.root, "multi", child.digest)
    # The probe's and the throw-aways' config blobs were unlinked again.
    layer_links_after = {
        p
        for p in (storage.repository_path(registry.root, "app") / "_layers/sha256").iterdir()
        if (p / "link").exists()
    }
    assert layer_links_after == layer_links_before


def test_a_tag_repushed_since_planning_is_left_alone(
    registry: RegistryServer, pusher: Pusher
) -> None:
    planned = pusher.push_image("app", "v1")
    pusher.tag("app", "keep", planned)
    pusher.push_image("app", "v1")  # re-pushed: v1 now points elsewhere

    async def use(client: RegistryClient) -> Untagged:
        untagger = Untagger(client)
        return await untagger.untag("app", "v1", Digest(planned.digest))

    result = with_client(registry.url, use)
    assert result.outcome is Outcome.SKIPPED
    assert tag_names(registry.root, "app") == {"v1", "keep"}


def test_forcing_tag_delete_on_2_8_fails_without_changing_anything(
    registry: RegistryServer, pusher: Pusher
) -> None:
    image = pusher.push_image("app", "old")
    pusher.tag("app", "latest", image)

    async def use(client: RegistryClient) -> Untagged:
        untagger = Untagger(client, UntagMethod.TAG_DELETE)
        return await untagger.untag("app", "old", Digest(image.digest))

    with pytest.raises(TagDeleteUnsupportedError, match="400 DIGEST_INVALID"):
        with_client(registry.url, use)
    assert tag_names(registry.root, "app") == {"old", "latest"}
