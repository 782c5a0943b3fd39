"""The keep rules fed by pulls: pulled_within and keep_most_recently_pulled (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from regsweep.core import mediatypes
from regsweep.core.model import Inventory, Manifest, Repository, Tag
from regsweep.core.pulls import Fact, History, Span, with_activity
from regsweep.plan.planner import build_plan
from regsweep.policy.rules import Policy, decide_tags
from tests.unit.strategies import digest_of

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
#: Only the pull rules: no tag pattern, no push age (a tag of unknown push time is kept).
PULLS_ONLY = Policy(pushed_within=None, exclude_tags=None, pulled_within=7 * DAY)


def repository(pulled_days: dict[str, float | None], known: Span | None) -> Repository:
    """Tags pushed 100 days ago, each last pulled ``pulled_days[name]`` days ago (by tag)."""
    tags = {
        name: Tag("app", name, digest_of(name), NOW - 100 * DAY) for name in sorted(pulled_days)
    }
    pulls = {
        ("app", name): Fact(NOW - days * DAY, "notifications", name)
        for name, days in pulled_days.items()
        if days is not None
    }
    inventory = Inventory({"app": Repository("app", tags)}, {}, {})
    return with_activity(inventory, History(known, pulls), age_by_push=False).repositories["app"]


def kept(repo: Repository, policy: Policy) -> dict[str, str]:
    return {d.tag.name: d.reason for d in decide_tags(repo, policy, NOW) if d.keep}


COVERED = Span(NOW - 30 * DAY, NOW)


def test_pulled_within_keeps_what_was_pulled_in_the_window_once_the_store_covers_it() -> None:
    repo = repository({"used": 2, "stale": 8, "never": None}, COVERED)
    assert kept(repo, PULLS_ONLY) == {"used": "pulled 2d ago, within 7d"}
    gone = {d.tag.name: d.reason for d in decide_tags(repo, PULLS_ONLY, NOW) if not d.keep}
    assert gone["stale"].startswith("pushed 100d ago, last pulled 8d ago; kept by no rule")
    assert gone["never"].startswith("pushed 100d ago, no pull recorded; kept by no rule")


def test_a_store_younger_than_the_window_never_reads_as_not_pulled() -> None:
    repo = repository({"used": 1, "before": None}, Span(NOW - 2 * DAY, NOW))
    assert kept(repo, PULLS_ONLY) == {
        "used": "pulled 1d ago, within 7d",
        "before": "no pull recorded within 7d, but pulls are known only since "
        "2026-05-30T12:00:00+00:00",
    }


def test_a_store_that_stopped_hearing_from_the_registry_keeps_every_tag() -> None:
    stopped = Span(NOW - 60 * DAY, NOW - 3 * DAY)  # the listener died three days ago
    repo = repository({"old": 20, "never": None}, stopped)
    reasons = kept(repo, PULLS_ONLY)
    assert set(reasons) == {"old", "never"}
    assert all("known only until 2026-05-29T12:00:00+00:00" in r for r in reasons.values())
    ranked = kept(repo, Policy(pushed_within=None, exclude_tags=None, keep_most_recently_pulled=1))
    assert set(ranked) == {"old", "never"}


def test_an_empty_store_or_none_read_keeps_every_tag_for_the_pull_rules() -> None:
    assert set(kept(repository({"a": None}, None), PULLS_ONLY)) == {"a"}
    unread = Repository("app", {"a": Tag("app", "a", digest_of("a"), NOW - 100 * DAY)})
    assert kept(unread, PULLS_ONLY) == {"a": "no pull store was read, so pulls are unknown"}


def test_most_recently_pulled_ranks_recorded_pulls_and_leaves_the_unpulled_to_other_rules() -> None:
    repo = repository({"a": 3, "b": 1, "c": 9, "never": None}, Span(NOW - 2 * DAY, NOW))
    policy = Policy(pushed_within=None, exclude_tags=None, keep_most_recently_pulled=2)
    assert kept(repo, policy) == {
        "b": "#1 most recently pulled (1d ago; keep 2)",
        "a": "#2 most recently pulled (3d ago; keep 2)",
    }


def test_the_pull_rules_are_ored_with_the_others_and_described() -> None:
    policy = Policy(pulled_within=30 * DAY, keep_most_recently_pulled=3)
    assert policy.reads_pulls
    assert not Policy().reads_pulls
    assert "pushed within 30d, pulled within 30d, the 3 most recently pulled" in policy.describe()
    repo = repository({"latest": None, "pr-1": 40, "pr-2": 50}, Span(NOW - 90 * DAY, NOW))
    # latest by the default pattern; pr-1 and pr-2 by rank (only two tags were pulled)
    assert set(kept(repo, policy)) == {"latest", "pr-1", "pr-2"}


def test_the_plan_carries_last_pulled_only_where_a_pull_is_known() -> None:
    repo = repository({"stale": 8, "never": None}, COVERED)
    manifests = {
        t.digest: Manifest(t.digest, mediatypes.OCI_MANIFEST, 10) for t in repo.tags.values()
    }
    revisions = {t.digest: NOW - 100 * DAY for t in repo.tags.values()}
    inventory = Inventory(
        {"app": Repository("app", repo.tags, revisions)}, manifests, dict.fromkeys(manifests, 10)
    )
    untags = {a.tag: a.to_json() for a in build_plan(inventory, PULLS_ONLY, NOW).untags}
    assert untags["stale"]["last_pulled"] == (NOW - 8 * DAY).isoformat()
    assert "last_pulled" not in untags["never"]
    unread = {n: Tag("app", n, t.digest, t.pushed_at) for n, t in repo.tags.items()}
    no_store = Inventory({"app": Repository("app", unread, revisions)}, manifests, {})
    for action in build_plan(no_store, Policy(exclude_tags=None), NOW).untags:
        assert "last_pulled" not in action.to_json()
