"""Policy files, explain, plan files, the safety brake and du, end to end on the real registry."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import clean_env, local_gc, regsweep, regsweep_json
from tests.support.images import OCI_INDEX, PushedManifest, Pusher, canonical_json
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls, copy_within
from tests.support.storage import (
    blob_digests,
    blob_path,
    revision_exists,
    set_manifest_time,
    set_push_time,
    tag_exists,
    tree_fingerprint,
)

DAY = 86400.0

POLICIES_YAML = r"""
policies:
  - name: releases-and-branches
    repositories:
      include: "shop/.*"
    keep:
      tags: '^v?\d+\.\d+\.\d+$'
      pushed_within: 14d
  - name: nightly
    repositories:
      include: "nightly/.*"
    keep:
      last: 2
"""

POLICIES_TOML = r"""
[[policies]]
name = "releases-and-branches"
repositories = { include = "shop/.*" }
keep = { tags = '^v?\d+\.\d+\.\d+$', pushed_within = "14d" }

[[policies]]
name = "nightly"
repositories = { include = "nightly/.*" }
keep = { last = 2 }
"""


def push(pusher: Pusher, root: Path, repo: str, tag: str | None, days: float) -> PushedManifest:
    """Push an image and make it (and its tag) look ``days`` old."""
    image = pusher.push_image(repo, tag)
    age(root, image, days)
    return image


def age(root: Path, manifest: PushedManifest, days: float) -> None:
    when = time.time() - days * DAY
    set_manifest_time(root, manifest.repo, manifest.digest, when)
    if manifest.tag is not None:
        set_push_time(root, manifest.repo, manifest.tag, when)


def untags(result: dict[str, Any]) -> set[tuple[str, str]]:
    return {(a["repository"], a["tag"]) for a in result["actions"] if a["action"] == "untag"}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_two_policies_clean_two_repositories_at_once_and_leave_the_third_alone(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    root = registry.root
    images = {
        ("shop/web", "1.0.0"): push(pusher, root, "shop/web", "1.0.0", 200),
        ("shop/web", "feature-a"): push(pusher, root, "shop/web", "feature-a", 20),
        ("shop/web", "feature-b"): push(pusher, root, "shop/web", "feature-b", 3),
        **{
            ("nightly/app", f"n{i}"): push(pusher, root, "nightly/app", f"n{i}", 6 - i)
            for i in range(1, 5)
        },
        ("archive/old", "build-1"): push(pusher, root, "archive/old", "build-1", 900),
    }
    doomed = {("shop/web", "feature-a"), ("nightly/app", "n1"), ("nightly/app", "n2")}
    env = clean_env(tmp_path)
    base = ["--registry-dir", str(root)]

    toml_plan = regsweep_json(
        "plan", *base, "--policy", str(write(tmp_path / "p.toml", POLICIES_TOML)), env=env
    )
    assert untags(toml_plan) == doomed

    result = regsweep_json(
        "run",
        *base,
        "--policy",
        str(write(tmp_path / "p.yaml", POLICIES_YAML)),
        "--journal",
        str(tmp_path / "journal.jsonl"),
        *local_gc(registry),
        env=env,
    )

    assert result["apply"]["tags_deleted"] == 3
    assert result["apply"]["manifests_deleted"] == 3
    assert result["verify"]["problems"] == []
    on_disk = blob_digests(root)
    for (repo, tag), image in images.items():
        if (repo, tag) in doomed:
            assert not tag_exists(root, repo, tag)
            assert not revision_exists(root, repo, image.digest)
            assert not ({image.digest, *image.blobs} & on_disk), f"{repo}:{tag} blobs remain"
        else:
            assert_pulls(registry.host, repo, tag, tmp_path / "pulls")


def test_explain_says_which_policy_and_rules_decided_and_agrees_with_the_plan(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    root = registry.root
    amd = push(pusher, root, "app", None, 90)
    arm = pusher.push_image("app", platform=("linux", "arm64", "v8"))
    age(root, arm, 90)
    release = pusher.push_index("app", "1.0.0", [amd, arm])
    age(root, release, 90)
    latest = push(pusher, root, "app", "latest", 40)
    pusher.tag("app", "old-alias", latest)
    set_push_time(root, "app", "old-alias", time.time() - 40 * DAY)
    feature = push(pusher, root, "app", "feature-x", 40)
    push(pusher, root, "app", "feature-y", 2)
    env = clean_env(tmp_path)
    base = ["--registry-dir", str(root)]

    def explain(reference: str, *extra: str) -> Any:
        return regsweep_json("explain", reference, *base, *extra, env=env)

    deleted = explain("app:feature-x")
    assert deleted["policy"] == "default"
    (tag,) = deleted["tags"]
    assert tag["decision"] == "delete"
    assert tag["pushed_ago"] == "40d"
    rules = {r["rule"]: r["keeps"] for r in tag["rules"]}
    assert rules["pushed within 30d"] is False
    assert (deleted["manifests"][0]["digest"], deleted["manifests"][0]["decision"]) == (
        feature.digest,
        "delete",
    )
    assert deleted["manifests"][0]["reason"] == "tagged only by expired tags: feature-x"

    alias = explain("app:old-alias")
    assert alias["tags"][0]["decision"] == "delete"
    assert alias["manifests"][0]["decision"] == "keep"
    assert alias["manifests"][0]["reason"] == "tagged by kept tag latest"

    platform = explain(f"app@{arm.digest}")
    assert platform["manifests"][0]["decision"] == "keep"
    assert platform["manifests"][0]["reason"] == (
        f"linux/arm64/v8 of index {release.digest}, which is kept: tagged by kept tag 1.0.0"
    )
    assert explain("app:1.0.0")["tags"][0]["rules"][0]["keeps"] is True

    whole = explain("app")
    plan = regsweep_json("plan", *base, env=env)
    assert {("app", t["tag"]) for t in whole["tags"] if t["decision"] == "delete"} == untags(plan)
    assert {m["digest"] for m in whole["manifests"] if m["decision"] == "delete"} == {
        a["digest"] for a in plan["actions"] if a["action"] == "delete_manifest"
    }

    policy = write(tmp_path / "p.yaml", POLICIES_YAML)
    alone = explain("app:feature-x", "--policy", str(policy))
    assert alone["policy"] is None
    assert alone["decision"].startswith("left alone")

    text = regsweep("explain", "app:feature-x", *base, env=env)
    assert text.returncode == 0
    assert "no  pushed within 30d" in text.stdout
    assert "decision: DELETE the tag" in text.stdout
    missing = regsweep("explain", "app:nope", *base, env=env)
    assert missing.returncode == 2
    assert "no tag 'nope' in repository 'app'" in missing.stderr


def test_a_plan_file_applied_later_skips_what_changed_since_and_applies_the_rest(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    root = registry.root
    repushed = push(pusher, root, "app", "stale-1", 40)
    gone = push(pusher, root, "app", "stale-2", 40)
    reused = push(pusher, root, "app", None, 40)  # untagged, old: planned for deletion
    for name in ("fresh-1", "fresh-2", "fresh-3"):
        push(pusher, root, "app", name, 1)
    env = clean_env(tmp_path)
    base = ["--registry-dir", str(root)]
    plan_path = tmp_path / "plan.json"
    plan = regsweep_json("plan", *base, "--out", str(plan_path), env=env)
    assert untags(plan) == {("app", "stale-1"), ("app", "stale-2")}
    planned_deletes = {a["digest"] for a in plan["actions"] if a["action"] == "delete_manifest"}
    assert planned_deletes == {repushed.digest, gone.digest, reused.digest}
    saved = json.loads(plan_path.read_text())
    assert saved["registry"]["storage"] == str(root.resolve())
    assert [a["tag"] for a in saved["actions"] if a["action"] == "untag"] == ["stale-1", "stale-2"]

    # after the review, before the apply: a tag is re-pushed and a new index takes the
    # untagged manifest as one of its platforms
    pusher.tag("app", "stale-1", repushed)
    index = pusher.push_index("app", "multi", [reused])

    done = regsweep(
        "apply",
        str(plan_path),
        *base,
        "--journal",
        str(tmp_path / "journal.jsonl"),
        *local_gc(registry),
        "--output",
        "json",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "the registry changed since the plan was made" in done.stderr
    result = json.loads(done.stdout)
    assert result["apply"]["tags_deleted"] == 1
    assert result["apply"]["manifests_deleted"] == 1
    skipped = {
        (r["action"], r.get("tag") or r["digest"]): r["detail"]
        for r in result["apply"]["results"]
        if r["outcome"] == "skipped"
    }
    assert set(skipped) == {
        ("untag", "stale-1"),
        ("delete_manifest", repushed.digest),
        ("delete_manifest", reused.digest),
    }
    assert "references it" in skipped[("delete_manifest", reused.digest)]
    assert not tag_exists(root, "app", "stale-2")
    assert not revision_exists(root, "app", gone.digest)
    assert_pulls(registry.host, "app", "stale-1", tmp_path / "pulls")
    assert_pulls(registry.host, "app", "multi", tmp_path / "pulls")
    assert revision_exists(root, "app", index.digest)


@pytest.mark.parametrize("mode", ["storage", "api"])
def test_the_platforms_of_an_index_kept_at_apply_time_are_not_deleted(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path, mode: str
) -> None:
    """An expired index goes before its platforms; when its delete is skipped (something
    references it since planning), its platforms must be skipped too, whatever made the
    planned index look untouched: on storage an index nesting it, pushed since; over the
    API the index tagged again (``skopeo copy``)."""
    root = registry.root
    old = built_days_ago(60)
    amd = pusher.push_image("app", oci=True, created=old)
    arm = pusher.push_image("app", oci=True, platform=("linux", "arm64"), created=old)
    index = pusher.push_index("app", "pr-17", [amd, arm])
    for manifest in (amd, arm, index):
        age(root, manifest, 40)
    pusher.push_image("app", "latest")
    env = clean_env(tmp_path)
    base = ["--registry-dir", str(root)] if mode == "storage" else ["--registry-url", registry.url]
    plan_path = tmp_path / "plan.json"
    plan = regsweep_json("plan", *base, "--out", str(plan_path), env=env)
    planned = {a["digest"]: a for a in plan["actions"] if a["action"] == "delete_manifest"}
    assert set(planned) == {index.digest, amd.digest, arm.digest}
    assert planned[amd.digest]["parents"] == [index.digest]

    if mode == "storage":
        nesting = {"mediaType": OCI_INDEX, "digest": index.digest, "size": index.size}
        raw = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [nesting]})
        outer = pusher.put_manifest("app", "bundle", raw, OCI_INDEX)
        why = f"manifest {outer}, pushed since planning, references it"
    else:
        copy_within(registry.host, "app", "pr-17", "release")
        why = "tag release points to it now"

    done = regsweep(
        "apply",
        str(plan_path),
        *base,
        "--journal",
        str(tmp_path / "journal.jsonl"),
        "--force",
        "--gc",
        "none",
        "--output",
        "json",
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["verify"]["problems"] == []
    skipped = {
        r["digest"]: r["detail"] for r in result["apply"]["results"] if r["outcome"] == "skipped"
    }
    assert skipped == {
        index.digest: why,
        amd.digest: f"its index {index.digest} is kept: {why}",
        arm.digest: f"its index {index.digest} is kept: {why}",
    }
    assert result["apply"]["manifests_deleted"] == 0
    assert not tag_exists(root, "app", "pr-17")
    assert_pulls(registry.host, "app", index.digest, tmp_path / "pulls")


def built_days_ago(days: float) -> str:
    """A build time for API mode, where ages are build times."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - days * DAY))


def test_an_edited_expired_or_foreign_plan_file_is_refused_and_nothing_changes(
    registry: RegistryServer,
    pusher: Pusher,
    tmp_path: Path,
    registry_factory: Any,
) -> None:
    root = registry.root
    push(pusher, root, "app", "stale", 40)
    push(pusher, root, "app", "fresh", 1)
    push(pusher, root, "app", "latest", 1)
    env = clean_env(tmp_path)
    base = ["--registry-dir", str(root), "--journal", str(tmp_path / "j"), "--gc", "none"]
    plan_path = tmp_path / "plan.json"
    regsweep_json("plan", "--registry-dir", str(root), "--out", str(plan_path), env=env)
    before = tree_fingerprint(root)

    document = json.loads(plan_path.read_text())
    document["actions"] = [a for a in document["actions"] if a.get("tag") != "stale"]
    edited = write(tmp_path / "edited.json", json.dumps(document, indent=2))
    refused = regsweep("apply", str(edited), *base, env=env)
    assert refused.returncode == 2
    assert "checksum mismatch: the file was edited" in refused.stderr

    other = registry_factory()
    with Pusher(other.url) as other_pusher:
        other_pusher.push_image("app", "stale")
    foreign = regsweep(
        "apply", str(plan_path), "--registry-dir", str(other.root), "--gc", "none", env=env
    )
    assert foreign.returncode == 2
    assert f"the plan was made for the registry at {root.resolve()}" in foreign.stderr

    short = tmp_path / "short.json"
    regsweep_json(
        "plan", "--registry-dir", str(root), "--out", str(short), "--expires-in", "1s", env=env
    )
    time.sleep(1.5)
    expired = regsweep("apply", str(short), *base, env=env)
    assert expired.returncode == 2
    assert "the plan expired at" in expired.stderr

    assert tree_fingerprint(root) == before
    assert not (tmp_path / "j").exists()

    applied = regsweep("apply", str(plan_path), *base, env=env)  # the untouched file applies
    assert applied.returncode == 0, applied.stderr
    assert not tag_exists(root, "app", "stale")


def test_the_safety_brake_stops_a_mistyped_policy_before_anything_is_deleted(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    root = registry.root
    for version in ("release-1", "release-2", "release-3"):
        push(pusher, root, "app", version, 60)
    push(pusher, root, "app", "build-9", 1)
    push(pusher, root, "tools", "main", 60)
    typo = write(
        tmp_path / "p.yaml",
        "policies:\n  - name: releases\n    keep:\n      tags: '^relase-'\n"
        "      pushed_within: 7d\n",
    )
    env = clean_env(tmp_path)
    base = [
        "--registry-dir",
        str(root),
        "--policy",
        str(typo),
        "--journal",
        str(tmp_path / "journal.jsonl"),
        "--gc",
        "none",
    ]
    before = tree_fingerprint(root)

    stopped = regsweep("run", *base, env=env)

    assert stopped.returncode == 2
    assert "the registry: would delete 4 of 5 tags (80%, limit 50%)" in stopped.stderr
    assert "policy releases: every repository; keep tags matching /^relase-/" in stopped.stderr
    assert "nothing was deleted" in stopped.stderr
    assert tree_fingerprint(root) == before

    per_repository = regsweep(
        "run", *base, "--max-delete", "100%", "--max-delete-per-repository", "50", env=env
    )
    assert per_repository.returncode == 2
    assert "repository app: would delete 3 of 4 tags (75%, limit 50%)" in per_repository.stderr
    assert tree_fingerprint(root) == before

    dry = regsweep("run", *base, "--dry-run", env=env)
    assert dry.returncode == 0
    assert "safety brake (a real run would ask to confirm this first cleanup)" in dry.stderr
    assert tree_fingerprint(root) == before

    plan_path = tmp_path / "plan.json"
    planned = regsweep("plan", *base[:4], "--out", str(plan_path), env=env)
    assert "regsweep run or apply would ask to confirm this first cleanup" in planned.stderr
    applied = regsweep("apply", str(plan_path), *base[:2], *base[4:], env=env)
    assert applied.returncode == 2
    assert "safety brake" in applied.stderr
    assert tree_fingerprint(root) == before

    forced = regsweep("run", *base, "--force", "--output", "json", env=env)
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["apply"]["tags_deleted"] == 4
    assert "overridden by --force" in forced.stderr
    assert tag_exists(root, "app", "build-9")


def test_du_counts_unique_shared_and_reclaimable_bytes_per_repository(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    root = registry.root
    base_layer = os.urandom(50_000)
    old = pusher.push_image("web", "feature-old", layers=[base_layer, os.urandom(20_000)])
    age(root, old, 40)
    kept = pusher.push_image("api", "latest", layers=[base_layer, os.urandom(10_000)])

    def size(*digests: str) -> int:
        return sum(blob_path(root, d).stat().st_size for d in digests)

    own_old = {old.digest, *old.blobs} - {kept.layers[0].digest}
    own_kept = {kept.digest, *kept.blobs} - {kept.layers[0].digest}
    shared = size(kept.layers[0].digest)

    result = regsweep_json("du", "--registry-dir", str(root), env=clean_env(tmp_path))

    rows = {r["repository"]: r for r in result["repositories"]}
    assert [r["repository"] for r in result["repositories"]] == ["web", "api"]  # by size
    assert rows["web"] == {
        "repository": "web",
        "policy": "default",
        "tags": 1,
        "manifests": 1,
        "bytes_total": size(*own_old) + shared,
        "bytes_unique": size(*own_old),
        "bytes_shared": shared,
        "bytes_reclaimable": size(*own_old),
    }
    assert rows["api"]["bytes_unique"] == size(*own_kept)
    assert rows["api"]["bytes_reclaimable"] == 0
    assert result["registry"]["bytes_reclaimable"] == size(*own_old)
    assert result["registry"]["bytes_stored"] == size(*own_old, *own_kept) + shared

    text = regsweep("du", "--registry-dir", str(root), env=clean_env(tmp_path))
    assert text.returncode == 0
    assert text.stdout.index("web") < text.stdout.index("api")
