"""API discovery against the real registry: same inventory as storage, ages from build time."""

from __future__ import annotations

from datetime import UTC, datetime

from regsweep.core.model import Digest
from regsweep.sources.api.client import RegistryClient
from regsweep.sources.api.discovery import Check, discover_api
from regsweep.sources.storage.discovery import discover_storage
from regsweep.sources.storage.local import LocalStore
from regsweep.verify import VerifyReport, verify_inventory
from tests.support import storage
from tests.support.api_client import with_client
from tests.support.images import Pusher
from tests.support.registry import RegistryServer

BUILT = "2021-05-06T07:08:09.123456789Z"
BUILT_AT = datetime(2021, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def test_inventory_matches_storage_and_ages_come_from_build_time(
    registry: RegistryServer, pusher: Pusher
) -> None:
    plain = pusher.push_image("app", "v1", created=BUILT)
    pusher.tag("app", "latest", plain)
    epoch = pusher.push_image("app", "reproducible", created="1970-01-01T00:00:00Z")
    missing = pusher.push_image("app", "nodate", created=None)
    annotated = pusher.push_image(
        "team/oci",
        "annotated",
        oci=True,
        created="1970-01-01T00:00:00Z",
        annotations={"org.opencontainers.image.created": "2022-02-02T02:02:02Z"},
    )
    old = pusher.push_image("team/multi", None, created="2020-01-01T00:00:00Z")
    new = pusher.push_image(
        "team/multi", None, created="2023-03-03T03:03:03Z", platform=("linux", "arm64")
    )
    index = pusher.push_index("team/multi", "1.0", [old, new])
    pusher.push_image("emptied", "gone")
    pusher.delete_manifest("emptied", pusher.get_manifest("emptied", "gone")[0])

    inventory = with_client(registry.url, discover_api)

    on_disk = discover_storage(LocalStore(registry.root))
    assert set(inventory.repositories) == set(on_disk.repositories)
    for name, repository in on_disk.repositories.items():
        api_repo = inventory.repositories[name]
        assert {t: x.digest for t, x in api_repo.tags.items()} == {
            t: x.digest for t, x in repository.tags.items()
        }
        assert set(api_repo.revisions) <= set(repository.revisions)
        assert set(api_repo.layers) <= set(repository.layers)
    for digest, manifest in inventory.manifests.items():
        assert manifest == on_disk.manifests[digest]

    tags = inventory.repositories["app"].tags
    assert tags["v1"].pushed_at == BUILT_AT == tags["latest"].pushed_at
    assert tags["v1"].digest == plain.digest
    assert tags["reproducible"].pushed_at is None and tags["reproducible"].digest == epoch.digest
    assert tags["nodate"].pushed_at is None and tags["nodate"].digest == missing.digest
    oci = inventory.repositories["team/oci"].tags["annotated"]
    assert (oci.digest, oci.pushed_at) == (
        annotated.digest,
        datetime(2022, 2, 2, 2, 2, 2, tzinfo=UTC),
    )
    multi = inventory.repositories["team/multi"]
    assert multi.tags["1.0"].pushed_at == datetime(2023, 3, 3, 3, 3, 3, tzinfo=UTC)
    assert set(multi.revisions) == {Digest(index.digest), Digest(old.digest), Digest(new.digest)}
    assert inventory.repositories["emptied"].tags == {}
    assert "build time" in inventory.age_source and "2 tag(s)" in inventory.age_source
    assert inventory.problems == ()
    for blob in plain.blobs:
        assert inventory.blob_sizes[Digest(blob)] == on_disk.blob_sizes[Digest(blob)]


def test_mounted_only_repository_has_no_tags(registry: RegistryServer, pusher: Pusher) -> None:
    """Listed in the catalog, but tags/list answers 404 NAME_UNKNOWN."""
    image = pusher.push_image("source", "v1")
    assert image.config is not None
    pusher.mount("mounted", image.config.digest, "source")
    inventory = with_client(registry.url, discover_api)
    assert inventory.repositories["mounted"].tags == {}


def test_verify_over_the_api_finds_a_missing_layer(
    registry: RegistryServer, pusher: Pusher
) -> None:
    healthy = pusher.push_image("app", "ok")
    broken = pusher.push_image("app", "broken")
    children = [
        pusher.push_image("multi", platform=p) for p in [("linux", "amd64"), ("linux", "arm64")]
    ]
    pusher.push_index("multi", "1.0", children)

    async def check(client: RegistryClient) -> VerifyReport:
        return verify_inventory(await discover_api(client, check=Check.BLOBS))

    assert with_client(registry.url, check).ok
    storage.blob_path(registry.root, broken.layers[0].digest).unlink()
    registry.restart()  # forget the blob descriptor cache
    pusher.delete_manifest("multi", children[1].digest)
    report = with_client(registry.url, check)
    assert {(p.repository, p.tag) for p in report.problems} == {("app", "broken"), ("multi", "1.0")}
    assert any(broken.layers[0].digest in p.message for p in report.problems)
    assert healthy.digest not in str(report.to_json())
    assert report.tags_checked == 3
