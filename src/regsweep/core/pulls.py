"""What the registry says happened to its manifests: pulls, pushes and deletes (pure, no I/O).

Plain distribution records no pull. It does tell: its notifications (one event per manifest
pulled, pushed or deleted, by tag or by digest) and its access logs (one line per request).
The pull store (:mod:`regsweep.state.pulls`) keeps the latest fact of each kind per
reference; this module holds those facts as values, says over which period they are
complete (:func:`known_span`), and hands every tag what is known of it
(:func:`with_activity`), so the keep rules read pulls as plain data on the tag.

A fact absent from the store proves nothing outside the period the store saw whole: a store
that began yesterday cannot say that a tag was "not pulled for 30 days", and one whose
listener stopped last week cannot say anything about this week. That period travels with
every tag (:attr:`TagActivity.known`), and the rules ask :func:`unseen_pulls` before they
let a missing pull count against a tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from regsweep.core.model import Digest, Inventory, Repository, Tag

#: Two periods the store saw, apart by no more than this, count as one: a listener
#: restarted within it loses nothing, because the registry keeps what was not acknowledged
#: and sends it again (every ``backoff``). The same slack is how stale the store's last
#: sign of life may be before its silence stops meaning "nothing was pulled": the listener
#: writes one every :data:`HEARTBEAT`.
COVERAGE_SLACK = timedelta(minutes=10)

#: How often a running listener records that it is still receiving (well within the slack).
HEARTBEAT = timedelta(minutes=1)

#: The product in regsweep's own User-Agent. Its reads of manifests (discovery and
#: verification over the API) are not pulls: counted, every run would renew every tag.
USER_AGENT_PRODUCT = "regsweep"


def is_own_request(user_agent: object) -> bool:
    """Whether a request came from regsweep itself (see :data:`USER_AGENT_PRODUCT`)."""
    return isinstance(user_agent, str) and user_agent.startswith(f"{USER_AGENT_PRODUCT}/")


class Action(StrEnum):
    """What happened to a manifest, as the registry's notifications name it."""

    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Event:
    """One pull, push or delete of a manifest, by tag or by digest (``reference``)."""

    action: Action
    repository: str
    #: the tag, or the digest, the request named
    reference: str
    at: datetime
    #: the manifest's digest, when the source says it (notifications do, access logs do not)
    digest: Digest | None = None


@dataclass(frozen=True, slots=True)
class Fact:
    """The latest event of one kind for one reference, and where regsweep learnt it."""

    at: datetime
    #: ``notifications`` or ``access log FILE``
    source: str
    #: the tag or digest the event named
    reference: str
    digest: Digest | None = None


@dataclass(frozen=True, slots=True)
class Span:
    """A period over which the store holds every event the registry emitted."""

    since: datetime
    until: datetime


def known_span(spans: Iterable[Span], slack: timedelta = COVERAGE_SLACK) -> Span | None:
    """The unbroken period that reaches furthest: spans no further apart than ``slack`` are
    joined. None when the store has seen nothing yet."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: s.since):
        if merged and span.since - merged[-1].until <= slack:
            last = merged[-1]
            merged[-1] = Span(last.since, max(last.until, span.until))
        else:
            merged.append(span)
    return max(merged, key=lambda s: s.until) if merged else None


def unseen_pulls(known: Span | None, start: datetime, now: datetime) -> str | None:
    """Why pulls between ``start`` and ``now`` may be missing from the store; None when the
    store saw that whole period, so a pull it does not hold did not happen."""
    if known is None:
        return "the pull store has recorded nothing yet"
    if known.until < now - COVERAGE_SLACK:
        return f"pulls are known only until {_moment(known.until)}"
    if known.since > start:
        return f"pulls are known only since {_moment(known.since)}"
    return None


def _moment(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class TagActivity:
    """What the pull store knows of one tag, as the keep rules and ``explain`` read it."""

    #: the period the store saw whole (shared by every tag of a plan)
    known: Span | None
    #: the latest pull by the tag's name or by its current digest
    pulled: Fact | None
    #: the latest push by the tag's name
    pushed: Fact | None
    #: the tag's ``pushed_at`` is this push (API mode), not the image's build time
    aged_by_push: bool = False


@dataclass(frozen=True)
class History:
    """Everything the pull store holds, as the planner reads it: for each action,
    (repository, tag or digest) -> the latest such fact. One mapping per action, keyed by
    plain strings: an enum in a key is hashed by Python code, 300k times a 100k-tag plan."""

    known: Span | None
    pulls: Mapping[tuple[str, str], Fact] = field(default_factory=dict)
    pushes: Mapping[tuple[str, str], Fact] = field(default_factory=dict)
    deletes: Mapping[tuple[str, str], Fact] = field(default_factory=dict)

    def activity(self, tag: Tag, *, age_by_push: bool = False) -> TagActivity:
        """What is known of ``tag``: a pull by its name or by its digest both count (a
        client that resolved the tag with a HEAD pulls by digest), and, with
        ``age_by_push``, whether its last push can stand for its age (:meth:`last_push`)."""
        pulled = self.pulls.get((tag.repository, tag.name))
        by_digest = self.pulls.get((tag.repository, tag.digest))
        if by_digest is not None and (pulled is None or by_digest.at > pulled.at):
            pulled = by_digest
        pushed = self.pushes.get((tag.repository, tag.name))
        usable = age_by_push and self.last_push(tag, pushed)
        return TagActivity(self.known, pulled, pushed, aged_by_push=usable)

    def last_push(self, tag: Tag, pushed: Fact | None) -> bool:
        """Whether ``pushed`` is the push that made ``tag`` what it is now: it put the
        tag's current digest, and the store saw neither the tag nor that digest deleted
        since (which would mean a later push it missed)."""
        if pushed is None or pushed.digest != tag.digest:
            return False
        deletes = (
            self.deletes.get((tag.repository, tag.name)),
            self.deletes.get((tag.repository, tag.digest)),
        )
        return all(d is None or d.at < pushed.at for d in deletes)


def with_activity(inventory: Inventory, history: History, *, age_by_push: bool) -> Inventory:
    """``inventory`` with every tag carrying its :class:`TagActivity`.

    ``age_by_push`` (API mode, where ages are build times): a tag whose last push the store
    recorded is aged by that push instead, and ``age_source`` says how many were.
    """
    aged = 0
    repositories: dict[str, Repository] = {}
    for name, repository in inventory.repositories.items():
        tags: dict[str, Tag] = {}
        for tag_name, tag in repository.tags.items():
            activity = history.activity(tag, age_by_push=age_by_push)
            pushed_at = tag.pushed_at
            if activity.aged_by_push:
                assert activity.pushed is not None
                pushed_at = activity.pushed.at
                aged += 1
            tags[tag_name] = Tag(tag.repository, tag.name, tag.digest, pushed_at, activity)
        repositories[name] = replace(repository, tags=tags)
    source = inventory.age_source
    if aged:
        source += f"; {aged} tag(s) aged by the last push the pull store recorded instead"
    return replace(inventory, repositories=repositories, age_source=source)
