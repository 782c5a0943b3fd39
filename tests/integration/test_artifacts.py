"""Signatures, attestations, SBOMs and non-image artifacts on the real registry (issue 7).

Each test pushes what signing and build tools push (cosign tags, OCI 1.1 referrers, the
referrers tag schema, buildx attestation manifests, Helm charts), runs the CLI, and then
proves with skopeo that what is kept still pulls, and on storage that what went is gone,
blobs included, once the registry's own garbage collector has run.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import clean_env, local_gc, regsweep, regsweep_json
from tests.support.fault_proxy import FaultProxy, FaultSchedule
from tests.support.images import (
    OCI_INDEX,
    OCI_MANIFEST,
    PushedManifest,
    Pusher,
    canonical_json,
)
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls, copy_within
from tests.support.storage import (
    blob_digests,
    revision_exists,
    set_manifest_time,
    set_push_time,
    tag_exists,
)

DAY = 86400.0
SPDX = "application/spdx+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
#: A subject that was never pushed: its artifacts are orphans.
GONE = "sha256:" + "1" * 64


def cosign_tag(subject: PushedManifest | str, suffix: str = ".sig") -> str:
    digest = subject if isinstance(subject, str) else subject.digest
    return "sha256-" + digest.removeprefix("sha256:") + suffix


def age(root: Path, manifest: PushedManifest, days: float) -> PushedManifest:
    """Make the manifest (and its tag) look pushed ``days`` ago."""
    when = time.time() - days * DAY
    set_manifest_time(root, manifest.repo, manifest.digest, when)
    if manifest.tag is not None:
        set_push_time(root, manifest.repo, manifest.tag, when)
    return manifest


def signed(pusher: Pusher, repo: str, subject: PushedManifest | str) -> PushedManifest:
    """A cosign-style signature: a small OCI manifest under ``sha256-<hex>.sig``, no date."""
    return pusher.push_image(
        repo, cosign_tag(subject), oci=True, n_layers=1, layer_size=256, created=None
    )


def sbom(pusher: Pusher, repo: str, subject: PushedManifest | str) -> PushedManifest:
    """An untagged OCI 1.1 referrer of ``subject`` (what ``oras attach`` pushes)."""
    descriptor = (
        {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1234}
        if isinstance(subject, str)
        else subject
    )
    return pusher.push_image(
        repo,
        oci=True,
        subject=descriptor,
        artifact_type=SPDX,
        n_layers=1,
        layer_size=300,
        created=None,
        config_media_type="application/vnd.oci.empty.v1+json",
    )


def deletes(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["digest"]: a for a in plan["actions"] if a["action"] == "delete_manifest"}


def untags_of(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in plan["actions"] if a["action"] == "untag"]


def untags(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["tag"]: a for a in untags_of(plan)}


def assert_gone(root: Path, *manifests: PushedManifest) -> None:
    on_disk = blob_digests(root)
    for manifest in manifests:
        assert not revision_exists(root, manifest.repo, manifest.digest), manifest.digest
        if manifest.tag is not None:
            assert not tag_exists(root, manifest.repo, manifest.tag), manifest.tag
        assert not ({manifest.digest, *manifest.blobs} & on_disk), f"{manifest.digest} blobs"


def test_signatures_and_referrers_live_and_die_with_their_image_and_orphans_are_cleaned(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    root = registry.root
    expired = age(root, pusher.push_image("app", "build-1"), 40)
    expired_sig = age(root, signed(pusher, "app", expired), 40)
    expired_sbom = age(root, sbom(pusher, "app", expired), 40)
    kept = age(root, pusher.push_image("app", "latest"), 40)
    kept_sig = age(root, signed(pusher, "app", kept), 40)
    kept_sbom = age(root, sbom(pusher, "app", kept), 40)
    orphan_sig = age(root, signed(pusher, "app", GONE), 40)
    orphan_sbom = age(root, sbom(pusher, "app", GONE), 40)
    env = clean_env(tmp_path)
    base = ["--registry-dir", str(root)]

    keeping = regsweep_json("plan", *base, "--keep-orphan-artifacts", env=env)
    assert set(deletes(keeping)) == {expired.digest, expired_sig.digest, expired_sbom.digest}

    plan = regsweep_json("plan", *base, env=env)
    assert set(untags(plan)) == {"build-1", cosign_tag(expired), cosign_tag(GONE)}
    doomed = deletes(plan)
    assert set(doomed) == {
        expired.digest,
        expired_sig.digest,
        expired_sbom.digest,
        orphan_sig.digest,
        orphan_sbom.digest,
    }
    for artifact in (expired_sig, expired_sbom):
        assert doomed[artifact.digest]["wave"] < doomed[expired.digest]["wave"]
        assert doomed[artifact.digest]["reason"].startswith(
            f"artifact of deleted manifest {expired.digest}"
        )
    for orphan in (orphan_sig, orphan_sbom):
        assert doomed[orphan.digest]["reason"] == (
            f"orphaned artifact: subject {GONE} no longer exists"
        )

    explained = regsweep_json("explain", f"app:{cosign_tag(kept)}", *base, env=env)
    [tag] = explained["tags"]
    assert (tag["decision"], tag["artifact_of"], tag["rules"]) == ("keep", kept.digest, [])
    text = regsweep("explain", f"app:{cosign_tag(expired)}", *base, env=env).stdout
    # text shows digests as docker does, 12 hex digits (JSON above has them whole)
    assert f"artifact of {expired.digest[:19]}: kept exactly as long as it" in text

    journal = ["--journal", str(tmp_path / "journal.jsonl")]
    result = regsweep_json("run", *base, *journal, "--force", *local_gc(registry), env=env)
    assert result["verify"]["problems"] == []

    assert_gone(root, expired, expired_sig, expired_sbom, orphan_sig, orphan_sbom)
    pulls = tmp_path / "pulls"
    assert_pulls(registry.host, "app", "latest", pulls)
    assert_pulls(registry.host, "app", kept_sig.tag or "", pulls)
    assert_pulls(registry.host, "app", kept_sbom.digest, pulls)


#: (config media type, artifactType) of what is not a container image
NON_IMAGES = {
    "charts/web": (HELM_CONFIG, None),
    "wasm/filter": ("application/vnd.wasm.config.v0+json", None),
    "oras/report": ("application/vnd.oci.empty.v1+json", "application/vnd.example.report"),
}


def test_helm_charts_wasm_modules_and_oras_artifacts_are_aged_and_deleted_like_images(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    root = registry.root

    def push(repo: str, tag: str) -> PushedManifest:
        config_type, artifact_type = NON_IMAGES[repo]
        return pusher.push_image(
            repo,
            tag,
            oci=True,
            n_layers=1,
            config_media_type=config_type,
            artifact_type=artifact_type,
        )

    old = {repo: age(root, push(repo, "dev-build-1"), 40) for repo in NON_IMAGES}
    fresh = {repo: push(repo, "dev-build-2") for repo in NON_IMAGES}
    env = clean_env(tmp_path)
    base = ["--registry-dir", str(root)]

    plan = regsweep_json("plan", *base, env=env)
    assert {(a["repository"], a["tag"]) for a in untags_of(plan)} == {
        (repo, "dev-build-1") for repo in NON_IMAGES
    }
    assert set(deletes(plan)) == {m.digest for m in old.values()}
    assert plan["summary"]["bytes_reclaimable"] == sum(
        m.size + sum(b.size for b in (*m.layers, *((m.config,) if m.config else ())))
        for m in old.values()
    )

    journal = ["--journal", str(tmp_path / "journal.jsonl")]
    regsweep_json("run", *base, *journal, "--force", *local_gc(registry), env=env)
    assert_gone(root, *old.values())
    for repo, manifest in fresh.items():
        assert revision_exists(root, repo, manifest.digest)
        assert_pulls(registry.host, repo, "dev-build-2", tmp_path / "pulls")


def push_buildx_index(pusher: Pusher, root: Path, repo: str, tag: str) -> list[PushedManifest]:
    """An index as ``docker buildx build --push`` makes it: two platforms, each with an
    attestation manifest (platform unknown/unknown) that describes it. Index first."""
    entries: list[dict[str, Any]] = []
    children: list[PushedManifest] = []
    for arch in ("amd64", "arm64"):
        image = pusher.push_image(repo, oci=True, platform=("linux", arch))
        attestation = pusher.push_image(
            repo, oci=True, n_layers=1, layer_size=200, platform=("unknown", "unknown")
        )
        entries.append(image.descriptor(with_platform=True))
        entries.append(
            {
                **attestation.descriptor(with_platform=True),
                "annotations": {
                    "vnd.docker.reference.digest": image.digest,
                    "vnd.docker.reference.type": "attestation-manifest",
                },
            }
        )
        children += [image, attestation]
    raw = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    digest = pusher.put_manifest(repo, tag, raw, OCI_INDEX)
    index = PushedManifest(
        repo, tag, digest, OCI_INDEX, raw, None, (), tuple(children), None, frozenset()
    )
    return [age(root, m, 40) for m in (index, *children)]


def test_buildx_attestations_stay_with_their_kept_index_and_go_with_an_expired_one(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    root = registry.root
    kept = push_buildx_index(pusher, root, "multi", "1.0.0")
    expired = push_buildx_index(pusher, root, "multi", "build-7")
    env = clean_env(tmp_path)
    base = ["--registry-dir", str(root)]

    plan = regsweep_json("plan", *base, env=env)
    waves = {d: a["wave"] for d, a in deletes(plan).items()}
    assert set(waves) == {m.digest for m in expired}
    index, amd, amd_attestation, arm, arm_attestation = expired
    assert waves[index.digest] < waves[amd_attestation.digest] < waves[amd.digest]
    assert waves[index.digest] < waves[arm_attestation.digest] < waves[arm.digest]
    assert deletes(plan)[amd_attestation.digest]["reason"] == (
        f"buildx attestation of {amd.digest} in deleted index {index.digest}"
    )
    why = regsweep_json("explain", f"multi@{kept[2].digest}", *base, env=env)
    assert why["manifests"][0]["reason"].startswith(
        f"buildx attestation of {kept[1].digest} in index {kept[0].digest}, which is kept"
    )

    journal = ["--journal", str(tmp_path / "journal.jsonl")]
    regsweep_json("run", *base, *journal, "--force", *local_gc(registry), env=env)
    assert_gone(root, *expired)
    assert all(revision_exists(root, "multi", m.digest) for m in kept)
    assert_pulls(registry.host, "multi", "1.0.0", tmp_path / "pulls")


def built(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def referrers_tag(pusher: Pusher, repo: str, subject: PushedManifest) -> PushedManifest:
    """An OCI 1.1 referrer listed under the referrers tag schema ``sha256-<hex>``, as cosign
    and oras do on a registry without the referrers API."""
    referrer = sbom(pusher, repo, subject)
    entry = {**referrer.descriptor(), "artifactType": SPDX}
    raw = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]})
    tag = cosign_tag(subject, "")
    digest = pusher.put_manifest(repo, tag, raw, OCI_INDEX)
    return PushedManifest(
        repo, tag, digest, OCI_INDEX, raw, None, (), (referrer,), None, frozenset()
    )


def test_api_mode_finds_artifacts_as_tags_and_looks_their_subjects_up(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """Over the API the artifacts' own ages are unknown (no build date) and untagged
    manifests cannot be listed: artifacts are found through their tags, and each subject is
    asked for by digest, so an untagged subject is not taken for a missing one."""
    expired = pusher.push_image("app", "build-1", created=built(60))
    expired_sig = signed(pusher, "app", expired)
    expired_listing = referrers_tag(pusher, "app", expired)
    kept = pusher.push_image("app", "latest", created=built(60))
    kept_sig = signed(pusher, "app", kept)
    kept_listing = referrers_tag(pusher, "app", kept)
    undated = pusher.push_image("app", created=None)  # untagged, kept: its age is unknown
    undated_sig = signed(pusher, "app", undated)
    orphan_sig = signed(pusher, "app", GONE)
    env = clean_env(tmp_path)
    base = ["--registry-url", registry.url]

    plan = regsweep_json("plan", *base, env=env)
    assert set(untags(plan)) == {
        "build-1",
        cosign_tag(expired),
        cosign_tag(expired, ""),
        cosign_tag(GONE),
    }
    [expired_sbom] = expired_listing.children
    doomed = deletes(plan)
    assert set(doomed) == {
        expired.digest,
        expired_sig.digest,
        expired_listing.digest,
        expired_sbom.digest,
        orphan_sig.digest,
    }
    assert doomed[expired_listing.digest]["wave"] < doomed[expired_sbom.digest]["wave"]
    assert doomed[expired_sbom.digest]["wave"] < doomed[expired.digest]["wave"]
    assert doomed[expired_sig.digest]["wave"] < doomed[expired.digest]["wave"]

    journal = ["--journal", str(tmp_path / "journal.jsonl")]
    regsweep_json("run", *base, *journal, "--force", *local_gc(registry), env=env)
    root = registry.root
    assert_gone(root, expired, expired_sig, expired_listing, expired_sbom, orphan_sig)
    pulls = tmp_path / "pulls"
    for reference in ("latest", kept_sig.tag, kept_listing.tag, undated_sig.tag, undated.digest):
        assert reference is not None
        assert_pulls(registry.host, "app", reference, pulls)
    assert revision_exists(root, "app", kept_listing.children[0].digest)


# Issue 16, item 1: an image kept at apply time keeps its artifacts. The plan deletes an
# artifact in an earlier wave than its subject (and untags its tag in wave 0); when the
# subject turns out to be kept after all, the artifact must not already be gone.


def signed_everywhere(
    pusher: Pusher, subject: PushedManifest
) -> tuple[PushedManifest, PushedManifest, PushedManifest]:
    """A cosign signature tag, an OCI ``subject`` referrer, and the referrers-tag-schema
    index listing that referrer: (signature, listing, referrer)."""
    signature = signed(pusher, subject.repo, subject)
    listing = referrers_tag(pusher, subject.repo, subject)
    return signature, listing, listing.children[0]


class RePush:
    """Pushes ``app:feature-x`` again with skopeo, as ``app:TAG``, once.

    As a proxy's ``before_forward`` it does so just before regsweep's first DELETE goes
    through: ``regsweep run`` sends its probe for enabled deletes after planning and before
    its first change, so the push lands between planning and applying.
    """

    def __init__(self, registry: RegistryServer, tag: str) -> None:
        self.registry, self.tag = registry, tag
        self.done = False
        self._lock = threading.Lock()

    def push(self) -> None:
        with self._lock:
            if not self.done:
                copy_within(self.registry.host, "app", "feature-x", self.tag)
                self.done = True

    def __call__(self, method: str, path: str) -> None:
        if method == "DELETE":
            self.push()


def apply_or_run(
    command: str, mode: str, registry: RegistryServer, tmp_path: Path, env: dict[str, str]
) -> tuple[dict[str, Any], str]:
    """Plan, push the image again, apply; return the result and the tag that keeps it.

    On storage the tag is re-pushed (same digest, a new push time). Over the API alone
    that is invisible (no push time) and changes nothing the plan relied on; what the API
    sees is the image pushed under another tag.
    """
    storage = ["--registry-dir", str(registry.root)]
    kept_by = "feature-x" if mode == "storage" else "hotfix"
    re_push = RePush(registry, kept_by)
    journal = tmp_path / "journal.jsonl"
    common = ["--journal", str(journal), "--force", *local_gc(registry), "--output", "json"]
    if command == "apply":
        base = storage if mode == "storage" else ["--registry-url", registry.url]
        plan_file = tmp_path / "plan.json"
        regsweep_json("plan", *base, "--out", str(plan_file), env=env)
        re_push.push()
        done = regsweep("apply", str(plan_file), *base, *common, env=env)
    else:
        with FaultProxy(registry.url, FaultSchedule(seed=0, enabled=False), re_push) as proxy:
            base = ["--registry-url", proxy.url, *(storage if mode == "storage" else [])]
            done = regsweep("run", *base, *common, env=env)
    assert re_push.done
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["verify"]["problems"] == []
    return result, kept_by


def outcomes(result: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Tag or digest -> (outcome, detail) of every action not simply done."""
    return {
        r.get("tag") or r["digest"]: (r["outcome"], r["detail"]) for r in result["apply"]["results"]
    }


def journalled(journal: Path) -> dict[str, tuple[str, str]]:
    """Target -> (outcome, detail) of every action record in the journal."""
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    return {r["target"]: (r["outcome"], r["detail"]) for r in records if r["event"] == "action"}


@pytest.mark.parametrize("command", ["apply", "run"])
@pytest.mark.parametrize("mode", ["storage", "api"])
def test_an_image_pushed_again_after_planning_keeps_its_signature_and_referrers(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path, mode: str, command: str
) -> None:
    """The reported case: plan, the image's tag is pushed again with skopeo, apply (a plan
    file, or ``run`` with the push between its planning and its first change). The image
    stays, so its cosign tag, its OCI referrer and the referrers-tag-schema listing stay
    too, though the plan deletes them in earlier waves than the image."""
    root = registry.root
    image = age(root, pusher.push_image("app", "feature-x", created=built(60)), 40)
    signature, listing, referrer = (age(root, m, 40) for m in signed_everywhere(pusher, image))
    pusher.push_image("app", "latest")
    env = clean_env(tmp_path)
    base = ["--registry-dir", str(root)] if mode == "storage" else ["--registry-url", registry.url]
    plan = regsweep_json("plan", *base, env=env)
    artifact_tags = {cosign_tag(image), cosign_tag(image, "")}
    assert set(untags(plan)) == {"feature-x", *artifact_tags}
    artifacts = {signature.digest, listing.digest, referrer.digest}
    assert set(deletes(plan)) == {image.digest, *artifacts}
    assert untags(plan)[cosign_tag(image)]["subjects"] == [image.digest]
    assert deletes(plan)[referrer.digest]["subjects"] == [image.digest]
    assert deletes(plan)[referrer.digest]["parents"] == [listing.digest]

    result, kept_by = apply_or_run(command, mode, registry, tmp_path, env)

    assert pusher.get_manifest("app", kept_by)[0] == image.digest
    why = f"tag {kept_by} points to it now"
    kept = f"its image {image.digest} is kept: {why}"
    expected = {
        **{tag: ("skipped", kept) for tag in artifact_tags},
        **{digest: ("skipped", kept) for digest in artifacts},
        image.digest: ("skipped", why),
    }
    if mode == "storage":
        expected["feature-x"] = ("skipped", "re-pushed since planning (same digest)")
    assert outcomes(result) == expected
    assert result["apply"]["manifests_deleted"] == 0
    records = journalled(tmp_path / "journal.jsonl")
    assert records[f"app:{cosign_tag(image)}"] == ("skipped", kept)
    assert records[f"app@{referrer.digest}"] == ("skipped", kept)
    if mode == "api":
        # the expired tag went for real (through a throw-away manifest), not left to the
        # delete of an image that stays
        assert records["app:feature-x"][0] == "deleted"
        assert not tag_exists(root, "app", "feature-x")
    pulls = tmp_path / "pulls"
    for reference in (kept_by, *artifact_tags, referrer.digest):
        assert_pulls(registry.host, "app", reference, pulls)
