"""Retention rules: which tags a repository keeps, and why (pure, no I/O).

A tag is deleted only when it is positively old: every rule that could keep it was asked
and none did. Unknown push times keep the tag: treating "no timestamp" as "very old" is how
reproducible builds stamped 1970-01-01 lose their images in other tools.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from regsweep.durations import format_duration
from regsweep.model import Repository, Tag

#: Tags never deleted unless the user says otherwise: the usual branch names and version
#: tags (``1``, ``1.2``, ``v1.2.3``, ``10.1.0``, ``2.0.0-rc1``, ``1.2.3-alpine``). A suffix
#: counts only after ``major.minor`` so that ``1234-fix-login`` (a PR build) is not mistaken
#: for a release; ``3.19-alpine`` is a release.
DEFAULT_EXCLUDE_TAGS = (
    r"^(latest|main|master|develop|stable"
    r"|v?\d+|v?\d+\.\d+(\.\d+)?(-[0-9A-Za-z][0-9A-Za-z._-]*)?)$"
)
DEFAULT_MAX_AGE = timedelta(days=30)
DEFAULT_UNTAGGED_GRACE = timedelta(hours=1)


def compile_pattern(pattern: str, what: str) -> re.Pattern[str]:
    """Compile a user regex, raising ``ValueError`` that names the option and the problem."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regex for {what} {pattern!r}: {exc}") from None


@dataclass(frozen=True)
class Policy:
    """One retention policy over the repositories it scopes.

    Protective patterns (``exclude_tags``, ``exclude_repositories``) match anywhere in the
    name (``re.search``): a loose pattern keeps more, never less. The scope pattern
    ``repositories`` must match the whole repository name (``re.fullmatch``): a loose scope
    would delete in repositories the user did not name.
    """

    max_age: timedelta = DEFAULT_MAX_AGE
    exclude_tags: re.Pattern[str] | None = re.compile(DEFAULT_EXCLUDE_TAGS)
    keep_last: int = 0
    repositories: re.Pattern[str] | None = None
    exclude_repositories: re.Pattern[str] | None = None
    untagged_grace: timedelta = DEFAULT_UNTAGGED_GRACE

    def applies_to(self, repository: str) -> bool:
        """Whether this policy may delete anything in ``repository``."""
        if self.repositories is not None and not self.repositories.fullmatch(repository):
            return False
        return not (
            self.exclude_repositories is not None and self.exclude_repositories.search(repository)
        )

    def describe(self) -> str:
        parts = [f"max age {format_duration(self.max_age)}"]
        if self.exclude_tags is not None:
            parts.append(f"exclude tags /{self.exclude_tags.pattern}/")
        if self.keep_last:
            parts.append(f"keep last {self.keep_last}")
        if self.repositories is not None:
            parts.append(f"repositories /{self.repositories.pattern}/")
        if self.exclude_repositories is not None:
            parts.append(f"exclude repositories /{self.exclude_repositories.pattern}/")
        parts.append(f"untagged grace {format_duration(self.untagged_grace)}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class TagDecision:
    """Keep or delete one tag, with the reason in words."""

    tag: Tag
    keep: bool
    reason: str


def decide_tags(repository: Repository, policy: Policy, now: datetime) -> list[TagDecision]:
    """Decide every tag of a repository the policy applies to, in tag-name order."""
    newest = _newest(repository.tags.values(), policy.keep_last)
    decisions = []
    for name in sorted(repository.tags):
        tag = repository.tags[name]
        decisions.append(_decide(tag, policy, now, newest))
    return decisions


def _newest(tags: Iterable[Tag], count: int) -> dict[str, int]:
    """Rank (1 = newest) of the ``count`` most recently pushed tags with a known push time."""
    if count <= 0:
        return {}
    timed = [t for t in tags if t.pushed_at is not None]
    timed.sort(key=lambda t: (t.pushed_at, t.name), reverse=True)
    return {t.name: rank for rank, t in enumerate(timed[:count], start=1)}


def _decide(tag: Tag, policy: Policy, now: datetime, newest: dict[str, int]) -> TagDecision:
    if policy.exclude_tags is not None and policy.exclude_tags.search(tag.name):
        return TagDecision(tag, True, f"matches exclude-tags /{policy.exclude_tags.pattern}/")
    if tag.name in newest:
        rank = newest[tag.name]
        return TagDecision(
            tag, True, f"#{rank} most recently pushed (keep last {policy.keep_last})"
        )
    if tag.pushed_at is None:
        return TagDecision(tag, True, "push time unknown")
    age = now - tag.pushed_at
    if age <= policy.max_age:
        return TagDecision(
            tag,
            True,
            f"pushed {format_duration(age)} ago, within max age {format_duration(policy.max_age)}",
        )
    return TagDecision(
        tag,
        False,
        f"pushed {format_duration(age)} ago, older than max age {format_duration(policy.max_age)}",
    )
