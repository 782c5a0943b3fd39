"""The brake's judgement of a plan against the registry's past runs, case by case."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from regsweep.core.model import AgedBy, Digest, Inventory, Repository, Tag
from regsweep.plan.history import Check, History, PastRun, check_history
from regsweep.plan.planner import Action, ActionKind
from regsweep.policy.rules import Policy, PolicySet

D = Digest("sha256:" + "a" * 64)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
LAST = NOW - timedelta(days=1)
DEFAULT = PolicySet.of(Policy(pushed_within=timedelta(days=30)))


def registry(**tags: float) -> Inventory:
    """Repository ``ci``: tag name -> days since it was pushed."""
    found = {n: Tag("ci", n, D, NOW - timedelta(days=d)) for n, d in tags.items()}
    return Inventory({"ci": Repository("ci", found)}, {}, {})


def untags(*names: str, repository: str = "ci") -> list[Action]:
    return [Action(ActionKind.UNTAG, repository, D, "old", tag=n) for n in names]


def ran(at: datetime = LAST, covered: set[str] | None = None) -> History:
    scope = frozenset(covered if covered is not None else {"ci"})
    return History((PastRun(at, at, 10, 2, scope, scope),))


def test_nothing_is_out_of_line_before_a_first_cleanup() -> None:
    assert check_history(untags("b"), registry(b=99), History(), DEFAULT, NOW) == []


def test_what_aged_since_the_last_cleanup_is_in_line() -> None:
    """30.5 days old now, 29.5 at the last cleanup: it aged past the limit since."""
    assert check_history(untags("b"), registry(b=30.5), ran(), DEFAULT, NOW) == []


def test_a_shorter_age_deletes_what_the_last_cleanup_kept() -> None:
    """MAX_AGE_SECONDS=30: a tag two days old would have gone at yesterday's cleanup."""
    short = PolicySet.of(Policy(pushed_within=timedelta(seconds=30)))
    (finding,) = check_history(untags("b"), registry(b=2), ran(), short, NOW)
    assert finding.check is Check.POLICY and finding.repository == "ci"
    assert "1 tags (b)" in str(finding) and "shorter age" in str(finding)


def test_a_mistyped_keep_regex_deletes_the_releases_it_kept() -> None:
    typo = PolicySet.of(
        Policy(pushed_within=timedelta(days=30), exclude_tags=re.compile("^relase-"))
    )
    (finding,) = check_history(
        untags("release-1", "release-2"),
        registry(**{"release-1": 90, "release-2": 90}),
        ran(),
        typo,
        NOW,
    )
    assert finding.check is Check.POLICY and "2 tags (release-1, release-2)" in str(finding)


def test_a_tag_pushed_after_the_last_cleanup_is_never_held_against_the_plan() -> None:
    short = PolicySet.of(Policy(pushed_within=timedelta(seconds=30)))
    assert check_history(untags("b"), registry(b=0.5), ran(), short, NOW) == []


def test_a_repository_no_cleanup_covered_losing_tags_it_had_then_is_a_scope_change() -> None:
    (finding,) = check_history(untags("b"), registry(b=90), ran(covered={"web"}), DEFAULT, NOW)
    assert finding.check is Check.SCOPE and "scoped to the wrong repositories" in str(finding)


def test_a_repository_covered_but_never_cleaned_through_is_a_backlog_not_a_scope_change() -> None:
    """Skipped for damage until repaired: its policy covered it all along."""
    skipped = History((PastRun(LAST, LAST, 10, 0, frozenset({"ci"}), frozenset()),))
    assert check_history(untags("b"), registry(b=90), skipped, DEFAULT, NOW) == []


def test_a_clock_years_ahead_or_behind_is_out_of_line() -> None:
    ahead = NOW + timedelta(days=3 * 365)
    (finding,) = check_history(untags("b"), registry(b=29.5), ran(), DEFAULT, ahead)
    assert finding.check is Check.CLOCK and "check the clock" in str(finding)
    (behind,) = check_history([], registry(), ran(), DEFAULT, LAST - timedelta(days=2))
    assert behind.check is Check.CLOCK and "before the last cleanup" in str(behind)


def test_over_the_api_only_the_clock_is_judged() -> None:
    """Ages are build times there: an old image tagged yesterday looks as old as it is."""
    api = Inventory(registry(b=90).repositories, {}, {}, aged_by=AgedBy.BUILD)
    short = PolicySet.of(Policy(pushed_within=timedelta(seconds=30)))
    assert check_history(untags("b"), api, ran(), short, NOW) == []


def test_a_plan_file_judges_scope_and_clock_but_not_the_policy() -> None:
    assert check_history(untags("b"), registry(b=2), ran(), None, NOW) == []
