"""The planner on hand-built registries, one trap per test."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from regsweep.core import mediatypes
from regsweep.core.model import Descriptor, Digest, Inventory, Manifest, Repository, Tag
from regsweep.plan.planner import ActionKind, Plan, build_plan, plan_repository
from regsweep.policy.rules import Policy
from tests.unit.strategies import NOW, digest_of

DAY = timedelta(days=1)
OLD = NOW - 400 * DAY
#: The defaults (30 days, default exclude pattern, 1 hour grace) over every repository.
DEFAULT = Policy()


def blob(name: str) -> Digest:
    return digest_of(f"blob {name}")


def image(name: str, *layers: str, config: str | None = None) -> Manifest:
    return Manifest(
        digest_of(name),
        mediatypes.OCI_MANIFEST,
        500,
        config=Descriptor(mediatypes.OCI_CONFIG, blob(config or f"{name} config"), 10),
        layers=tuple(Descriptor("layer", blob(layer), 1) for layer in layers),
    )


def index(name: str, *children: Manifest) -> Manifest:
    platforms = ("linux/amd64", "linux/arm64", "linux/s390x")
    return Manifest(
        digest_of(name),
        mediatypes.OCI_INDEX,
        300,
        children=tuple(
            Descriptor(c.media_type, c.digest, c.size, platform=p)
            for c, p in zip(children, platforms, strict=False)
        ),
    )


def referrer(name: str, subject: Digest) -> Manifest:
    return Manifest(
        digest_of(name),
        mediatypes.OCI_MANIFEST,
        200,
        config=Descriptor(mediatypes.OCI_EMPTY, blob("empty"), 2),
        layers=(Descriptor("application/vnd.dev.cosign.simplesigning.v1+json", blob(name), 1),),
        subject=subject,
    )


def repository(
    name: str,
    manifests: list[Manifest],
    tags: Mapping[str, tuple[Manifest, datetime | None]] | None = None,
    linked: datetime = OLD,
    young: tuple[Manifest, ...] = (),
) -> Repository:
    """Every manifest is a revision linked at ``linked`` (``young`` ones 10 minutes ago)."""
    revisions: dict[Digest, datetime | None] = {m.digest: linked for m in manifests}
    revisions.update({m.digest: NOW - timedelta(minutes=10) for m in young})
    return Repository(
        name,
        {t: Tag(name, t, m.digest, when) for t, (m, when) in (tags or {}).items()},
        revisions,
    )


def inventory(*repositories: Repository, manifests: list[Manifest]) -> Inventory:
    sizes: dict[Digest, int] = {}
    for m in manifests:
        sizes[m.digest] = m.size
        for ref in m.blob_references():
            sizes.setdefault(ref, 1000)
    return Inventory({r.name: r for r in repositories}, {m.digest: m for m in manifests}, sizes)


def deleted(plan: Plan, repo: str = "app") -> list[Digest]:
    return [a.digest for a in plan.manifest_deletes if a.repository == repo]


def untagged(plan: Plan) -> list[str]:
    return [a.target for a in plan.untags]


AMD64 = image("amd64", "base", "amd64 app")
ARM64 = image("arm64", "base", "arm64 app")


def test_an_old_multi_arch_release_excluded_by_name_keeps_its_untagged_platforms() -> None:
    """The registry's --delete-untagged deletes these children (distribution #3178)."""
    release = index("release", AMD64, ARM64)
    manifests = [release, AMD64, ARM64]
    repo = repository("app", manifests, {"v1.2.3": (release, OLD)})
    inv = inventory(repo, manifests=manifests)
    plan = build_plan(inv, DEFAULT, NOW)
    assert plan.actions == ()
    assert plan.summary.bytes_reclaimable == 0
    why = plan_repository(repo, inv.manifests, DEFAULT, NOW).why_kept(AMD64.digest, inv.manifests)
    # the reason names the path back to the kept tag (wording is the planner's)
    assert why is not None
    assert all(fact in why for fact in ("linux/amd64", release.digest, "v1.2.3"))


def test_an_old_tag_sharing_its_digest_with_latest_is_untagged_and_the_manifest_stays() -> None:
    build = image("build", "base")
    repo = repository("app", [build], {"build-7": (build, OLD), "latest": (build, OLD)})
    plan = build_plan(inventory(repo, manifests=[build]), DEFAULT, NOW)
    assert untagged(plan) == ["app:build-7"]
    assert plan.manifest_deletes == []
    assert plan.summary.bytes_reclaimable == 0


def test_an_expired_multi_arch_image_goes_index_first_then_each_platform() -> None:
    build = index("build", AMD64, ARM64)
    manifests = [build, AMD64, ARM64]
    repo = repository("app", manifests, {"build-7": (build, OLD)})
    plan = build_plan(inventory(repo, manifests=manifests), DEFAULT, NOW)
    assert untagged(plan) == ["app:build-7"]
    first, *platforms = plan.manifest_deletes
    assert first.digest == build.digest and first.wave == 1
    assert "build-7" in first.reason
    assert {a.digest for a in platforms} == {AMD64.digest, ARM64.digest}
    assert all(a.wave == 2 for a in platforms)
    platform = {AMD64.digest: "linux/amd64", ARM64.digest: "linux/arm64"}
    for action in platforms:
        assert build.digest in action.reason and platform[action.digest] in action.reason
    # every blob of the image is freed, the shared base layer once
    freed = {blob("base"), blob("amd64 app"), blob("arm64 app")}
    freed |= {blob("amd64 config"), blob("arm64 config")}
    freed |= {build.digest, AMD64.digest, ARM64.digest}
    assert plan.reclaimable_blobs == freed


def test_a_platform_shared_by_a_kept_and_a_deleted_index_stays() -> None:
    s390x = image("s390x", "base", "s390x app")
    kept = index("kept", AMD64, ARM64)
    gone = index("gone", ARM64, s390x)
    manifests = [kept, gone, AMD64, ARM64, s390x]
    repo = repository("app", manifests, {"latest": (kept, OLD), "build-1": (gone, OLD)})
    plan = build_plan(inventory(repo, manifests=manifests), DEFAULT, NOW)
    assert deleted(plan) == [gone.digest, s390x.digest]
    assert blob("arm64 app") not in plan.reclaimable_blobs
    assert blob("s390x app") in plan.reclaimable_blobs


def test_a_platform_of_several_deleted_indexes_names_the_same_one_in_any_listing_order() -> None:
    """Regression, found by the listing-order property: the reason named whichever deleted
    index a set yielded first, which hash randomisation and the listing order decide, so
    two runs over one registry wrote different plans. Sixteen platforms, each listed by two
    deleted indexes, leave a set's order no chance to name the smallest by luck."""
    platforms = [image(f"platform {n}", f"layer {n}") for n in range(16)]
    indexes = [index(f"{side} {n}", p) for n, p in enumerate(platforms) for side in "ab"]
    manifests = [*indexes, *platforms]
    plans = [
        build_plan(inventory(repository("app", listed), manifests=manifests), DEFAULT, NOW)
        for listed in (manifests, manifests[::-1], manifests[16:] + manifests[:16])
    ]
    for platform, pair in zip(
        platforms, zip(indexes[::2], indexes[1::2], strict=True), strict=True
    ):
        first = min(i.digest for i in pair)
        reasons = {
            a.reason for plan in plans for a in plan.manifest_deletes if a.digest == platform.digest
        }
        assert reasons == {f"linux/amd64 of deleted index {first}"}


def test_a_tagged_platform_of_a_deleted_index_stays() -> None:
    build = index("build", AMD64, ARM64)
    manifests = [build, AMD64, ARM64]
    repo = repository("app", manifests, {"build-1": (build, OLD), "amd64-latest": (AMD64, NOW)})
    plan = build_plan(inventory(repo, manifests=manifests), DEFAULT, NOW)
    assert deleted(plan) == [build.digest, ARM64.digest]


def test_a_young_untagged_index_stays_with_its_platforms() -> None:
    """A multi-arch push uploads the platforms, then the index, then the tag: mid-push, all
    of it is untagged, and the platforms may be old (pushed before, reused)."""
    pushing = index("pushing", AMD64, ARM64)
    repo = repository("app", [AMD64, ARM64], young=(pushing,))
    plan = build_plan(inventory(repo, manifests=[pushing, AMD64, ARM64]), DEFAULT, NOW)
    assert plan.actions == ()


def test_an_untagged_manifest_just_past_the_grace_is_deleted() -> None:
    stale = image("stale", "x")
    repo = repository("app", [stale], linked=NOW - timedelta(hours=1, seconds=1))
    plan = build_plan(inventory(repo, manifests=[stale]), DEFAULT, NOW)
    assert deleted(plan) == [stale.digest]
    [action] = plan.manifest_deletes
    assert "untagged" in action.reason


def test_an_untagged_manifest_exactly_at_the_grace_stays() -> None:
    fresh = image("fresh", "x")
    repo = repository("app", [fresh], linked=NOW - timedelta(hours=1))
    assert build_plan(inventory(repo, manifests=[fresh]), DEFAULT, NOW).actions == ()


def test_a_blob_already_swept_is_not_counted_as_freed() -> None:
    """Only blobs still in the content store can be freed (an earlier GC took the rest)."""
    stale = image("stale", "swept", "present")
    inv = inventory(repository("app", [stale]), manifests=[stale])
    sizes = {d: s for d, s in inv.blob_sizes.items() if d != blob("swept")}
    plan = build_plan(replace(inv, blob_sizes=sizes), DEFAULT, NOW)
    assert deleted(plan) == [stale.digest]
    assert plan.reclaimable_blobs == {stale.digest, blob("stale config"), blob("present")}


def test_an_old_signature_of_a_kept_image_stays() -> None:
    app = image("app", "base")
    signature = referrer("signature", subject=app.digest)
    sbom = referrer("sbom", subject=signature.digest)  # a referrer of a referrer
    manifests = [app, signature, sbom]
    repo = repository("app", manifests, {"latest": (app, OLD)})
    inv = inventory(repo, manifests=manifests)
    plan = build_plan(inv, DEFAULT, NOW)
    assert plan.actions == ()
    why = plan_repository(repo, inv.manifests, DEFAULT, NOW).why_kept(sbom.digest, inv.manifests)
    assert why is not None and signature.digest in why and "latest" in why


def test_a_signature_goes_before_the_expired_image_it_signs() -> None:
    app = image("app", "base")
    signature = referrer("signature", subject=app.digest)
    manifests = [app, signature]
    repo = repository("app", manifests, {"build-1": (app, OLD)})
    plan = build_plan(inventory(repo, manifests=manifests), DEFAULT, NOW)
    assert deleted(plan) == [signature.digest, app.digest]
    sig_action = plan.manifest_deletes[0]
    assert app.digest in sig_action.reason
    assert sig_action.wave < plan.manifest_deletes[1].wave


def test_an_orphaned_signature_whose_image_is_gone_is_deleted() -> None:
    gone = digest_of("deleted long ago")
    signature = referrer("signature", subject=gone)
    repo = repository("app", [signature])
    plan = build_plan(inventory(repo, manifests=[signature]), DEFAULT, NOW)
    [action] = plan.manifest_deletes
    assert action.digest == signature.digest
    assert gone in action.reason


def test_an_out_of_scope_repository_is_untouched_and_its_shared_layers_are_not_freed() -> None:
    mine = image("mine", "shared", "mine only")
    theirs = image("theirs", "shared")
    manifests = [mine, theirs]
    team = repository("team/app", [mine])
    other = repository("other/app", [theirs])
    scoped = Policy(repositories=re.compile("team/.*"))
    plan = build_plan(inventory(team, other, manifests=manifests), scoped, NOW)
    assert [a.target for a in plan.actions] == [f"team/app@{mine.digest}"]
    assert plan.reclaimable_blobs == {mine.digest, blob("mine config"), blob("mine only")}
    assert plan.summary.bytes_reclaimable == 500 + 1000 + 1000


def test_bytes_shared_across_repositories_are_counted_once() -> None:
    """The same image pushed to two repositories (one manifest blob, one set of layers)."""
    app = image("app", "base", "top")
    manifests = [app]
    plan = build_plan(
        inventory(repository("a", manifests), repository("b", manifests), manifests=manifests),
        DEFAULT,
        NOW,
    )
    assert sorted(a.target for a in plan.manifest_deletes) == [f"a@{app.digest}", f"b@{app.digest}"]
    assert plan.summary.blobs_reclaimable == 4
    assert plan.summary.bytes_reclaimable == 500 + 3 * 1000


def test_deleting_the_image_in_one_repository_frees_nothing_it_still_has_in_another() -> None:
    app = image("app", "base", "top")
    manifests = [app]
    kept_elsewhere = repository("b", manifests, {"latest": (app, OLD)})
    plan = build_plan(
        inventory(repository("a", manifests), kept_elsewhere, manifests=manifests), DEFAULT, NOW
    )
    assert [a.target for a in plan.actions] == [f"a@{app.digest}"]
    assert plan.summary.bytes_reclaimable == 0


def test_an_unreadable_kept_manifest_keeps_every_revision_of_its_repository() -> None:
    """Its children and referrers are unknown: any untagged manifest may be one of them."""
    mystery = digest_of("unparsable index")
    old = image("old", "x")
    repo = Repository(
        "app", {"latest": Tag("app", "latest", mystery, OLD)}, {mystery: OLD, old.digest: OLD}
    )
    plan = build_plan(inventory(repo, manifests=[old]), DEFAULT, NOW)
    assert plan.actions == ()


def test_an_unreadable_untagged_manifest_is_never_deleted() -> None:
    mystery = digest_of("unparsable, untagged")
    repo = Repository("app", {}, {mystery: OLD})
    assert build_plan(inventory(repo, manifests=[]), DEFAULT, NOW).actions == ()


def test_the_summary_counts_what_the_plan_does() -> None:
    build = index("build", AMD64, ARM64)
    manifests = [build, AMD64, ARM64]
    repo = repository("app", manifests, {"build-7": (build, OLD), "latest": (AMD64, OLD)})
    plan = build_plan(inventory(repo, manifests=manifests), DEFAULT, NOW)
    summary = plan.summary.to_json()
    assert summary == {
        "repositories": 1,
        "tags": 2,
        "tags_to_delete": 1,
        "manifests": 3,
        "manifests_to_delete": 2,
        "bytes_reclaimable": 300 + 500 + 1000 + 1000,  # index, arm64 manifest, config, layer
        "blobs_reclaimable": 4,
        "bytes_already_unreferenced": 0,
        "repositories_skipped": 0,
    }
    assert [a.to_json()["action"] for a in plan.actions] == [
        ActionKind.UNTAG,
        ActionKind.DELETE_MANIFEST,
        ActionKind.DELETE_MANIFEST,
    ]


def test_a_signature_tag_on_a_platform_of_the_index_it_signs_keeps_the_waves_in_order() -> None:
    """Tags are not content-addressed, so ``sha256-<index>.sig`` may tag a platform of that
    index: a cycle (index -> platform, signature -> index). It must be broken at the tie,
    never by deleting a platform before its index (found by the ordering property: a single
    pass over the cycle lifted the index to a later wave than its other platform)."""
    build = index("build", AMD64, ARM64)
    manifests = [build, AMD64, ARM64]
    signature_tag = f"sha256-{build.digest.removeprefix('sha256:')}.sig"
    repo = repository("app", manifests, {signature_tag: (AMD64, OLD)})
    plan = build_plan(inventory(repo, manifests=manifests), DEFAULT, NOW)
    wave = {a.digest: a.wave for a in plan.manifest_deletes}
    assert set(wave) == {build.digest, AMD64.digest, ARM64.digest}
    assert wave[build.digest] < wave[ARM64.digest]
    assert wave[build.digest] < wave[AMD64.digest]
    # the list and the waves tell one story: waves never go down along the list
    waves = [a.wave for a in plan.manifest_deletes]
    assert waves == sorted(waves)


def test_an_orphaned_signature_of_unknown_age_is_deleted() -> None:
    """Its subject was looked up and is gone: not knowing its age decides nothing."""
    signature = referrer("signature", subject=digest_of("deleted long ago"))
    repo = Repository("app", {}, {signature.digest: None})
    plan = build_plan(inventory(repo, manifests=[signature]), DEFAULT, NOW)
    assert deleted(plan) == [signature.digest]


def attestation(of: Manifest) -> Descriptor:
    annotations = {
        "vnd.docker.reference.type": "attestation-manifest",
        "vnd.docker.reference.digest": of.digest,
    }
    digest = digest_of(f"attestation of {of.digest}")
    return Descriptor(mediatypes.OCI_MANIFEST, digest, 300, "unknown/unknown", annotations)


def test_a_buildx_attestation_goes_with_its_index_and_before_its_platform() -> None:
    """Only the index records the tie: kept without it, the attestation would be an orphan
    nothing recognises. It still goes before the platform it describes."""
    entry = attestation(of=AMD64)
    provenance = image(f"attestation of {AMD64.digest}", "provenance")
    build = replace(index("build", AMD64), children=(*index("build", AMD64).children, entry))
    manifests = [build, AMD64, provenance]
    tags = {"build-7": (build, OLD), "amd64": (AMD64, NOW)}
    plan = build_plan(
        inventory(repository("app", manifests, tags), manifests=manifests), DEFAULT, NOW
    )
    assert deleted(plan) == [build.digest, provenance.digest]  # the platform stays, tagged

    everything = build_plan(
        inventory(repository("app", manifests, {"build-7": (build, OLD)}), manifests=manifests),
        DEFAULT,
        NOW,
    )
    wave = {a.digest: a.wave for a in everything.manifest_deletes}
    assert wave[build.digest] < wave[provenance.digest] < wave[AMD64.digest]


def test_a_cycle_of_artifact_tags_does_not_reorder_the_signature_of_an_image_outside_it() -> None:
    """Regression, found by the ordering property (long profile): the cycle was broken by
    freeing the smallest free digest, here ``app``, a subject downstream of the cycle.

    ``sig`` is tagged as the signature of ``app`` and of ``other``, and ``other`` is a
    referrer of ``sig``: sig and other close a cycle; app is outside it and must still go
    after its signature."""
    app = image("app", "base")
    sig = image("sig", "sig layer")
    other = referrer("other", subject=sig.digest)
    manifests = [app, sig, other]
    tags = {
        f"sha256-{app.digest.removeprefix('sha256:')}.sig": (sig, OLD),
        f"sha256-{other.digest.removeprefix('sha256:')}.sig": (sig, OLD),
    }
    everything = Policy(pushed_within=timedelta(0), exclude_tags=None, untagged_grace=timedelta(0))
    plan = build_plan(
        inventory(repository("app", manifests, tags), manifests=manifests), everything, NOW
    )
    order = deleted(plan)
    assert set(order) == {app.digest, sig.digest, other.digest}
    assert order.index(sig.digest) < order.index(app.digest)


def test_a_repository_left_without_tags_and_manifests_is_removed_once_old_enough() -> None:
    """Storage only (``remove_empty``): over the API the plan can only say it is left."""
    gone = image("gone", "layer")
    repo = repository("app", [gone], {"feature-x": (gone, OLD)})
    old = replace(repo, last_write=NOW - timedelta(days=60))
    young = replace(repo, last_write=NOW - timedelta(minutes=5))

    removed = build_plan(inventory(old, manifests=[gone]), DEFAULT, NOW, remove_empty=True)
    assert [e.repository for e in removed.empty] == ["app"] and removed.left_empty == ()
    kept = build_plan(inventory(young, manifests=[gone]), DEFAULT, NOW, remove_empty=True)
    assert kept.empty == ()
    api = build_plan(inventory(old, manifests=[gone]), DEFAULT, NOW)
    assert api.empty == () and api.left_empty == ("app",)
