"""Signatures, attestations and SBOMs live and die with their subject (issue 7).

Hand-built scenarios for each way an artifact is tied to its subject, then properties over
random registries full of artifacts, checked against a naive oracle written from the rules
(never from the planner's helpers).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regsweep.core import mediatypes
from regsweep.core.artifacts import artifact_links, tag_subject
from regsweep.core.manifests import parse_manifest
from regsweep.core.model import Descriptor, Digest, Inventory, Manifest, Repository, Tag, digest_hex
from regsweep.plan.planner import Plan, build_plan, plan_repository
from regsweep.policy.rules import Policy, PolicySet, decide_tags
from tests.unit.strategies import NOW, TIMES, digest_of, inventories, policy_sets

DAY = timedelta(days=1)
OLD = NOW - 400 * DAY
YOUNG = NOW - timedelta(minutes=10)
#: The defaults: 30 days, the default exclude pattern, 1 hour grace, orphans deleted.
DEFAULT = Policy()
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
ATTESTATION = {"vnd.docker.reference.type": "attestation-manifest"}


def image(name: str, config_type: str = mediatypes.OCI_CONFIG) -> Manifest:
    return Manifest(
        digest_of(name),
        mediatypes.OCI_MANIFEST,
        500,
        config=Descriptor(config_type, digest_of(f"{name} config"), 10),
        layers=(Descriptor("layer", digest_of(f"{name} layer"), 1000),),
    )


def referrer(name: str, subject: Manifest | Digest) -> Manifest:
    target = subject.digest if isinstance(subject, Manifest) else subject
    return replace(image(name), subject=target, artifact_type="application/spdx+json")


def index(name: str, *entries: tuple[Manifest, str, dict[str, str]]) -> Manifest:
    return Manifest(
        digest_of(name),
        mediatypes.OCI_INDEX,
        300,
        children=tuple(
            Descriptor(m.media_type, m.digest, m.size, platform=p, annotations=a)
            for m, p, a in entries
        ),
    )


def cosign_tag(subject: Manifest | Digest, suffix: str = "sig") -> str:
    target = subject.digest if isinstance(subject, Manifest) else subject
    return f"sha256-{digest_hex(target)}" + (f".{suffix}" if suffix else "")


def plan_of(
    manifests: list[Manifest],
    tags: Mapping[str, tuple[Manifest, datetime | None]],
    policy: Policy = DEFAULT,
    times: dict[Digest, datetime | None] | None = None,
) -> tuple[Plan, Inventory]:
    """One repository ``app`` holding ``manifests`` (pushed long ago unless ``times`` says)."""
    revisions: dict[Digest, datetime | None] = {m.digest: OLD for m in manifests}
    revisions.update(times or {})
    repo = Repository(
        "app", {t: Tag("app", t, m.digest, w) for t, (m, w) in tags.items()}, revisions
    )
    sizes: dict[Digest, int] = {}
    for m in manifests:
        sizes[m.digest] = m.size
        # as the content store lists them (a schema1 manifest does not say its layers' sizes)
        blobs = (*m.layers, *((m.config,) if m.config else ()))
        sizes.update({d.digest: d.size if d.size >= 0 else 1000 for d in blobs})
    inventory = Inventory({"app": repo}, {m.digest: m for m in manifests}, sizes)
    return build_plan(inventory, policy, NOW), inventory


def deleted(plan: Plan) -> dict[Digest, int]:
    """Deleted manifest -> its wave."""
    return {a.digest: a.wave for a in plan.manifest_deletes}


def untagged(plan: Plan) -> set[str]:
    return {a.tag for a in plan.untags if a.tag is not None}


def reason(plan: Plan, digest: Digest) -> str:
    return next(a.reason for a in plan.manifest_deletes if a.digest == digest)


APP = image("app")
SIGNATURE = image("cosign signature")
SBOM = referrer("sbom", APP)


def test_artifact_tags_name_their_subject_and_nothing_else_does() -> None:
    hex_ = "ab" * 32
    for name in (
        f"sha256-{hex_}",
        f"sha256-{hex_}.sig",
        f"sha256-{hex_}.att",
        f"sha256-{hex_}.sbom",
    ):
        assert tag_subject(name) == f"sha256:{hex_}"
    for name in (f"sha256-{hex_}.foo", f"sha256-{hex_[:-1]}", f"v1-sha256-{hex_}", "latest"):
        assert tag_subject(name) is None


def test_an_expired_image_goes_with_its_signature_tag_and_its_referrer_artifacts_first() -> None:
    plan, _ = plan_of(
        [APP, SIGNATURE, SBOM],
        {"build-1": (APP, OLD), cosign_tag(APP): (SIGNATURE, OLD)},
    )
    assert untagged(plan) == {"build-1", cosign_tag(APP)}
    waves = deleted(plan)
    assert set(waves) == {APP.digest, SIGNATURE.digest, SBOM.digest}
    assert waves[SIGNATURE.digest] < waves[APP.digest]
    assert waves[SBOM.digest] < waves[APP.digest]
    assert reason(plan, SIGNATURE.digest) == (
        f"artifact of deleted manifest {APP.digest} (tag {cosign_tag(APP)})"
    )
    assert reason(plan, SBOM.digest) == f"artifact of deleted manifest {APP.digest} (OCI subject)"
    [sig_untag] = [a for a in plan.untags if a.tag == cosign_tag(APP)]
    assert sig_untag.reason == f"artifact of deleted manifest {APP.digest}"


def test_a_kept_image_keeps_its_old_signature_tag_and_referrer() -> None:
    plan, inventory = plan_of(
        [APP, SIGNATURE, SBOM],
        {"latest": (APP, OLD), cosign_tag(APP): (SIGNATURE, OLD)},
    )
    assert plan.actions == ()
    [decision] = [d for d in plan.decisions if d.tag.name == cosign_tag(APP)]
    assert (decision.keep, decision.artifact_of) == (True, APP.digest)
    assert decision.reason == f"artifact of {APP.digest}, which is kept"
    planned = plan_repository(inventory.repositories["app"], inventory.manifests, DEFAULT, NOW)
    assert planned.why_kept(SIGNATURE.digest, inventory.manifests) == (
        f"artifact of {APP.digest} (tag {cosign_tag(APP)}), which is kept: "
        "tagged by kept tag latest"
    )


def test_the_policy_rules_never_see_artifact_tags() -> None:
    """A catch-all exclude pattern does not keep the signature of a deleted image, and
    signatures pushed after their images do not take the places of "the last 2"."""
    images = [image(f"build-{i}") for i in range(4)]
    signatures = [image(f"signature {i}") for i in range(4)]
    tags: dict[str, tuple[Manifest, datetime | None]] = {}
    for i, (img, sig) in enumerate(zip(images, signatures, strict=True)):
        tags[f"build-{i}"] = (img, NOW - (10 - i) * DAY)
        tags[cosign_tag(img)] = (sig, NOW - (10 - i) * DAY + timedelta(minutes=1))
    policy = Policy(pushed_within=None, exclude_tags=re.compile("^sha256-"), keep_last=2)
    plan, inventory = plan_of([*images, *signatures], tags, policy)
    assert untagged(plan) == {"build-0", "build-1", cosign_tag(images[0]), cosign_tag(images[1])}
    ruled = decide_tags(inventory.repositories["app"], policy, NOW)
    assert {d.tag.name for d in ruled} == {f"build-{i}" for i in range(4)}


def test_an_orphaned_signature_is_deleted_with_its_own_reason_unless_orphans_are_kept() -> None:
    gone = digest_of("deleted long ago")
    oci_orphan = referrer("orphaned sbom", gone)
    plan, _ = plan_of([SIGNATURE, oci_orphan], {cosign_tag(gone): (SIGNATURE, OLD)})
    assert untagged(plan) == {cosign_tag(gone)}
    assert set(deleted(plan)) == {SIGNATURE.digest, oci_orphan.digest}
    for digest in (SIGNATURE.digest, oci_orphan.digest):
        assert reason(plan, digest) == f"orphaned artifact: subject {gone} no longer exists"

    keeping = Policy(delete_orphan_artifacts=False, name="ci")
    kept, inventory = plan_of(
        [SIGNATURE, oci_orphan], {cosign_tag(gone): (SIGNATURE, OLD)}, keeping
    )
    assert kept.actions == ()
    planned = plan_repository(inventory.repositories["app"], inventory.manifests, keeping, NOW)
    assert "policy ci keeps orphaned artifacts" in str(
        planned.why_kept(SIGNATURE.digest, inventory.manifests)
    )


def test_an_orphan_keeps_the_grace_but_not_an_unknown_age() -> None:
    """Over the API an artifact's age is unknown; its subject was looked up and is gone."""
    gone = digest_of("gone")
    young, unknown = referrer("young orphan", gone), referrer("undated orphan", gone)
    plan, _ = plan_of([young, unknown], {}, times={young.digest: YOUNG, unknown.digest: None})
    assert set(deleted(plan)) == {unknown.digest}


def test_an_artifact_of_a_deleted_image_goes_however_young_or_undated() -> None:
    young, undated = referrer("new sbom", APP), referrer("undated sbom", APP)
    plan, _ = plan_of(
        [APP, young, undated, SIGNATURE],
        {"build-1": (APP, OLD), cosign_tag(APP): (SIGNATURE, None)},
        times={young.digest: YOUNG, undated.digest: None, SIGNATURE.digest: None},
    )
    assert set(deleted(plan)) == {APP.digest, young.digest, undated.digest, SIGNATURE.digest}
    assert cosign_tag(APP) in untagged(plan)


def test_a_signature_of_an_attestation_follows_the_image_through_both() -> None:
    attestation = image("attestation")
    signature_of_attestation = referrer("signature of attestation", attestation)
    tags = {"latest": (APP, OLD), cosign_tag(APP, "att"): (attestation, OLD)}
    kept, _ = plan_of([APP, attestation, signature_of_attestation], tags)
    assert kept.actions == ()

    tags["build-1"] = tags.pop("latest")
    plan, _ = plan_of([APP, attestation, signature_of_attestation], tags)
    waves = deleted(plan)
    assert waves[signature_of_attestation.digest] < waves[attestation.digest] < waves[APP.digest]


def test_the_referrers_tag_schema_index_and_its_referrers_follow_the_subject() -> None:
    signature = referrer("oci signature", APP)
    referrers = index("referrers of app", (signature, "", {}))
    tags = {"latest": (APP, OLD), cosign_tag(APP, ""): (referrers, OLD)}
    kept, _ = plan_of([APP, signature, referrers], tags)
    assert kept.actions == ()

    tags["build-1"] = tags.pop("latest")
    plan, _ = plan_of([APP, signature, referrers], tags)
    waves = deleted(plan)
    assert waves[referrers.digest] < waves[signature.digest] < waves[APP.digest]
    assert untagged(plan) == {"build-1", cosign_tag(APP, "")}


def test_buildx_attestations_stay_with_their_index_and_go_with_it_first() -> None:
    amd, arm = image("amd64"), image("arm64")
    att_amd = image("attestation amd64")
    att_arm = image("attestation arm64")
    multi = index(
        "multi",
        (amd, "linux/amd64", {}),
        (arm, "linux/arm64", {}),
        (att_amd, "unknown/unknown", {**ATTESTATION, "vnd.docker.reference.digest": amd.digest}),
        (att_arm, "unknown/unknown", {**ATTESTATION, "vnd.docker.reference.digest": arm.digest}),
    )
    everything = [amd, arm, att_amd, att_arm, multi]
    kept, inventory = plan_of(everything, {"1.0.0": (multi, OLD)})
    assert kept.actions == ()
    planned = plan_repository(inventory.repositories["app"], inventory.manifests, DEFAULT, NOW)
    assert "attestation" in str(planned.why_kept(att_amd.digest, inventory.manifests))

    plan, _ = plan_of(everything, {"build-1": (multi, OLD)})
    waves = deleted(plan)
    assert set(waves) == {d.digest for d in everything}
    assert waves[multi.digest] < waves[att_amd.digest] < waves[amd.digest]
    assert waves[att_arm.digest] < waves[arm.digest]
    assert reason(plan, att_amd.digest) == (
        f"buildx attestation of {amd.digest} in deleted index {multi.digest}"
    )


def test_an_attestation_goes_with_its_index_even_when_its_platform_stays() -> None:
    """Only the index ties the attestation to the platform: kept for the platform alone, it
    would be an orphan nothing recognises once the index is gone (and the next plan would
    delete it: plans must be idempotent)."""
    amd = image("amd64")
    att = image("attestation")
    multi = index(
        "multi",
        (amd, "linux/amd64", {}),
        (att, "unknown/unknown", {**ATTESTATION, "vnd.docker.reference.digest": amd.digest}),
    )
    plan, _ = plan_of([amd, att, multi], {"build-1": (multi, OLD), "latest": (amd, OLD)})
    assert set(deleted(plan)) == {multi.digest, att.digest}
    assert reason(plan, att.digest) == (
        f"buildx attestation of {amd.digest} in deleted index {multi.digest}"
    )


def test_a_cycle_through_artifact_tags_is_broken_at_the_tie_never_at_a_child() -> None:
    """Tags are not content-addressed: ``sha256-<index>.sig`` may tag a platform of that
    very index, and two signatures may name each other."""
    amd, arm = image("amd64"), image("arm64")
    multi = index("multi", (amd, "linux/amd64", {}), (arm, "linux/arm64", {}))
    one, two = image("signature one"), image("signature two")
    tags = {
        cosign_tag(multi): (amd, OLD),
        cosign_tag(one): (two, OLD),
        cosign_tag(two, ".att"): (one, OLD),
    }
    plan, _ = plan_of([multi, amd, arm, one, two], tags)
    waves = deleted(plan)
    assert set(waves) == {multi.digest, amd.digest, arm.digest, one.digest, two.digest}
    assert waves[multi.digest] < waves[amd.digest]
    assert waves[multi.digest] < waves[arm.digest]
    assert [a.wave for a in plan.manifest_deletes] == sorted(waves.values())


def test_an_unreadable_subject_is_kept_and_so_are_its_artifacts() -> None:
    mystery = digest_of("unparsable image")
    signature = referrer("signature of mystery", mystery)
    revisions: dict[Digest, datetime | None] = {mystery: OLD, signature.digest: OLD}
    repo = Repository("app", {}, revisions)
    inventory = Inventory({"app": repo}, {signature.digest: signature}, {})
    assert build_plan(inventory, DEFAULT, NOW).actions == ()


def test_a_helm_chart_is_aged_and_deleted_like_an_image() -> None:
    chart, fresh = image("chart 0.1.0", HELM_CONFIG), image("chart 0.2.0", HELM_CONFIG)
    plan, _ = plan_of([chart, fresh], {"chart-dev-1": (chart, OLD), "chart-dev-2": (fresh, YOUNG)})
    assert untagged(plan) == {"chart-dev-1"}
    assert set(deleted(plan)) == {chart.digest}
    assert plan.summary.bytes_reclaimable == 500 + 10 + 1000


def _raw(doc: dict[str, object]) -> tuple[Digest, bytes]:
    raw = json.dumps(doc).encode()
    return Digest("sha256:" + hashlib.sha256(raw).hexdigest()), raw


NON_IMAGES: dict[str, dict[str, object]] = {
    "schema1": {
        "schemaVersion": 1,
        "name": "app",
        "tag": "old",
        "fsLayers": [{"blobSum": digest_of("schema1 layer")}],
        "signatures": [{"signature": "x"}],
    },
    "wasm": {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.wasm.config.v0+json",
            "digest": digest_of("wc"),
            "size": 7,
        },
        "layers": [{"mediaType": "application/wasm", "digest": digest_of("wasm"), "size": 70}],
    },
    "oras": {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "artifactType": "application/vnd.example.report",
        "config": {"mediaType": mediatypes.OCI_EMPTY, "digest": digest_of("{}"), "size": 2},
        "layers": [{"mediaType": "text/plain", "digest": digest_of("report"), "size": 40}],
    },
    "unknown": {
        "schemaVersion": 2,
        "mediaType": "application/vnd.example.future.manifest.v9+json",
        "layers": [{"mediaType": "x", "digest": digest_of("future"), "size": 9}],
    },
}


@pytest.mark.parametrize("kind", sorted(NON_IMAGES))
def test_what_is_not_an_image_is_parsed_aged_and_deleted_like_one(kind: str) -> None:
    digest, raw = _raw(NON_IMAGES[kind])
    manifest = parse_manifest(digest, raw)
    assert manifest.blob_references()
    plan, inventory = plan_of([manifest], {"build-1": (manifest, OLD)})
    assert untagged(plan) == {"build-1"}
    assert set(deleted(plan)) == {digest}
    freed = sum(inventory.blob_sizes.get(d, 0) for d in (digest, *manifest.blob_references()))
    assert plan.summary.bytes_reclaimable == freed > len(raw)
    kept, _ = plan_of([manifest], {"latest": (manifest, OLD)})
    assert kept.actions == ()


# -- properties --------------------------------------------------------------------------

_ARTIFACT_TAG = re.compile(r"sha256-([0-9a-f]{64})(\.(sig|att|sbom))?")
_KINDS = st.sampled_from(["cosign", "referrer", "schema", "attestation", "cosign", "referrer"])


def _hex(digest: Digest) -> str:
    return digest.removeprefix("sha256:")


@st.composite
def registries_with_artifacts(draw: st.DrawFn) -> Inventory:
    """Random registries (tests.unit.strategies), then artifacts tied every way to their
    manifests, to one another (a signature of an attestation), and to manifests that are gone."""
    base = draw(inventories())
    manifests = dict(base.manifests)
    sizes = dict(base.blob_sizes)
    repositories = {}
    for name, repo in base.repositories.items():
        revisions = dict(repo.revisions)
        tags = dict(repo.tags)
        for i in range(draw(st.integers(0, 6))):
            subjects = [*sorted(revisions), digest_of(f"{name} gone")]
            subject = subjects[draw(st.integers(0, len(subjects) - 1))]
            kind = draw(_KINDS)
            label = f"{name} {kind} {i}"
            artifact = Manifest(
                digest_of(label),
                mediatypes.OCI_MANIFEST,
                100 + i,
                config=Descriptor(mediatypes.OCI_EMPTY, digest_of("empty"), 2),
                layers=(Descriptor("payload", digest_of(f"{label} payload"), 50),),
                subject=subject if kind in ("referrer", "schema") else None,
            )
            new = [artifact]
            if kind == "cosign":
                suffix = draw(st.sampled_from([".sig", ".att", ".sbom"]))
                tag = f"sha256-{_hex(subject)}{suffix}"
                tags[tag] = Tag(name, tag, artifact.digest, draw(TIMES))
            elif kind == "schema":
                listing = index(f"{label} listing", (artifact, "", {}))
                tag = f"sha256-{_hex(subject)}"
                tags[tag] = Tag(name, tag, listing.digest, draw(TIMES))
                new.append(listing)
            elif kind == "attestation":
                described = {**ATTESTATION, "vnd.docker.reference.digest": subject}
                holder = Manifest(
                    digest_of(f"{label} index"),
                    mediatypes.OCI_INDEX,
                    300,
                    children=(
                        Descriptor(mediatypes.OCI_MANIFEST, subject, 1, platform="linux/amd64"),
                        Descriptor(
                            mediatypes.OCI_MANIFEST,
                            artifact.digest,
                            1,
                            platform="unknown/unknown",
                            annotations=described,
                        ),
                    ),
                )
                new.append(holder)
                if draw(st.booleans()):
                    tags[f"multi-{i}"] = Tag(name, f"multi-{i}", holder.digest, draw(TIMES))
            for manifest in new:
                manifests[manifest.digest] = manifest
                sizes[manifest.digest] = manifest.size
                sizes.update(dict.fromkeys(manifest.blob_references(), 50))
                revisions[manifest.digest] = draw(TIMES)
        repositories[name] = replace(repo, tags=tags, revisions=revisions)
    return replace(base, repositories=repositories, manifests=manifests, blob_sizes=sizes)


def ties(
    repository: Repository, manifests: dict[Digest, Manifest], *, attestations: bool = False
) -> set[tuple[Digest, Digest]]:
    """(artifact, subject) pairs, read from the rules of issue 7: the artifacts that follow
    their subject; with ``attestations``, also buildx attestations, which follow their index
    but still go before the platform they describe."""
    out = set()
    for digest in repository.revisions:
        manifest = manifests.get(digest)
        if manifest is None:
            continue
        if manifest.subject is not None:
            out.add((digest, manifest.subject))
        for child in manifest.children if attestations else ():
            if child.annotations.get("vnd.docker.reference.type") == "attestation-manifest":
                out.add((child.digest, Digest(child.annotations["vnd.docker.reference.digest"])))
    for tag in repository.tags.values():
        if match := _ARTIFACT_TAG.fullmatch(tag.name):
            out.add((tag.digest, Digest(f"sha256:{match.group(1)}")))
    return out


def needed(
    repository: Repository, manifests: dict[Digest, Manifest], policy: Policy
) -> set[Digest]:
    """What the policy keeps: roots, then children and artifacts of what is kept, to a fixpoint."""
    pairs = ties(repository, manifests)
    subjects: dict[Digest, set[Digest]] = {}
    for artifact, subject in pairs:
        subjects.setdefault(artifact, set()).add(subject)
    orphans = {a for a, s in subjects.items() if not s & set(repository.revisions)}
    kept_tags = {d.tag.name for d in decide_tags(repository, policy, NOW) if d.keep}
    need = {repository.tags[name].digest for name in kept_tags}
    for digest, linked in repository.revisions.items():
        if digest in policy.pinned:
            need.add(digest)
        elif digest in subjects and digest not in orphans:
            continue  # follows its subject
        elif digest in orphans and not policy.delete_orphan_artifacts:
            need.add(digest)
        elif linked is None:
            if digest not in orphans:
                need.add(digest)
        elif NOW - linked <= policy.untagged_grace:
            need.add(digest)

    def close(start: set[Digest]) -> set[Digest]:
        while True:
            grown = set(start)
            for digest in start:
                if (manifest := manifests.get(digest)) is not None:
                    grown |= {c.digest for c in manifest.children}
            grown |= {a for a, s in pairs if s in start}
            if grown == start:
                return start
            start = grown

    need = close(need)
    if any(d in repository.revisions and d not in manifests for d in need):
        return set(repository.revisions)
    return close(need | {d for d in repository.revisions if d not in manifests})


def _policy_for(name: str, policies: PolicySet) -> Policy | None:
    return policies.policy_for(name)


@given(registries_with_artifacts(), policy_sets())
def test_no_artifact_of_a_kept_subject_is_ever_deleted(
    inventory: Inventory, policies: PolicySet
) -> None:
    plan = build_plan(inventory, policies, NOW)
    for name, repository in inventory.repositories.items():
        gone = {a.digest for a in plan.manifest_deletes if a.repository == name}
        untags = {a.tag for a in plan.untags if a.repository == name}
        policy = _policy_for(name, policies)
        if policy is None:
            assert not gone and not untags
            continue
        assert gone == {d for d in repository.revisions if d in inventory.manifests} - needed(
            repository, dict(inventory.manifests), policy
        )
        for artifact, subject in ties(repository, dict(inventory.manifests)):
            if subject in repository.revisions and subject not in gone:
                assert artifact not in gone, f"{artifact} deleted, its subject {subject} kept"
        for tag in repository.tags.values():
            named = tag_subject(tag.name)
            if named is not None and named in repository.revisions and named not in gone:
                assert tag.name not in untags, f"artifact tag {tag.name} of a kept subject"


@given(registries_with_artifacts(), policy_sets())
def test_every_artifact_of_a_deleted_subject_is_deleted_in_an_earlier_wave(
    inventory: Inventory, policies: PolicySet
) -> None:
    plan = build_plan(inventory, policies, NOW)
    for name, repository in inventory.repositories.items():
        policy = _policy_for(name, policies)
        if policy is None:
            continue
        waves = {a.digest: a.wave for a in plan.manifest_deletes if a.repository == name}
        untags = {a.tag: a for a in plan.untags if a.repository == name}
        need = needed(repository, dict(inventory.manifests), policy)
        following = ties(repository, dict(inventory.manifests))
        pairs = ties(repository, dict(inventory.manifests), attestations=True)
        for artifact, subject in pairs:
            if subject not in waves or precedes(subject, artifact, pairs, inventory.manifests):
                continue  # tags are not content-addressed: two may name each other (a cycle)
            if artifact in repository.revisions and artifact not in need:
                assert waves[artifact] < waves[subject], f"{artifact} after its subject"
                if (artifact, subject) in following:
                    why = plan_reason(plan, name, artifact)
                    assert why.startswith("artifact of deleted manifest")
        for tag in repository.tags.values():
            if tag_subject(tag.name) in waves:
                assert untags[tag.name].wave == 0
                assert untags[tag.name].reason.startswith("artifact of deleted manifest")


@given(registries_with_artifacts(), policy_sets())
def test_orphans_go_with_their_own_reason_unless_the_policy_keeps_them(
    inventory: Inventory, policies: PolicySet
) -> None:
    plan = build_plan(inventory, policies, NOW)
    for name, repository in inventory.repositories.items():
        policy = _policy_for(name, policies)
        if policy is None:
            continue
        pairs = ties(repository, dict(inventory.manifests))
        present = set(repository.revisions)
        orphans = {a for a, _ in pairs} - {a for a, s in pairs if s in present}
        deletes = {a.digest: a for a in plan.manifest_deletes if a.repository == name}
        for orphan in orphans & set(deletes):
            assert policy.delete_orphan_artifacts
            assert deletes[orphan].reason.startswith("orphaned artifact: subject ")
        decisions = [d for d in plan.decisions if d.tag.repository == name]
        assert sorted(d.tag.name for d in decisions) == sorted(repository.tags)
        for decision in decisions:
            assert (decision.artifact_of is not None) == bool(
                _ARTIFACT_TAG.fullmatch(decision.tag.name)
            )


@given(registries_with_artifacts(), policy_sets())
def test_planning_again_after_the_plan_plans_nothing(
    inventory: Inventory, policies: PolicySet
) -> None:
    """Whatever ties an artifact to its subject still holds after the plan: nothing kept
    becomes an orphan the next run deletes (a buildx attestation kept without its index
    would)."""
    plan = build_plan(inventory, policies, NOW)
    untagged = {(a.repository, a.tag) for a in plan.untags}
    deleted = {(a.repository, a.digest) for a in plan.manifest_deletes}
    after = {
        name: replace(
            repository,
            tags={
                t: tag
                for t, tag in repository.tags.items()
                if (name, t) not in untagged and (name, tag.digest) not in deleted
            },
            revisions={d: w for d, w in repository.revisions.items() if (name, d) not in deleted},
        )
        for name, repository in inventory.repositories.items()
    }
    assert build_plan(replace(inventory, repositories=after), policies, NOW).actions == ()


def precedes(
    start: Digest,
    goal: Digest,
    pairs: set[tuple[Digest, Digest]],
    manifests: Mapping[Digest, Manifest],
) -> bool:
    """Whether ``start`` must be deleted before ``goal``: a path of index -> child and
    artifact -> subject steps leads from one to the other."""
    seen, stack = set(), [start]
    while stack:
        digest = stack.pop()
        if digest == goal:
            return True
        if digest in seen:
            continue
        seen.add(digest)
        if (manifest := manifests.get(digest)) is not None:
            stack.extend(c.digest for c in manifest.children)
        stack.extend(s for a, s in pairs if a == digest)
    return False


def plan_reason(plan: Plan, repository: str, digest: Digest) -> str:
    return next(
        a.reason for a in plan.manifest_deletes if (a.repository, a.digest) == (repository, digest)
    )


@pytest.mark.parametrize("suffix", ["", ".sig", ".att", ".sbom"])
def test_each_artifact_tag_scheme_is_a_tie(suffix: str) -> None:
    subject = digest_of("x")
    tag = f"sha256-{hashlib.sha256(b'x').hexdigest()}{suffix}"
    repo = Repository("app", {tag: Tag("app", tag, SIGNATURE.digest, OLD)}, {SIGNATURE.digest: OLD})
    [link] = artifact_links(repo, {SIGNATURE.digest: SIGNATURE})
    assert (link.artifact, link.subject, link.via) == (SIGNATURE.digest, subject, f"tag {tag}")


def dependencies(plan: Plan) -> dict[str, tuple[tuple[Digest, ...], tuple[Digest, ...]]]:
    """Target -> (subjects, parents) of every action that relies on another manifest."""
    return {a.target: (a.subjects, a.parents) for a in plan.actions if a.subjects or a.parents}


def test_each_artifact_action_names_the_subject_it_relies_on_and_each_platform_its_index() -> None:
    """Issue 16: the plan records what an action relies on being deleted too, so the runner
    can skip it when that turns out to be kept at apply time."""
    signature = referrer("oci signature", APP)
    referrers = index("referrers of app", (signature, "", {}))
    amd = image("amd64")
    att = image("attestation")
    multi = index(
        "multi",
        (amd, "linux/amd64", {}),
        (att, "unknown/unknown", {**ATTESTATION, "vnd.docker.reference.digest": amd.digest}),
    )
    orphan = image("orphan signature")
    gone = digest_of("gone")
    tags = {
        "build-1": (APP, OLD),
        cosign_tag(APP): (SIGNATURE, OLD),
        cosign_tag(APP, ""): (referrers, OLD),
        "build-2": (multi, OLD),
        cosign_tag(gone): (orphan, OLD),
    }
    plan, _ = plan_of([APP, SIGNATURE, signature, referrers, amd, att, multi, orphan], tags)

    app = (APP.digest,)
    assert dependencies(plan) == {
        f"app:{cosign_tag(APP)}": (app, ()),
        f"app:{cosign_tag(APP, '')}": (app, ()),
        f"app@{SIGNATURE.digest}": (app, ()),
        f"app@{referrers.digest}": (app, ()),
        f"app@{signature.digest}": (app, (referrers.digest,)),
        # a buildx attestation follows its index, not the platform it describes
        f"app@{att.digest}": ((), (multi.digest,)),
        f"app@{amd.digest}": ((), (multi.digest,)),
    }
    # an orphan's subject is already gone: nothing to rely on
    assert f"app@{orphan.digest}" in {a.target for a in plan.manifest_deletes}


@given(registries_with_artifacts(), policy_sets())
def test_every_action_relies_only_on_deletes_of_its_plan_and_each_index_goes_before(
    inventory: Inventory, policies: PolicySet
) -> None:
    plan = build_plan(inventory, policies, NOW)
    deletes = {(a.repository, a.digest): a for a in plan.manifest_deletes}
    for action in plan.actions:
        for digest in (*action.subjects, *action.parents):
            assert (action.repository, digest) in deletes, f"{action.target} relies on {digest}"
        for parent in action.parents:
            assert deletes[(action.repository, parent)].wave < action.wave
    for name, repository in inventory.repositories.items():
        following = ties(repository, dict(inventory.manifests))
        for (repo, digest), action in deletes.items():
            if repo != name:
                continue
            relied = {s for a, s in following if a == digest and (name, s) in deletes}
            assert set(action.subjects) == relied - {digest}
            manifest = inventory.manifests.get(digest)
            for child in manifest.children if manifest is not None else ():
                if (name, child.digest) in deletes and child.digest != digest:
                    assert digest in deletes[(name, child.digest)].parents
