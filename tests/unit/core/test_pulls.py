"""core/pulls: the period the store saw whole, each tag's activity, API ages by push."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from regsweep.core.model import Digest, Inventory, Repository, Tag
from regsweep.core.pulls import (
    COVERAGE_SLACK,
    Fact,
    History,
    Span,
    known_span,
    unseen_pulls,
    with_activity,
)
from tests.unit.strategies import digest_of

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
OLD = digest_of("old image")
NEW = digest_of("new image")


def span(since_days: float, until_days: float) -> Span:
    """A span from ``since_days`` ago to ``until_days`` ago."""
    return Span(NOW - since_days * DAY, NOW - until_days * DAY)


def fact(days_ago: float, reference: str, digest: Digest | None = None) -> Fact:
    return Fact(NOW - days_ago * DAY, "notifications", reference, digest)


def test_spans_closer_than_the_slack_join_and_the_latest_block_is_what_is_known() -> None:
    restart = COVERAGE_SLACK / 2  # a listener restarted within the slack
    spans = [
        span(100, 90),  # an old imported log, then a long gap
        span(40, 10),
        Span(NOW - 10 * DAY + restart, NOW),
    ]
    assert known_span(spans) == span(40, 0)
    gap = COVERAGE_SLACK * 2
    assert known_span([span(40, 10), Span(NOW - 10 * DAY + gap, NOW)]) == Span(
        NOW - 10 * DAY + gap, NOW
    )
    assert known_span([]) is None


def test_pulls_are_unseen_before_the_store_began_after_it_went_quiet_or_when_it_is_empty() -> None:
    start = NOW - 30 * DAY
    assert unseen_pulls(span(40, 0), start, NOW) is None
    assert unseen_pulls(Span(NOW - 40 * DAY, NOW - COVERAGE_SLACK / 2), start, NOW) is None
    young = unseen_pulls(span(3, 0), start, NOW)
    assert young is not None and "known only since 2026-05-29T12:00:00" in young
    stale = unseen_pulls(span(40, 2), start, NOW)
    assert stale is not None and "known only until 2026-05-30T12:00:00" in stale
    assert unseen_pulls(None, start, NOW) == "the pull store has recorded nothing yet"


def tag(name: str, digest: Digest = OLD, pushed_days: float | None = 100) -> Tag:
    pushed = None if pushed_days is None else NOW - pushed_days * DAY
    return Tag("app", name, digest, pushed)


def test_a_pull_by_the_tags_current_digest_counts_and_the_latest_pull_wins() -> None:
    history = History(
        span(50, 0),
        pulls={
            ("app", "t1"): fact(20, "t1", OLD),
            ("app", OLD): fact(5, OLD, OLD),  # a client that resolved t1 by HEAD
            ("app", NEW): fact(1, NEW, NEW),  # another image: not t1's
            ("other", "t1"): fact(0, "t1"),  # another repository
        },
    )
    activity = history.activity(tag("t1"))
    assert activity.pulled == fact(5, OLD, OLD)
    assert history.activity(tag("t2", digest=digest_of("never pulled"))).pulled is None


def test_api_ages_use_the_recorded_push_only_when_it_put_the_tags_current_digest() -> None:
    pushed = {("app", "t1"): fact(3, "t1", OLD)}
    history = History(span(50, 0), pushes=pushed)
    assert history.activity(tag("t1"), age_by_push=True).aged_by_push
    # the store missed the push of what the tag holds now: its push is not the last one
    assert not history.activity(tag("t1", digest=NEW), age_by_push=True).aged_by_push
    # a delete recorded after the push means a later push the store did not see
    for deleted in ("t1", OLD):
        deleted_after = History(
            span(50, 0), pushes=pushed, deletes={("app", deleted): fact(2, deleted)}
        )
        assert not deleted_after.activity(tag("t1"), age_by_push=True).aged_by_push
    # storage mode: push times are the storage's own, never replaced
    assert not history.activity(tag("t1")).aged_by_push


def test_with_activity_ages_api_tags_by_their_push_and_says_how_many() -> None:
    tags = {"t1": tag("t1", pushed_days=400), "t2": tag("t2", NEW, pushed_days=None)}
    inventory = Inventory(
        {"app": Repository("app", tags)}, {}, {}, age_source="build time (the image's created)"
    )
    history = History(span(50, 0), pushes={("app", "t1"): fact(3, "t1", OLD)})

    api = with_activity(inventory, history, age_by_push=True)
    storage = with_activity(inventory, history, age_by_push=False)

    assert api.repositories["app"].tags["t1"].pushed_at == NOW - 3 * DAY
    assert api.repositories["app"].tags["t2"].pushed_at is None
    assert api.age_source == (
        "build time (the image's created); 1 tag(s) aged by the last push the pull store "
        "recorded instead"
    )
    assert storage.repositories["app"].tags["t1"].pushed_at == NOW - 400 * DAY
    assert storage.age_source == inventory.age_source
    assert storage.repositories["app"].tags["t2"].activity == history.activity(tags["t2"])
