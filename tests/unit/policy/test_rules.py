"""The retention rules, scenario by scenario: age, default exclusions, keep-last, scope.

(Version ranking, pinned digests, orphaned artifacts and policy sets: test_rules_keep.py;
durations: tests/unit/core/test_durations.py.)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from regsweep.core.model import Digest, Repository, Tag
from regsweep.policy.rules import DEFAULT_EXCLUDE_TAGS, Policy, decide_tags
from regsweep.sources.storage import layout
from regsweep.sources.storage.discovery import discover_storage
from regsweep.sources.storage.local import LocalStore
from tests.support.storage import set_first_push_time, set_push_time
from tests.unit.strategies import NOW, digest_of

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
#: Only the age rule: nothing excluded by name, nothing kept by rank.
AGE_ONLY = Policy(pushed_within=30 * DAY, exclude_tags=None)


IMAGE = digest_of("image")


def repo(*tags: tuple[str, datetime | None], target: Digest = IMAGE) -> Repository:
    return Repository(
        "app", {name: Tag("app", name, target, when) for name, when in tags}, {target: None}
    )


def decisions(repository: Repository, policy: Policy) -> dict[str, tuple[bool, str]]:
    return {d.tag.name: (d.keep, d.reason) for d in decide_tags(repository, policy, NOW)}


def kept(repository: Repository, policy: Policy) -> set[str]:
    return {name for name, (keep, _) in decisions(repository, policy).items() if keep}


# --- age --------------------------------------------------------------------------------------


def write_tag(root: Path, repository: str, tag: str, digest: Digest) -> None:
    for path, content in (
        (layout.tag_current_link(repository, tag), digest),
        (layout.revision_link(repository, digest), digest),
        (layout.blob_data(digest), '{"schemaVersion": 2, "layers": []}'),
    ):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(content)


def test_a_tag_first_pushed_40_days_ago_and_re_pushed_an_hour_ago_is_kept(tmp_path: Path) -> None:
    """Age is the LAST push (mtime of current/link), never the first (the tag folder)."""
    write_tag(tmp_path, "app", "nightly", digest_of("nightly"))
    now = datetime.now(UTC)
    set_first_push_time(tmp_path, "app", "nightly", now - 40 * DAY)
    set_push_time(tmp_path, "app", "nightly", now - HOUR)
    inventory = discover_storage(LocalStore(tmp_path), workers=1)
    tag = inventory.repositories["app"].tags["nightly"]
    assert tag.pushed_at is not None
    assert abs(tag.pushed_at - (now - HOUR)) < timedelta(seconds=2)
    [decision] = decide_tags(inventory.repositories["app"], AGE_ONLY, now)
    assert decision.keep
    assert "pushed 1h ago" in decision.reason


def test_a_tag_pushed_once_40_days_ago_is_deleted_and_says_why() -> None:
    [(keep, reason)] = decisions(repo(("old", NOW - 40 * DAY)), AGE_ONLY).values()
    assert not keep
    assert "pushed 40d ago" in reason and "pushed within 30d" in reason


def test_unknown_push_time_keeps_the_tag_even_with_a_zero_max_age() -> None:
    """No timestamp is not 'very old': that is how builds stamped 1970 lose their images."""
    policy = Policy(pushed_within=timedelta(0), exclude_tags=None)
    assert decisions(repo(("t", None)), policy) == {"t": (True, "push time unknown")}


def test_the_max_age_boundary_keeps_and_one_second_more_deletes() -> None:
    repository = repo(("at", NOW - 30 * DAY), ("over", NOW - 30 * DAY - timedelta(seconds=1)))
    assert kept(repository, AGE_ONLY) == {"at"}


def test_a_push_time_in_the_future_keeps_the_tag() -> None:
    """A clock ahead on the registry host makes a negative age: young, never old."""
    assert kept(repo(("skewed", NOW + HOUR)), AGE_ONLY) == {"skewed"}


def test_without_an_age_rule_only_the_other_rules_keep() -> None:
    """``pushed_within=None`` turns the age rule off: a tag pushed a second ago is not kept
    by it."""
    policy = Policy(pushed_within=None, exclude_tags=re.compile("^keep"))
    repository = repo(("keep-me", NOW - 400 * DAY), ("fresh", NOW - timedelta(seconds=1)))
    assert kept(repository, policy) == {"keep-me"}


# --- the default exclude pattern ------------------------------------------------------------

#: Real-world tag names the default keeps forever: branch names, releases, bare majors.
PROTECTED = [
    "latest",
    "main",
    "master",
    "develop",
    "stable",
    # bare majors, up to three digits (node:22, postgres:17, alpine:3, v3)
    "1",
    "3",
    "20",
    "117",
    "v1",
    "v3",
    # releases, with or without v, patch, pre-release or variant suffix
    "1.2",
    "v1.2",
    "1.2.3",
    "v1.2.3",
    "10.1.0",
    "0.1.0",
    "2.0.0-rc1",
    "1.2.3-rc.1",
    "v2.1.0-beta.2",
    "1.2.3-alpine",
    "3.19-alpine",
    "1.25.3-bookworm",
    # calendar versions: releases, even when they read like a date with dots
    "24.04",
    "2024.1.0",
    "2024.01.01",
]
#: Real-world tag names the default leaves to the age rule: CI builds, dates, commits, branches.
NOT_PROTECTED = [
    # CI build numbers: a number of four digits or more is no major version
    "1234",
    "45678",
    "v1234",
    "4417358",  # a short commit hash that happens to be all digits
    # dates
    "20240101",
    "2024-01-01",
    "20240101-1530",
    # commit hashes
    "a1b2c3d",
    "sha-3f2a9c1",
    "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
    # branch and PR builds
    "feature-x",
    "pr-123",
    "main-12",
    "renovate-lodash-4.x",
    "dependabot-npm-and-yarn-axios-1.6.0",
    "1234-fix-login",  # a PR build: a suffix counts only after major.minor
    "12-fix-login",
    # node:20-alpine style: indistinguishable from the PR build 20-fix-login; a registry
    # that mirrors such images adds them with --exclude-tags
    "20-alpine",
    "build-456",
    "nightly",
    # names that merely contain a protected one: the branch names must match whole
    "latest-foo",
    "foo-latest",
    "main-2024",
    "mainline",
    # almost versions
    "v1.2.3.4",
    "V1.2.3",
    "1.2.3alpine",
    "1.",
    "v",
    "abc123",
]


@pytest.mark.parametrize("name", PROTECTED)
def test_the_default_exclude_pattern_protects_branches_and_versions(name: str) -> None:
    assert re.search(DEFAULT_EXCLUDE_TAGS, name)
    assert kept(repo((name, NOW - 400 * DAY)), Policy()) == {name}


@pytest.mark.parametrize("name", NOT_PROTECTED)
def test_the_default_exclude_pattern_leaves_builds_to_the_age_rule(name: str) -> None:
    assert not re.search(DEFAULT_EXCLUDE_TAGS, name)
    assert kept(repo((name, NOW - 400 * DAY)), Policy()) == set()


def test_an_exclude_pattern_matches_anywhere_in_the_name() -> None:
    """Protective patterns use search: a loose pattern keeps more, never less."""
    policy = Policy(pushed_within=DAY, exclude_tags=re.compile("prod"))
    repository = repo(
        ("preprod", NOW - 90 * DAY), ("prod-1", NOW - 90 * DAY), ("x", NOW - 90 * DAY)
    )
    assert kept(repository, policy) == {"preprod", "prod-1"}


# --- keep last ----------------------------------------------------------------------------------


def test_keep_last_keeps_the_most_recently_pushed_whatever_their_age() -> None:
    policy = Policy(pushed_within=DAY, exclude_tags=None, keep_last=2)
    repository = repo(
        ("a", NOW - 50 * DAY), ("b", NOW - 60 * DAY), ("c", NOW - 40 * DAY), ("d", NOW - 70 * DAY)
    )
    result = decisions(repository, policy)
    assert {name for name, (keep, _) in result.items() if keep} == {"a", "c"}
    assert "#1 most recently pushed" in result["c"][1]
    assert "#2 most recently pushed" in result["a"][1]


def test_keep_last_breaks_push_time_ties_by_name_so_plans_are_stable() -> None:
    same = NOW - 50 * DAY
    policy = Policy(pushed_within=DAY, exclude_tags=None, keep_last=1)
    assert kept(repo(("a", same), ("b", same), ("c", same)), policy) == {"c"}


def test_keep_last_ranks_only_known_push_times_and_unknown_ones_are_kept_anyway() -> None:
    policy = Policy(pushed_within=DAY, exclude_tags=None, keep_last=1)
    repository = repo(("unknown", None), ("newer", NOW - 40 * DAY), ("older", NOW - 50 * DAY))
    assert kept(repository, policy) == {"unknown", "newer"}


def test_keep_last_counts_every_tag_including_those_kept_by_name() -> None:
    """ "The N most recently pushed tags": a re-pushed ``latest`` takes one of the N places.

    (GitLab's keep_n counts only tags its keep regex does not protect; here N counts every
    tag of the repository, as the --keep-last help says.)
    """
    policy = Policy(pushed_within=DAY, keep_last=2)  # default exclude pattern protects latest
    repository = repo(
        ("latest", NOW - 2 * DAY), ("build-3", NOW - 3 * DAY), ("build-2", NOW - 4 * DAY)
    )
    assert kept(repository, policy) == {"latest", "build-3"}


def test_keep_last_zero_keeps_nothing_by_rank() -> None:
    policy = Policy(pushed_within=DAY, exclude_tags=None, keep_last=0)
    assert kept(repo(("only", NOW - 40 * DAY)), policy) == set()


# --- repository scope -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "inside", "outside"),
    [
        ("team", ["team"], ["team/app", "myteam", "teams"]),
        ("team/.*", ["team/app", "team/app/sub"], ["team", "myteam/app", "a/team/app"]),
        ("app|web", ["app", "web"], ["webapp", "app/web", "team/app"]),
    ],
)
def test_the_repository_scope_must_match_the_whole_name(
    pattern: str, inside: list[str], outside: list[str]
) -> None:
    """A scope uses fullmatch: ``team`` must not silently clean ``team/app`` too."""
    policy = Policy(repositories=re.compile(pattern))
    assert all(policy.applies_to(name) for name in inside)
    assert not any(policy.applies_to(name) for name in outside)


@pytest.mark.parametrize(
    ("pattern", "excluded", "included"),
    [
        ("app", ["app", "team/app", "application", "webapp"], ["web", "team/api"]),
        ("^team/", ["team/app", "team/a/b"], ["team", "myteam/app"]),
    ],
)
def test_excluding_repositories_matches_anywhere_in_the_name(
    pattern: str, excluded: list[str], included: list[str]
) -> None:
    """An exclusion uses search: a loose exclusion protects more, never less."""
    policy = Policy(exclude_repositories=re.compile(pattern))
    assert not any(policy.applies_to(name) for name in excluded)
    assert all(policy.applies_to(name) for name in included)


def test_an_exclusion_wins_over_the_scope() -> None:
    policy = Policy(repositories=re.compile("team/.*"), exclude_repositories=re.compile("legacy"))
    assert policy.applies_to("team/app")
    assert not policy.applies_to("team/legacy-app")
