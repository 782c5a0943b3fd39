"""Plan files: what is written is read back exactly; edits, expiry and other registries refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regsweep.core.errors import UsageError
from regsweep.core.model import Digest, Inventory, Repository, Tag
from regsweep.plan.file import (
    PlanFile,
    RegistryIdentity,
    inventory_fingerprint,
    read_plan_file,
    write_plan_file,
)
from regsweep.plan.planner import Action, ActionKind, Plan, Summary

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
D1 = Digest("sha256:" + "1" * 64)
D2 = Digest("sha256:" + "2" * 64)
D3 = Digest("sha256:" + "3" * 64)
HERE = RegistryIdentity("/srv/registry", "http://127.0.0.1:5000")


def saved_plan() -> PlanFile:
    pushed = datetime(2026, 4, 1, 8, 30, 15, 123456, tzinfo=UTC)
    signature = f"sha256-{'1' * 64}.sig"
    actions = (
        Action(
            ActionKind.UNTAG,
            "team/app",
            D1,
            "old",
            tag="feature-x",
            pushed_at=pushed,
            last_pulled=pushed + timedelta(days=3),
        ),
        Action(ActionKind.UNTAG, "team/app", D2, "artifact", tag=signature, subjects=(D1,)),
        Action(ActionKind.DELETE_MANIFEST, "team/app", D2, "artifact", wave=1, subjects=(D1,)),
        Action(ActionKind.DELETE_MANIFEST, "team/app", D3, "child", wave=2, parents=(D2,)),
        Action(ActionKind.DELETE_MANIFEST, "team/app", D1, "tagged only by expired", wave=2),
    )
    summary = Summary(3, 10, 1, 12, 1, 4096, 3, 0)
    return PlanFile(
        created_at=NOW,
        expires_at=NOW + timedelta(hours=24),
        discovered_at=NOW - timedelta(seconds=2),
        registry=HERE,
        policy_source="policies.yaml (sha256:ab)",
        policies=("policy default: every repository; keep the 3 most recently pushed",),
        fingerprint="sha256:" + "f" * 64,
        plan=Plan(actions=actions, summary=summary),
    )


def test_a_plan_file_reads_back_exactly_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    write_plan_file(path, saved_plan())
    assert read_plan_file(path) == saved_plan()
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["actions"].pop(),
        lambda d: d["actions"][0].update(tag="latest"),
        lambda d: d.update(expires_at=(NOW + timedelta(days=365)).isoformat()),
        lambda d: d["registry"].update(storage="/elsewhere"),
        lambda d: d.pop("checksum"),
    ],
    ids=["action removed", "tag changed", "expiry extended", "registry changed", "no checksum"],
)
def test_an_edited_plan_file_is_refused(tmp_path: Path, edit: object) -> None:
    path = tmp_path / "plan.json"
    write_plan_file(path, saved_plan())
    document = json.loads(path.read_text())
    edit(document)  # type: ignore[operator]
    path.write_text(json.dumps(document, indent=2))
    with pytest.raises(UsageError, match="checksum mismatch: the file was edited"):
        read_plan_file(path)


def test_reformatting_a_plan_file_is_not_an_edit(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    write_plan_file(path, saved_plan())
    path.write_text(json.dumps(json.loads(path.read_text())))  # one line, same content
    assert read_plan_file(path) == saved_plan()


def test_an_expired_plan_or_one_for_another_registry_is_refused() -> None:
    plan = saved_plan()
    plan.check_usable(NOW + timedelta(hours=23), HERE)
    with pytest.raises(UsageError, match="the plan expired at 2026-06-02T12:00:00"):
        plan.check_usable(NOW + timedelta(hours=25), HERE)
    with pytest.raises(UsageError, match="made for the registry at /srv/registry"):
        plan.check_usable(NOW, RegistryIdentity("/other/registry", HERE.url))
    with pytest.raises(UsageError, match="made for the registry"):
        plan.check_usable(NOW, RegistryIdentity(HERE.storage, None))


def test_a_plan_file_of_version_1_is_refused_for_lack_of_dependencies(tmp_path: Path) -> None:
    """Version 1 did not record what each action relies on: applied, it would delete an
    artifact under an image kept at apply time."""
    path = tmp_path / "plan.json"
    write_plan_file(path, saved_plan())
    document = json.loads(path.read_text())
    document["version"] = 1
    path.write_text(json.dumps(document))
    with pytest.raises(UsageError, match=r"version 1, .*make a new plan with regsweep plan --out"):
        read_plan_file(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ('{"format": "something-else"}', "not a regsweep plan file"),
        ('{"format": "regsweep-plan", "version": 7}', "version 7"),
    ],
)
def test_what_is_not_a_plan_file_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=message):
        read_plan_file(path)


def test_the_fingerprint_changes_with_a_re_push_and_not_with_listing_order() -> None:
    def inv(pushed: datetime, order: list[str]) -> Inventory:
        tags = {n: Tag("app", n, D1 if n == "a" else D2, pushed) for n in order}
        repo = Repository("app", tags, {D1: pushed, D2: pushed})
        return Inventory({"app": repo}, {}, {})

    first = inventory_fingerprint(inv(NOW, ["a", "b"]))
    assert inventory_fingerprint(inv(NOW, ["b", "a"])) == first
    assert inventory_fingerprint(inv(NOW + timedelta(seconds=1), ["a", "b"])) != first


def test_without_push_times_the_fingerprint_ignores_which_ages_were_read() -> None:
    """Over the API an age is a build time the digest fixes, read only where a rule needs
    it: a plan that read fewer ages than its apply still fingerprints the same registry."""
    aged = {"a": Tag("app", "a", D1, NOW), "b": Tag("app", "b", D2, NOW)}
    unaged = {**aged, "a": Tag("app", "a", D1, None)}

    def fingerprint(tags: dict[str, Tag], *, push_times: bool) -> str:
        inventory = Inventory({"app": Repository("app", tags, {D1: None, D2: None})}, {}, {})
        return inventory_fingerprint(inventory, push_times=push_times)

    assert fingerprint(aged, push_times=False) == fingerprint(unaged, push_times=False)
    assert fingerprint(aged, push_times=True) != fingerprint(unaged, push_times=True)
    moved = {**aged, "a": Tag("app", "a", D2, NOW)}
    assert fingerprint(moved, push_times=False) != fingerprint(aged, push_times=False)
