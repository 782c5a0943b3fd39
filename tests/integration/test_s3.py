"""Registries on S3: the real registry on its own S3 driver against moto on 127.0.0.1,
planned, cleaned and collected by regsweep straight from the bucket, proven with skopeo.

Object storage has no settable mtimes, so ages come from the order of the pushes: the
"old" images are pushed first, then, more than a second later (LastModified has whole
seconds), the "new" ones; ``--keep-last 1 --max-age 0s`` then keeps the newest tag of
each repository and the release tags, and deletes the rest.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from regsweep.collect.native import collect_native
from regsweep.core.model import Digest
from regsweep.sources.storage import layout
from regsweep.sources.storage.discovery import discover_storage
from regsweep.sources.storage.s3 import S3Location, S3Options, S3Store
from regsweep.sources.storage.s3_listing import S3Request, delete_floor
from regsweep.verify import verify_inventory
from tests.support.cli import clean_env, regsweep, regsweep_json
from tests.support.images import PushedManifest, Pusher, sha256_digest
from tests.support.moto import MotoServer, S3Registry, aws_env
from tests.support.skopeo import assert_pulls

POLICY = ["--max-age", "0s", "--keep-last", "1", "--untagged-grace", "0s"]
#: the plans delete more than half of the tags, which the safety brake stops by default
RUN = [*POLICY, "--force"]


@dataclass
class Pushed:
    kept_tags: set[tuple[str, str]] = field(default_factory=set)
    deleted_tags: set[tuple[str, str]] = field(default_factory=set)
    deleted_manifests: set[tuple[str, str]] = field(default_factory=set)
    #: blobs only deleted manifests use: gone after garbage collection
    doomed: set[str] = field(default_factory=set)


def push_scenario(pusher: Pusher) -> Pushed:
    """Releases, branches, feature builds, an alias, an untagged build and multi-arch
    indexes in three repositories (one nested), old ones first."""
    out = Pushed()
    base = [os.urandom(4096)]
    shared = {sha256_digest(base[0])}

    def image(repo: str, tag: str | None, **kw: Any) -> PushedManifest:
        return pusher.push_image(repo, tag, layers=[*base, os.urandom(512)], **kw)

    def doomed(*images: PushedManifest) -> None:
        for pushed in images:
            out.deleted_manifests.add((pushed.repo, pushed.digest))
            out.doomed.update({pushed.digest, *pushed.blobs} - shared)

    release = image("shop/web", "1.0.0")
    pusher.tag("shop/web", "pr-7", release)  # same digest as a kept tag: only untagged
    doomed(image("shop/web", "feature-a"), image("shop/web", "feature-b"), image("shop/web", None))
    children = [
        image("shop/api", None, oci=True),
        image("shop/api", None, oci=True, platform=("linux", "arm64", "v8")),
    ]
    pusher.push_index("shop/api", "2.0.0", children)
    pr_children = [image("shop/api", None), image("shop/api", None, platform=("linux", "arm64"))]
    doomed(pusher.push_index("shop/api", "pr-12", pr_children, oci=False), *pr_children)
    doomed(image("tools/ci/runner", "feature-old"))
    out.kept_tags |= {("shop/web", "1.0.0"), ("shop/api", "2.0.0")}
    out.deleted_tags |= {
        ("shop/web", "pr-7"),
        ("shop/web", "feature-a"),
        ("shop/web", "feature-b"),
        ("shop/api", "pr-12"),
        ("tools/ci/runner", "feature-old"),
    }
    time.sleep(1.2)  # LastModified has whole seconds: the new ones are strictly newer
    for repo, tag in (("shop/web", "feature-new"), ("shop/api", "feature-x")):
        image(repo, tag)
        out.kept_tags.add((repo, tag))
    image("tools/ci/runner", "main")
    out.kept_tags.add(("tools/ci/runner", "main"))
    # the blobs shared with a kept image are not doomed after all
    out.doomed -= {d for d in out.doomed if d in shared}
    return out


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """moto's keys, for the CLI run as a subprocess and for the stores made here."""
    for name, value in aws_env().items():
        monkeypatch.setenv(name, value)
    return clean_env(tmp_path, aws_env())


def s3_store(s3: S3Registry) -> S3Store:
    return S3Store(S3Location.parse(s3.storage), S3Options(endpoint=s3.moto.endpoint))


def blobs_left(s3: S3Registry) -> set[str]:
    prefix = f"{layout.BLOBS}/sha256/"
    return {
        f"sha256:{key.split('/')[-2]}"
        for key in s3.keys(prefix)
        if key.endswith("/data") and key.count("/") == prefix.count("/") + 2
    }


def tag_key(repo: str, tag: str) -> str:
    return layout.tag_current_link(repo, tag)


def assert_outcome(s3: S3Registry, pushed: Pushed, tmp_path: Path) -> None:
    """Every kept tag pulls through the registry; deleted tags, manifests and blobs are gone."""
    keys = s3.keys()
    for repo, tag in sorted(pushed.kept_tags):
        assert tag_key(repo, tag) in keys
        assert_pulls(s3.registry.host, repo, tag, tmp_path / "pulls")
    for repo, tag in pushed.deleted_tags:
        assert tag_key(repo, tag) not in keys, f"{repo}:{tag} still there"
    for repo, digest in pushed.deleted_manifests:
        assert layout.revision_link(repo, Digest(digest)) not in keys
    assert not pushed.doomed & blobs_left(s3)


def test_discovery_reads_the_bucket_as_the_registry_wrote_it(
    s3_registry: S3Registry, env: dict[str, str]
) -> None:
    with Pusher(s3_registry.registry.url) as client:
        pushed = push_scenario(client)

    inventory = discover_storage(s3_store(s3_registry))

    assert inventory.problems == ()
    tags = {(r.name, t) for r in inventory.repositories.values() for t in r.tags}
    assert tags == pushed.kept_tags | pushed.deleted_tags
    assert verify_inventory(inventory).ok
    new = inventory.repositories["shop/web"].tags["feature-new"].pushed_at
    old = inventory.repositories["shop/web"].tags["feature-a"].pushed_at
    assert new is not None and old is not None and new > old


def test_dry_run_leaves_every_object_untouched(
    s3_registry: S3Registry, env: dict[str, str], tmp_path: Path
) -> None:
    with Pusher(s3_registry.registry.url) as client:
        pushed = push_scenario(client)
    before = (s3_registry.objects(), s3_registry.moto.modified(s3_registry.bucket))
    args = [*s3_registry.regsweep_args(), "--registry-url", s3_registry.registry.url]

    plan = regsweep_json("plan", *args, *POLICY, env=env)
    run = regsweep_json("run", *args, *RUN, "--dry-run", "--gc", "none", env=env)
    gc = regsweep("gc", *s3_registry.regsweep_args(), "--offline", "--dry-run", env=env)

    assert gc.returncode == 0, gc.stderr
    assert (s3_registry.objects(), s3_registry.moto.modified(s3_registry.bucket)) == before
    planned = {(a["repository"], a["tag"]) for a in plan["actions"] if "tag" in a}
    assert planned == pushed.deleted_tags
    assert run["dry_run"] and "apply" not in run


def test_run_with_the_registry_gc_deletes_and_every_kept_tag_pulls(
    s3_registry: S3Registry, env: dict[str, str], tmp_path: Path
) -> None:
    with Pusher(s3_registry.registry.url) as client:
        pushed = push_scenario(client)
    registry = s3_registry.registry

    result = regsweep_json(
        "run",
        *s3_registry.regsweep_args(),
        "--registry-url",
        registry.url,
        *RUN,
        "--gc-command",
        "docker-registry garbage-collect {config}",
        "--docker-registry-config",
        str(registry.config_path),
        "--no-restart",
        env={**env, "AWS_CA_BUNDLE": ""},
    )
    registry.restart()  # what --restart-command does in production

    assert result["apply"]["tags_deleted"] == len(pushed.deleted_tags)
    assert result["apply"]["manifests_deleted"] == len(pushed.deleted_manifests)
    assert result["verify"]["problems"] == []
    assert result["storage_bytes_before"] > result["storage_bytes_after"]
    assert_outcome(s3_registry, pushed, tmp_path)


@pytest.mark.parametrize("through", ["api", "storage"])
def test_run_then_native_gc_offline_deletes_and_every_kept_tag_pulls(
    s3_registry: S3Registry, env: dict[str, str], tmp_path: Path, through: str
) -> None:
    """Manifest deletes through the registry's API, or (no URL) in the bucket itself."""
    with Pusher(s3_registry.registry.url) as client:
        pushed = push_scenario(client)
    registry = s3_registry.registry
    args = s3_registry.regsweep_args()
    url = ["--registry-url", registry.url] if through == "api" else []

    result = regsweep_json("run", *args, *url, *RUN, "--gc", "none", env=env)
    gc = regsweep_json("gc", *args, "--offline", "--no-restart", env=env)
    registry.restart()

    assert result["apply"]["manifests_deleted"] == len(pushed.deleted_manifests)
    assert result["verify"]["problems"] == []
    assert {entry["digest"] for entry in gc["swept"]} == pushed.doomed
    assert_outcome(s3_registry, pushed, tmp_path)
    assert not s3_registry.keys("regsweep/"), "the lock was left behind"


def test_native_gc_live_quarantines_by_copy_and_restores(
    s3_registry: S3Registry, env: dict[str, str], tmp_path: Path
) -> None:
    with Pusher(s3_registry.registry.url) as client:
        pushed = push_scenario(client)
    registry = s3_registry.registry
    args = s3_registry.regsweep_args()
    regsweep_json("run", *args, "--registry-url", registry.url, *RUN, "--gc", "none", env=env)

    live = regsweep_json("gc", *args, "--grace", "0s", "--no-restart", env=env)

    assert {entry["digest"] for entry in live["swept"]} == pushed.doomed
    quarantined = {k.split("/")[-2] for k in s3_registry.keys("regsweep/quarantine/")}
    assert quarantined == {d.removeprefix("sha256:") for d in pushed.doomed}
    assert not pushed.doomed & blobs_left(s3_registry)
    registry.restart()
    assert_outcome(s3_registry, pushed, tmp_path)

    restored = regsweep_json("gc", *args, "--restore", env=env)

    assert restored["restored"]["count"] == len(pushed.doomed)
    assert pushed.doomed <= blobs_left(s3_registry)
    assert not s3_registry.keys("regsweep/")


def test_verify_reads_the_bucket_and_finds_a_missing_layer(
    s3_registry: S3Registry, env: dict[str, str]
) -> None:
    with Pusher(s3_registry.registry.url) as client:
        image = client.push_image("app", "v1")
    args = s3_registry.regsweep_args()

    assert regsweep("verify", *args, env=env).returncode == 0
    layer = image.layers[0].digest
    s3_registry.moto.store(s3_registry.bucket).delete(layout.blob_data(Digest(layer)))

    broken = regsweep("verify", *args, env=env)

    assert broken.returncode == 1
    assert layer in broken.stdout + broken.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--storage", "s3://no-such-bucket/registry"], "NoSuchBucket"),
        (["--storage", "gs://bucket/registry"], "only s3:// URLs and local folders"),
        (["--storage", "s3://bucket/registry", "--registry-dir", "/tmp"], "give only one"),
    ],
)
def test_bad_storage_is_one_line_and_exit_2(
    moto_server: MotoServer, env: dict[str, str], args: list[str], message: str
) -> None:
    done = regsweep("plan", *args, "--s3-endpoint", moto_server.endpoint, env=env)

    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_listings_at_once_find_and_sweep_what_one_listing_at_a_time_does(
    s3_registry: S3Registry, env: dict[str, str], tmp_path: Path
) -> None:
    """Discovery and the collector list the bucket in ranges at once by default; one flat
    listing at a time is the reference: the same inventory, the same swept blobs and bytes.
    Then the real collection (the CLI, ranges at once) leaves every kept tag pulling."""
    with Pusher(s3_registry.registry.url) as client:
        pushed = push_scenario(client)
        for repo in ("alpha/one", "beta", "zeta/two/three"):
            client.push_image(repo, "keep", layers=[os.urandom(256)])
            pushed.kept_tags.add((repo, "keep"))
    args = s3_registry.regsweep_args()
    regsweep_json("run", *args, *RUN, "--gc", "none", env=env)
    store = s3_store(s3_registry)
    now = datetime.now(UTC)

    one_at_a_time = discover_storage(store, listings=1)
    at_once = discover_storage(store)
    sequential = collect_native(store, offline=True, dry_run=True, now=now, listings=1)
    concurrent = collect_native(store, offline=True, dry_run=True, now=now)

    assert at_once == one_at_a_time
    assert sequential.swept == concurrent.swept
    assert {digest for digest, _ in concurrent.swept} == pushed.doomed
    assert concurrent.to_json() | {"seconds": None, "requests": None} == (
        sequential.to_json() | {"seconds": None, "requests": None}
    )
    assert sequential.requests is not None and concurrent.requests is not None
    assert concurrent.requests.by_kind[S3Request.GET] == concurrent.manifests
    gc = regsweep_json("gc", *args, "--offline", "--no-restart", env=env)
    s3_registry.registry.restart()
    assert {entry["digest"] for entry in gc["swept"]} == pushed.doomed
    # DeleteObjects: the blobs, then their layer links, 1,000 keys a request; the lock
    removed = delete_floor(len(gc["swept"])) + delete_floor(gc["layer_links_removed"])
    assert gc["requests"]["delete"] == removed + 1
    assert_outcome(s3_registry, pushed, tmp_path)
