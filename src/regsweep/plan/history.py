"""A registry's past runs, and whether a plan is in line with them.

The brake's share of tags (:mod:`regsweep.plan.brake`) cannot tell a first cleanup, which
rightly deletes most of a registry that was never cleaned, from a cron run gone wrong. The
runs before it can. Once a registry has been cleaned, a run only ever has to delete what
aged since: a tag the last cleanup of its repository kept was kept by a policy; if the
policy of today would have deleted it back then, today's policy is not that one, whatever
the share. That catches what the share misses:

- a **mistyped keep regex** (``^relase-``) or a **shorter age** (``MAX_AGE_SECONDS=30``):
  releases, or last week's builds, that the last cleanup kept would have gone then;
- a **policy scoped to the wrong repositories**: tags that were there at the last cleanup
  in repositories no cleanup ever covered;
- a **clock years ahead** (or behind): the last cleanup is years ago by this clock, or in
  its future. No schedule waits that long between cleanups, and a clock that far off
  makes every tag look old (or young).

Push times are needed to know which tags were there at a past cleanup, so the first two
are judged in storage mode only (over the API, ages are build times: an old image tagged
yesterday looks as if it was there all along).

Pure: the runs are read and written by :mod:`regsweep.state.history`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from regsweep.core.durations import format_duration
from regsweep.core.model import AgedBy, Inventory
from regsweep.plan.planner import Action, ActionKind
from regsweep.policy.rules import PolicySet, decide_tags

#: A tag pushed less than this before a cleanup's discovery began may not have been seen by
#: it: the storage's clock and regsweep's may differ a little.
CLOCK_MARGIN = timedelta(minutes=5)
#: The longest time between two cleanups that is still in line: no schedule waits half a
#: year, and a clock that far ahead ages every tag by as much.
MAX_GAP = timedelta(days=180)
#: Tags named in a finding; the count says how many more.
NAMES_SHOWN = 3


@dataclass(frozen=True, slots=True)
class PastRun:
    """One real run (``run`` or ``apply``) of the registry, as recorded after it."""

    #: the time its plan judged ages by
    at: datetime
    #: when its discovery began: every tag pushed before was seen by it
    seen_before: datetime
    #: tags the registry held, and how many of them it deleted
    tags: int
    tags_deleted: int
    #: repositories its policies covered (skipped ones included)
    covered: frozenset[str]
    #: repositories where it carried out every untag it planned
    cleaned: frozenset[str]


@dataclass(frozen=True)
class History:
    """A registry's recorded runs, oldest first."""

    runs: tuple[PastRun, ...] = ()

    @property
    def first_cleanup(self) -> bool:
        """No run was ever recorded: the next one is the registry's first cleanup."""
        return not self.runs

    @property
    def last(self) -> PastRun | None:
        return self.runs[-1] if self.runs else None

    def last_cleaning(self, repository: str) -> PastRun | None:
        """The last run that carried out every untag it planned in ``repository``."""
        return next((r for r in reversed(self.runs) if repository in r.cleaned), None)

    def ever_covered(self, repository: str) -> bool:
        return any(repository in r.covered for r in self.runs)


class Check(StrEnum):
    """What a plan is out of line with."""

    #: it deletes what the last cleanup kept though this policy would have deleted it then
    POLICY = "policy"
    #: it deletes, where no cleanup ever reached, tags that were there at the last one
    SCOPE = "scope"
    #: the clock reads far after the last cleanup, or before it
    CLOCK = "clock"


@dataclass(frozen=True, slots=True)
class OutOfLine:
    """One way a plan is out of line with the registry's history."""

    check: Check
    #: the repository, or None for the whole run
    repository: str | None
    detail: str

    def __str__(self) -> str:
        where = f"repository {self.repository}" if self.repository else "this run"
        return f"{where}: {self.detail}"


def check_history(
    actions: Iterable[Action],
    inventory: Inventory,
    history: History,
    policies: PolicySet | None,
    now: datetime,
) -> list[OutOfLine]:
    """Every way the untags in ``actions``, planned at ``now`` by ``policies``, are out of
    line with ``history`` (nothing before a first cleanup). Without ``policies`` (a plan
    file applied later) the policy is not judged, only the scope and the clock."""
    last = history.last
    if last is None:
        return []
    found = _clock(last, now)
    by_repository: dict[str, set[str]] = {}
    for action in actions:
        if action.kind is ActionKind.UNTAG and action.tag is not None:
            by_repository.setdefault(action.repository, set()).add(action.tag)
    if inventory.aged_by is not AgedBy.PUSH:
        return found
    for name in sorted(by_repository.keys() & inventory.repositories.keys()):
        untags = by_repository[name]
        cleaned = history.last_cleaning(name)
        if cleaned is not None:
            if policies is not None:
                found += _policy_changed(inventory, name, untags, cleaned, policies)
        elif not history.ever_covered(name):
            found += _scope_grew(inventory, name, untags, last)
    return found


def _clock(last: PastRun, now: datetime) -> list[OutOfLine]:
    if now < last.at - CLOCK_MARGIN:
        return [
            OutOfLine(
                Check.CLOCK,
                None,
                f"the clock reads {now:%Y-%m-%d %H:%M} UTC, before the last cleanup "
                f"({last.at:%Y-%m-%d %H:%M} UTC): check the clock",
            )
        ]
    if now - last.at > MAX_GAP:
        return [
            OutOfLine(
                Check.CLOCK,
                None,
                f"the last cleanup was {format_duration(now - last.at)} ago by this clock "
                f"({last.at:%Y-%m-%d}): a clock that far ahead makes every tag look old; "
                "check the clock",
            )
        ]
    return []


def _policy_changed(
    inventory: Inventory, name: str, untags: set[str], cleaned: PastRun, policies: PolicySet
) -> list[OutOfLine]:
    """Untags of tags the cleanup ``cleaned`` saw and kept, which today's policy would
    have deleted then: today's policy is not the one that ran."""
    policy = policies.policy_for(name)
    repository = inventory.repositories[name]
    seen = cleaned.seen_before - CLOCK_MARGIN
    then = {
        tag_name: tag
        for tag_name, tag in repository.tags.items()
        if tag.pushed_at is not None and tag.pushed_at <= seen
    }
    if policy is None or not untags & then.keys():
        return []
    as_then = decide_tags(replace(repository, tags=then), policy, cleaned.at)
    kept_then = sorted(d.tag.name for d in as_then if not d.keep and d.tag.name in untags)
    if not kept_then:
        return []
    return [
        OutOfLine(
            Check.POLICY,
            name,
            f"would delete {_names(kept_then)}, which the cleanup of "
            f"{cleaned.at:%Y-%m-%d %H:%M} UTC kept though this policy would have deleted "
            "them then: the policy is not the one that ran (a mistyped keep regex? a "
            "shorter age?)",
        )
    ]


def _scope_grew(
    inventory: Inventory, name: str, untags: set[str], last: PastRun
) -> list[OutOfLine]:
    """Untags, in a repository no run ever covered, of tags that were there at the last
    run: the policies reach repositories they did not reach before."""
    repository = inventory.repositories[name]
    seen = last.seen_before - CLOCK_MARGIN
    there = sorted(
        t
        for t in untags
        if (tag := repository.tags.get(t)) is not None
        and tag.pushed_at is not None
        and tag.pushed_at <= seen
    )
    if not there:
        return []
    return [
        OutOfLine(
            Check.SCOPE,
            name,
            f"would delete {_names(there)}, there at the last cleanup "
            f"({last.at:%Y-%m-%d %H:%M} UTC), which no cleanup ever covered: is the policy "
            "scoped to the wrong repositories?",
        )
    ]


def _names(tags: list[str]) -> str:
    shown = ", ".join(tags[:NAMES_SHOWN])
    more = f" and {len(tags) - NAMES_SHOWN} more" if len(tags) > NAMES_SHOWN else ""
    return f"{len(tags)} tags ({shown}{more})"
