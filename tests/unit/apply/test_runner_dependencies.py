"""The runner's dependencies between actions (issue 16): an artifact is deleted only while
its subject is still going, a platform only once the indexes listing it are gone.

The applier here is a fake whose registry state is a table: which manifests something keeps
now (what the real appliers find by re-reading tags and new manifests).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from regsweep.apply.outcome import ActionResult, Outcome
from regsweep.apply.runner import ApplyReport, DigestKept, apply_actions
from regsweep.core.model import Digest
from regsweep.plan.file import RegistryIdentity
from regsweep.plan.planner import Action, ActionKind
from regsweep.state.journal import Journal
from tests.unit.strategies import digest_of

IMAGE = digest_of("image")
SIGNATURE = digest_of("signature")
LISTING = digest_of("referrers listing")
REFERRER = digest_of("referrer")
ATTESTATION = digest_of("attestation")
INDEX = digest_of("index")
AMD = digest_of("amd64")
ARM = digest_of("arm64")


def untag(tag: str, digest: Digest, *subjects: Digest) -> Action:
    return Action(ActionKind.UNTAG, "app", digest, "expired", tag=tag, subjects=subjects)


def delete(
    digest: Digest, wave: int, subjects: tuple[Digest, ...] = (), parents: tuple[Digest, ...] = ()
) -> Action:
    return Action(
        ActionKind.DELETE_MANIFEST,
        "app",
        digest,
        "planned",
        wave=wave,
        subjects=subjects,
        parents=parents,
    )


class FakeApplier:
    """Deletes whatever nothing keeps; ``kept`` says why a manifest stays (its re-read)."""

    def __init__(self, kept: dict[Digest, str] | None = None) -> None:
        self.kept = kept or {}
        self.acted: list[str] = []
        #: (digest, wave) of every re-read of a manifest's state
        self.asked: list[tuple[Digest, int]] = []
        #: tag -> what its untag was told of its manifest's fate
        self.told: dict[str, str | None] = {}

    async def untag(self, action: Action, digest_kept: DigestKept) -> ActionResult:
        assert action.tag is not None
        self.told[action.tag] = await digest_kept()
        self.acted.append(action.target)
        return ActionResult(action, Outcome.DELETED)

    async def delete_manifest(self, action: Action) -> ActionResult:
        why = await self.why_kept(action, action.wave)
        if why is not None:
            return ActionResult(action, Outcome.SKIPPED, why)
        self.acted.append(action.target)
        return ActionResult(action, Outcome.DELETED)

    async def why_kept(self, action: Action, wave: int) -> str | None:
        self.asked.append((action.digest, wave))
        await asyncio.sleep(0)  # a real re-read yields to the other actions of the wave
        return self.kept.get(action.digest)


def apply(actions: list[Action], applier: FakeApplier, journal: Path | None = None) -> ApplyReport:
    async def main() -> ApplyReport:
        with Journal(journal, RegistryIdentity("/srv/registry", None)) as written:
            return await apply_actions(actions, applier, concurrency=4, journal=written)

    return asyncio.run(main())


def outcomes(report: ApplyReport) -> dict[str, tuple[Outcome, str]]:
    return {r.action.target: (r.outcome, r.detail) for r in report.results}


#: The reported case as planned: the image, its cosign signature tag, and an OCI referrer
#: listed under the referrers tag schema; every artifact goes in an earlier wave than it.
SIGNED_IMAGE = [
    untag("feature-x", IMAGE),
    untag("sha256-image.sig", SIGNATURE, IMAGE),
    untag("sha256-image", LISTING, IMAGE),
    delete(SIGNATURE, 1, subjects=(IMAGE,)),
    delete(LISTING, 1, subjects=(IMAGE,)),
    delete(REFERRER, 2, subjects=(IMAGE,), parents=(LISTING,)),
    delete(IMAGE, 3),
]


def test_an_image_kept_at_apply_time_keeps_every_artifact_and_the_journal_says_why(
    tmp_path: Path,
) -> None:
    applier = FakeApplier({IMAGE: "tag feature-x points to it now"})
    journal = tmp_path / "journal.jsonl"

    report = apply(SIGNED_IMAGE, applier, journal)

    kept = f"its image {IMAGE} is kept: tag feature-x points to it now"
    assert outcomes(report) == {
        "app:feature-x": (Outcome.DELETED, ""),
        "app:sha256-image.sig": (Outcome.SKIPPED, kept),
        "app:sha256-image": (Outcome.SKIPPED, kept),
        f"app@{SIGNATURE}": (Outcome.SKIPPED, kept),
        f"app@{LISTING}": (Outcome.SKIPPED, kept),
        f"app@{REFERRER}": (Outcome.SKIPPED, kept),
        f"app@{IMAGE}": (Outcome.SKIPPED, "tag feature-x points to it now"),
    }
    assert applier.acted == ["app:feature-x"]
    assert report.ok  # kept is not failed
    # the image was re-read in the wave of each artifact, not once for all
    assert {wave for digest, wave in applier.asked if digest == IMAGE} == {0, 1, 2, 3}
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    skipped = {r["target"]: r["detail"] for r in records if r.get("outcome") == "skipped"}
    assert skipped[f"app@{REFERRER}"] == kept
    assert skipped["app:sha256-image.sig"] == kept


def test_an_image_still_going_takes_its_artifacts_with_it_first() -> None:
    applier = FakeApplier()

    report = apply(SIGNED_IMAGE, applier)

    assert all(r.outcome is Outcome.DELETED for r in report.results)
    assert applier.acted.index(f"app@{REFERRER}") < applier.acted.index(f"app@{IMAGE}")
    # asked on behalf of each artifact, in its wave, before the image's own delete
    assert (IMAGE, 0) in applier.asked
    assert (IMAGE, 2) in applier.asked


def test_the_platforms_of_an_index_whose_delete_was_skipped_are_not_deleted() -> None:
    """The index's own result decides, without re-reading it for each platform."""
    actions = [
        delete(INDEX, 1),
        delete(AMD, 2, parents=(INDEX,)),
        delete(ARM, 2, parents=(INDEX,)),
    ]
    applier = FakeApplier({INDEX: "tag release points to it now"})

    report = apply(actions, applier)

    kept = f"its index {INDEX} is kept: tag release points to it now"
    assert outcomes(report)[f"app@{AMD}"] == (Outcome.SKIPPED, kept)
    assert outcomes(report)[f"app@{ARM}"] == (Outcome.SKIPPED, kept)
    assert applier.asked == [(INDEX, 1)]
    assert applier.acted == []


def test_an_artifact_of_a_platform_is_kept_when_the_platform_index_is() -> None:
    """The subject is not kept for itself but for its index: the reasons chain up."""
    actions = [
        delete(INDEX, 1),
        delete(REFERRER, 2, subjects=(AMD,)),
        delete(AMD, 3, parents=(INDEX,)),
    ]
    applier = FakeApplier({INDEX: "tag release points to it now"})

    report = apply(actions, applier)

    assert outcomes(report)[f"app@{REFERRER}"] == (
        Outcome.SKIPPED,
        f"its image {AMD} is kept: its index {INDEX} is kept: tag release points to it now",
    )


def test_a_signature_of_an_attestation_is_kept_with_the_image_the_attestation_describes() -> None:
    actions = [
        delete(SIGNATURE, 1, subjects=(ATTESTATION,)),
        delete(ATTESTATION, 2, subjects=(IMAGE,)),
        delete(IMAGE, 3),
    ]
    applier = FakeApplier({IMAGE: "tag feature-x points to it now"})

    report = apply(actions, applier)

    assert outcomes(report)[f"app@{SIGNATURE}"] == (
        Outcome.SKIPPED,
        f"its image {ATTESTATION} is kept: its image {IMAGE} is kept: "
        "tag feature-x points to it now",
    )
    assert applier.acted == []


def test_an_untag_is_told_whether_its_manifest_still_goes() -> None:
    """What an applier that leaves a tag to its manifest's delete needs to know."""
    other = digest_of("other")
    actions = [
        untag("feature-x", IMAGE),
        untag("feature-y", other),
        untag("old-latest", INDEX),
        delete(IMAGE, 1),
        delete(other, 1),
    ]
    applier = FakeApplier({IMAGE: "tag hotfix points to it now"})

    apply(actions, applier)

    assert applier.told == {
        "feature-x": "tag hotfix points to it now",
        "feature-y": None,
        "old-latest": "the plan does not delete it",
    }


def test_artifact_tags_naming_each_other_are_judged_without_looping() -> None:
    """Tags are not content-addressed: two artifacts can each be the other's subject."""
    actions = [delete(SIGNATURE, 1, subjects=(LISTING,)), delete(LISTING, 2, subjects=(SIGNATURE,))]
    applier = FakeApplier()

    report = apply(actions, applier)

    assert all(r.outcome is Outcome.DELETED for r in report.results)
