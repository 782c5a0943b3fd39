"""RegistryClient against the real distribution 2.8 registry on loopback."""

from __future__ import annotations

import pytest

from regsweep.core.model import Digest
from regsweep.sources.api.client import RegistryClient
from regsweep.sources.api.errors import DeleteDisabledError, RegistryUnreachableError
from tests.conftest import RegistryFactory
from tests.support.api_client import with_client
from tests.support.images import Pusher
from tests.support.registry import RegistryServer, free_port


def test_ping_a_real_registry(registry: RegistryServer) -> None:
    with_client(registry.url, lambda c: c.ping())


def test_ping_nothing_listening_is_a_usage_error() -> None:
    with pytest.raises(RegistryUnreachableError, match="cannot connect"):
        with_client(f"http://127.0.0.1:{free_port()}", lambda c: c.ping())


def test_multi_arch_index_is_fetched_as_the_index_not_a_child(
    registry: RegistryServer, pusher: Pusher
) -> None:
    """With only the Docker v2 type in Accept, 2.8 would serve the amd64 child instead."""
    for oci in (True, False):
        children = [
            pusher.push_image("app", oci=oci, platform=p)
            for p in [("linux", "amd64"), ("linux", "arm64")]
        ]
        tag = "oci" if oci else "docker"
        index = pusher.push_index("app", tag, children, oci=oci)
        fetched = with_client(registry.url, lambda c, t=tag: c.get_manifest("app", t))
        assert fetched is not None
        assert (fetched.digest, fetched.media_type, fetched.raw) == (
            index.digest,
            index.media_type,
            index.raw,
        )
        head = with_client(registry.url, lambda c, t=tag: c.head_manifest("app", t))
        assert head == (index.digest, index.media_type, len(index.raw))


def test_delete_by_digest_then_again_is_already_gone(
    registry: RegistryServer, pusher: Pusher
) -> None:
    image = pusher.push_image("team/app", "v1")
    digest = Digest(image.digest)

    async def twice(client: RegistryClient) -> tuple[bool, bool, object]:
        first = await client.delete_manifest("team/app", digest)
        second = await client.delete_manifest("team/app", digest)
        return first, second, await client.head_manifest("team/app", "v1")

    assert with_client(registry.url, twice) == (True, False, None)


def test_delete_disabled_is_detected_before_and_at_delete(
    registry_factory: RegistryFactory,
) -> None:
    server = registry_factory({"storage": {"delete": {"enabled": False}}})
    with Pusher(server.url) as pusher:
        image = pusher.push_image("app", "v1")
    with pytest.raises(DeleteDisabledError, match="storage: delete: enabled: true"):
        with_client(server.url, lambda c: c.check_delete_enabled("app"))
    with pytest.raises(DeleteDisabledError, match="storage: delete: enabled: true"):
        with_client(server.url, lambda c: c.delete_manifest("app", Digest(image.digest)))
    assert with_client(server.url, lambda c: c.head_manifest("app", "v1")) is not None


def test_check_delete_enabled_passes_and_changes_nothing(
    registry: RegistryServer, pusher: Pusher
) -> None:
    image = pusher.push_image("app", "v1")
    with_client(registry.url, lambda c: c.check_delete_enabled("app"))
    head = with_client(registry.url, lambda c: c.head_manifest("app", "v1"))
    assert head is not None and head.digest == image.digest
