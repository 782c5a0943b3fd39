"""Self-tests of the harness against the real registry and skopeo: later tests trust it."""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import RegistryFactory
from tests.support import storage
from tests.support.images import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Pusher,
    RegistryHTTPError,
)
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls, pulls

LONG_AGO = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)


def _link(path: Path) -> str:
    return path.read_text()


def test_server_lifecycle(tmp_path: Path) -> None:
    server = RegistryServer.create(tmp_path / "reg")
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.host == f"127.0.0.1:{server.port}"
    assert server.root == tmp_path / "reg" / "storage"
    with server:
        pid = server.pid
        assert pid is not None and server.running
        server.restart()
        assert server.pid not in (None, pid)
    assert not server.running and server.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_refuses_non_loopback_address(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        RegistryServer.create(tmp_path, extra_config={"http": {"addr": "0.0.0.0:5000"}})


def test_start_failure_reports_log_tail(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        addr = f"127.0.0.1:{port}"
        server = RegistryServer.create(tmp_path, extra_config={"http": {"addr": addr}})
        with pytest.raises(RuntimeError, match="address already in use"):
            server.start()
    assert not server.running


def test_extra_config_is_deep_merged(registry_factory: RegistryFactory) -> None:
    server = registry_factory({"storage": {"delete": {"enabled": False}}})
    assert server.config["storage"]["filesystem"]["rootdirectory"] == str(server.root)
    with Pusher(server.url) as client:
        image = client.push_image("app", "v1")
        with pytest.raises(RegistryHTTPError) as refused:
            client.delete_manifest("app", image.digest)
    assert refused.value.status == 405


@pytest.mark.parametrize(("oci", "media_type"), [(False, DOCKER_MANIFEST), (True, OCI_MANIFEST)])
def test_image_pushes_and_pulls(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path, oci: bool, media_type: str
) -> None:
    image = pusher.push_image("team/app", "v1", oci=oci, n_layers=3)
    assert image.media_type == media_type and len(image.layers) == 3
    assert pusher.get_manifest("team/app", "v1") == (image.digest, media_type, image.raw)
    assert image.config is not None
    config = json.loads(storage.blob_path(registry.root, image.config.digest).read_bytes())
    assert {"os", "architecture", "created", "rootfs"} <= config.keys()
    pulled = assert_pulls(registry.host, "team/app", "v1", tmp_path)
    assert (pulled / "manifest.json").read_bytes() == image.raw
    for digest in image.blobs:
        assert (pulled / digest.removeprefix("sha256:")).is_file()
    assert storage.blob_digests(registry.root) == image.blobs | {image.digest}
    assert not pulls(registry.host, "team/app", "missing", tmp_path)


@pytest.mark.parametrize(("oci", "media_type"), [(True, OCI_INDEX), (False, DOCKER_LIST)])
def test_multi_platform_index_pulls_every_platform(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path, oci: bool, media_type: str
) -> None:
    children = [
        pusher.push_image("multi", oci=oci, platform=("linux", "amd64")),
        pusher.push_image("multi", oci=oci, platform=("linux", "arm64", "v8")),
    ]
    index = pusher.push_index("multi", "latest", children, oci=oci)
    assert index.media_type == media_type
    assert pusher.get_manifest("multi", "latest") == (index.digest, media_type, index.raw)
    entries = json.loads(index.raw)["manifests"]
    assert [entry["platform"]["architecture"] for entry in entries] == ["amd64", "arm64"]
    assert entries[1]["platform"]["variant"] == "v8"

    pulled = assert_pulls(registry.host, "multi", "latest", tmp_path)
    for child in children:
        assert (pulled / f"{child.digest.removeprefix('sha256:')}.manifest.json").is_file()
    for digest in index.blobs - {child.digest for child in children}:
        assert (pulled / digest.removeprefix("sha256:")).is_file()

    root = registry.root
    tags = storage.repository_path(root, "multi") / "_manifests" / "tags"
    assert [path.name for path in tags.iterdir()] == ["latest"]
    assert _link(storage.tag_path(root, "multi", "latest") / "current" / "link") == index.digest
    for child in children:
        assert storage.revision_exists(root, "multi", child.digest)
        assert child.blobs <= index.blobs and child.digest in index.blobs


def test_two_tags_on_one_digest(registry: RegistryServer, pusher: Pusher, tmp_path: Path) -> None:
    image = pusher.push_image("app", "v1")
    pusher.tag("app", "latest", image)
    for tag in ("v1", "latest"):
        link = storage.tag_path(registry.root, "app", tag) / "current" / "link"
        assert _link(link) == image.digest
        assert pusher.get_manifest("app", tag)[0] == image.digest
    assert_pulls(registry.host, "app", image.digest, tmp_path)
    pusher.delete_manifest("app", image.digest)  # removes both tags (registry.md section 2)
    assert not storage.tag_exists(registry.root, "app", "v1")
    assert not storage.tag_exists(registry.root, "app", "latest")
    assert not storage.revision_exists(registry.root, "app", image.digest)
    with pytest.raises(RegistryHTTPError) as missing:
        pusher.get_manifest("app", "v1")
    assert missing.value.status == 404


def test_blob_shared_across_repositories_by_mount(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    shared_bytes = os.urandom(2048)
    base = pusher.push_image("base", "v1", layers=[shared_bytes, os.urandom(2048)])
    shared = base.layers[0]
    pusher.mount("team/other", shared.digest, "base")
    layer_link = (
        storage.repository_path(registry.root, "team/other")
        / "_layers"
        / "sha256"
        / shared.digest.removeprefix("sha256:")
        / "link"
    )
    assert _link(layer_link) == shared.digest
    blobs_before = storage.blob_digests(registry.root)
    derived = pusher.push_image("team/other", "v1", layers=[shared_bytes])
    assert derived.layers[0].digest == shared.digest and derived.config is not None
    assert storage.blob_digests(registry.root) == blobs_before | {
        derived.digest,
        derived.config.digest,
    }
    assert_pulls(registry.host, "team/other", "v1", tmp_path)
    assert_pulls(registry.host, "base", "v1", tmp_path)


def test_storage_time_setters(registry: RegistryServer, pusher: Pusher) -> None:
    image = pusher.push_image("app", "v1")
    root = registry.root
    link = storage.tag_path(root, "app", "v1") / "current" / "link"
    folder_mtime = storage.tag_path(root, "app", "v1").stat().st_mtime_ns

    storage.set_push_time(root, "app", "v1", LONG_AGO)
    assert link.stat().st_mtime == LONG_AGO.timestamp()
    assert storage.tag_path(root, "app", "v1").stat().st_mtime_ns == folder_mtime

    storage.set_first_push_time(root, "app", "v1", 1_000_000_000.5)
    assert storage.tag_path(root, "app", "v1").stat().st_mtime == 1_000_000_000.5

    storage.set_manifest_time(root, "app", image.digest, LONG_AGO)
    assert storage.revision_link_path(root, "app", image.digest).stat().st_mtime == (
        LONG_AGO.timestamp()
    )

    pusher.tag("app", "v1", image)  # a re-push of the same digest rewrites current/link
    assert link.stat().st_mtime > time.time() - 60

    with pytest.raises(FileNotFoundError):
        storage.set_push_time(root, "app", "nope", LONG_AGO)
    with pytest.raises(ValueError):
        storage.blob_path(root, "sha256:../../etc")


def test_tree_fingerprint_detects_every_change(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    image = pusher.push_image("app", "v1")
    root = registry.root
    before = storage.tree_fingerprint(root)
    assert before["."][0] == "dir"
    blob_key = storage.blob_path(root, image.digest).relative_to(root).as_posix()
    assert before[blob_key][0] == "file" and before[blob_key][1] == image.size

    assert_pulls(registry.host, "app", "v1", tmp_path)  # reads must not write
    assert storage.tree_fingerprint(root) == before

    link = storage.tag_path(root, "app", "v1") / "current" / "link"
    storage.set_push_time(root, "app", "v1", LONG_AGO)
    touched = storage.tree_fingerprint(root)
    changed = {key for key in before if touched.get(key) != before[key]}
    assert changed == {link.relative_to(root).as_posix()}

    stamp = link.stat()
    link.write_text("sha256:" + "0" * 64)
    os.utime(link, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert storage.tree_fingerprint(root) != touched  # same size and mtime, other bytes

    (root / "alias").symlink_to("docker")
    after = storage.tree_fingerprint(root)
    assert after["alias"][0] == "symlink" and after["alias"][2] == "docker"
    assert after["."] != before["."]


def test_garbage_collect_reclaims_deleted_image(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    kept = pusher.push_image("app", "keep")
    dropped = pusher.push_image("app", "drop")
    untagged = pusher.push_image("app")
    root = registry.root
    kept_digests = kept.blobs | {kept.digest}
    untagged_digests = untagged.blobs | {untagged.digest}
    assert storage.blob_digests(root) == (
        kept_digests | untagged_digests | dropped.blobs | {dropped.digest}
    )

    pusher.delete_manifest("app", dropped.digest)
    before = storage.tree_fingerprint(root)
    registry.garbage_collect(dry_run=True)
    assert storage.tree_fingerprint(root) == before

    registry.garbage_collect()
    assert storage.blob_digests(root) == kept_digests | untagged_digests
    registry.garbage_collect(delete_untagged=True)
    assert storage.blob_digests(root) == kept_digests
    registry.restart()  # forget swept blobs cached in memory
    assert_pulls(registry.host, "app", "keep", tmp_path)
