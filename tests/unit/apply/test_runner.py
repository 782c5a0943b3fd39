"""apply_actions with a fake applier and a real journal: waves, the stop at a failure, the
journal lines around every action.

The fake answers each action by its target as a test tells it and records what it was
asked, in order, with what the journal already held on disk at that moment.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from regsweep.apply.outcome import ActionResult, Outcome
from regsweep.apply.runner import ApplyReport, DigestKept, apply_actions
from regsweep.core.errors import OperationError, UsageError
from regsweep.core.model import Digest
from regsweep.plan.file import RegistryIdentity
from regsweep.plan.planner import Action, ActionKind
from regsweep.state.journal import Journal

IMAGE = Digest("sha256:" + "1" * 64)
PLATFORM = Digest("sha256:" + "2" * 64)
MULTI = Digest("sha256:" + "3" * 64)
REGISTRY = RegistryIdentity("/srv/registry", None)


def untag(tag: str, digest: Digest = IMAGE) -> Action:
    return Action(ActionKind.UNTAG, "app", digest, "expired", tag=tag)


def delete(digest: Digest, wave: int) -> Action:
    return Action(ActionKind.DELETE_MANIFEST, "app", digest, "untagged", wave=wave)


class FakeApplier:
    """Answers with ``answers[target]`` (an outcome, or an exception to raise), else DELETED."""

    def __init__(self, journal: Path, answers: dict[str, Outcome | Exception] | None = None):
        self.journal = journal
        self.answers = answers or {}
        self.log: list[str] = []
        #: target -> the journal's lines on disk when the action was carried out
        self.journal_seen: dict[str, list[dict[str, object]]] = {}
        self.in_flight = 0
        self.most_in_flight = 0

    async def untag(self, action: Action, digest_kept: DigestKept) -> ActionResult:
        return await self._act("untag", action)

    async def delete_manifest(self, action: Action) -> ActionResult:
        return await self._act("delete_manifest", action)

    async def _act(self, method: str, action: Action) -> ActionResult:
        self.log.append(f"{method} {action.target}")
        self.journal_seen[action.target] = journal_records(self.journal)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0)  # let every other action that may run now start
        self.in_flight -= 1
        self.log.append(f"done {action.target}")
        answer = self.answers.get(action.target, Outcome.DELETED)
        if isinstance(answer, Exception):
            raise answer
        return ActionResult(action, answer, f"{answer.value} by the fake")


def journal_records(path: Path) -> list[dict[str, object]]:
    """The journal's records without their time and registry (tests/unit/state/test_journal.py)."""
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        del record["time"], record["registry"]
    return records


def apply(
    actions: Sequence[Action], applier: FakeApplier, *, concurrency: int = 4
) -> tuple[ApplyReport, list[ActionResult]]:
    """Run the actions journalled to ``applier.journal``; also what ``on_result`` was given."""
    notified: list[ActionResult] = []
    with Journal(applier.journal, REGISTRY) as journal:
        report = asyncio.run(
            apply_actions(
                actions,
                applier,
                concurrency=concurrency,
                journal=journal,
                on_result=notified.append,
            )
        )
    return report, notified


def outcomes(report: ApplyReport) -> list[tuple[str, Outcome, str]]:
    return [(r.action.target, r.outcome, r.detail) for r in report.results]


def test_each_wave_starts_once_the_one_before_is_done_and_results_come_in_wave_order(
    tmp_path: Path,
) -> None:
    """Given out of order: the platform (wave 2) waits for its index (wave 1), which waits
    for the untags (wave 0), which run together."""
    actions = [delete(PLATFORM, 2), untag("old"), delete(MULTI, 1), untag("older")]
    applier = FakeApplier(tmp_path / "journal.jsonl")

    report, _ = apply(actions, applier)

    assert applier.log == [
        "untag app:old",
        "untag app:older",
        "done app:old",
        "done app:older",
        f"delete_manifest app@{MULTI}",
        f"done app@{MULTI}",
        f"delete_manifest app@{PLATFORM}",
        f"done app@{PLATFORM}",
    ]
    assert [r.action for r in report.results] == [actions[1], actions[3], actions[2], actions[0]]
    assert report.ok


def test_no_more_than_concurrency_actions_run_at_once(tmp_path: Path) -> None:
    applier = FakeApplier(tmp_path / "journal.jsonl")

    report, _ = apply([untag(f"t{i}") for i in range(5)], applier, concurrency=2)

    assert applier.most_in_flight == 2
    assert report.count(Outcome.DELETED) == 5


def test_the_actions_at_once_span_repositories_and_are_reported_in_the_plan_order(
    tmp_path: Path,
) -> None:
    """Over the API a repository's first action waits for its re-reading: with the bound
    held by one repository's actions, the repositories would be read one after another."""
    actions = [
        Action(ActionKind.UNTAG, repository, IMAGE, "expired", tag=tag)
        for repository in ("a", "b", "c")
        for tag in ("t1", "t2")
    ]
    applier = FakeApplier(tmp_path / "journal.jsonl")

    report, _ = apply(actions, applier, concurrency=3)

    started = [line.removeprefix("untag ") for line in applier.log if line.startswith("untag")]
    assert started == ["a:t1", "b:t1", "c:t1", "a:t2", "b:t2", "c:t2"]
    assert [r.action for r in report.results] == actions


def test_every_action_is_journalled_before_it_is_carried_out_and_after_with_its_outcome(
    tmp_path: Path,
) -> None:
    """The ``attempt`` line is on disk while the action runs, so a run killed mid-action
    still shows what it was doing."""
    path = tmp_path / "state" / "journal.jsonl"
    actions = [untag("old"), delete(MULTI, 1)]
    applier = FakeApplier(path, {f"app@{MULTI}": Outcome.ALREADY_GONE})

    _, notified = apply(actions, applier, concurrency=1)

    attempt_old = {"event": "attempt", "action": "untag", "target": "app:old"}
    done_old = {
        "event": "action",
        "action": "untag",
        "target": "app:old",
        "digest": IMAGE,
        "outcome": "deleted",
        "detail": "deleted by the fake",
    }
    attempt_multi = {"event": "attempt", "action": "delete_manifest", "target": f"app@{MULTI}"}
    assert applier.journal_seen == {
        "app:old": [attempt_old],
        f"app@{MULTI}": [attempt_old, done_old, attempt_multi],
    }
    assert journal_records(path) == [
        attempt_old,
        done_old,
        attempt_multi,
        {
            "event": "action",
            "action": "delete_manifest",
            "target": f"app@{MULTI}",
            "digest": MULTI,
            "outcome": "already_gone",
            "detail": "already_gone by the fake",
        },
    ]
    assert [(r.action, r.outcome) for r in notified] == [
        (actions[0], Outcome.DELETED),
        (actions[1], Outcome.ALREADY_GONE),
    ]


@pytest.mark.parametrize(
    "failure",
    [OperationError("registry answered 500"), OSError("disk on fire"), ValueError("bad link")],
    ids=["operation error", "OS error", "value error"],
)
def test_a_failure_stops_the_run_and_what_was_not_started_is_journalled_not_attempted(
    tmp_path: Path, failure: Exception
) -> None:
    """One at a time: ``b`` fails, so ``c`` (same wave, not started yet) and the wave after
    are never asked for; ``a`` was done before and stays done."""
    actions = [untag("a"), untag("b"), untag("c"), delete(IMAGE, 1)]
    applier = FakeApplier(tmp_path / "journal.jsonl", {"app:b": failure})

    report, notified = apply(actions, applier, concurrency=1)

    assert applier.log == ["untag app:a", "done app:a", "untag app:b", "done app:b"]
    stopped = "run stopped at a failure"
    assert outcomes(report) == [
        ("app:a", Outcome.DELETED, "deleted by the fake"),
        ("app:b", Outcome.FAILED, str(failure)),
        ("app:c", Outcome.NOT_ATTEMPTED, stopped),
        (f"app@{IMAGE}", Outcome.NOT_ATTEMPTED, stopped),
    ]
    assert not report.ok
    assert [r.action.target for r in report.failed] == ["app:b"]
    assert [r.action.target for r in notified] == ["app:a", "app:b", "app:c", f"app@{IMAGE}"]
    records = journal_records(applier.journal)
    # what was never started is journalled as such (no attempt line): the journal alone
    # tells what a second run still has to do
    assert [r["target"] for r in records if r["event"] == "attempt"] == ["app:a", "app:b"]
    assert [(r["target"], r["detail"]) for r in records if r.get("outcome") == "not_attempted"] == [
        ("app:c", stopped),
        (f"app@{IMAGE}", stopped),
    ]
    failed_line = {
        "event": "action",
        "action": "untag",
        "target": "app:b",
        "digest": IMAGE,
        "outcome": "failed",
        "detail": str(failure),
    }
    assert failed_line in journal_records(applier.journal)


def test_a_usage_error_aborts_the_run_at_once_and_reaches_the_caller(tmp_path: Path) -> None:
    """Deletes disabled on the registry: every other action would fail the same way, and
    the user must fix the configuration, so the error itself is what the caller gets."""
    actions = [untag("a"), untag("b"), delete(IMAGE, 1)]
    applier = FakeApplier(tmp_path / "journal.jsonl", {"app:a": UsageError("deletes disabled")})

    with pytest.raises(UsageError, match="deletes disabled"):
        apply(actions, applier, concurrency=1)

    assert applier.log == ["untag app:a", "done app:a"]
    assert journal_records(applier.journal) == [
        {"event": "attempt", "action": "untag", "target": "app:a"},
        {"event": "end", "failed": True, "error": "deletes disabled"},
    ]


def test_the_report_counts_outcomes_by_kind_and_lists_all_but_the_deletions(
    tmp_path: Path,
) -> None:
    actions = [untag("gone"), untag("repushed"), untag("old"), delete(MULTI, 1)]
    answers: dict[str, Outcome | Exception] = {
        "app:gone": Outcome.ALREADY_GONE,
        "app:repushed": Outcome.SKIPPED,
    }

    report, _ = apply(actions, FakeApplier(tmp_path / "journal.jsonl", answers))

    assert report.count(Outcome.DELETED, ActionKind.UNTAG) == 1
    assert report.count(Outcome.DELETED, ActionKind.DELETE_MANIFEST) == 1
    assert report.ok  # skipped and already gone are no failure
    assert report.to_json() == {
        "tags_deleted": 1,
        "manifests_deleted": 1,
        "already_gone": 1,
        "skipped": 1,
        "failed": 0,
        "not_attempted": 0,
        "results": [
            {
                **actions[0].to_json(),
                "outcome": "already_gone",
                "detail": "already_gone by the fake",
            },
            {**actions[1].to_json(), "outcome": "skipped", "detail": "skipped by the fake"},
        ],
    }


def test_no_actions_is_an_empty_successful_report(tmp_path: Path) -> None:
    applier = FakeApplier(tmp_path / "journal.jsonl")

    report, notified = apply([], applier)

    assert (report.results, notified, applier.log) == ([], [], [])
    assert report.ok
    assert journal_records(applier.journal) == []
