"""Retention policies: which tags a repository keeps, and why (pure, no I/O).

A policy is a list of keep rules, ORed: a tag is kept when any rule keeps it and deleted
when none does. Each rule is a small class that names every tag it keeps with the reason,
so the plan, the dry run and ``regsweep explain`` all print the words of the rule that
decided, never a second reading of it.

A tag is deleted only when it is positively unwanted: unknown push times always keep the
tag. Treating "no timestamp" as "very old" is how reproducible builds stamped 1970-01-01
lose their images in other tools, and a tag that cannot be ranked by push time cannot be
said to be outside the N most recent either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from regsweep.core.artifacts import tag_subject
from regsweep.core.durations import format_duration
from regsweep.core.model import AgedBy, Digest, Repository, Tag
from regsweep.core.pulls import unseen_pulls
from regsweep.policy.in_use import InUse, InUseImages

#: Tags never deleted unless the user says otherwise: the usual branch names and version
#: tags (``1``, ``20``, ``v3``, ``1.2``, ``v1.2.3``, ``10.1.0``, ``2.0.0-rc1``,
#: ``1.2.3-alpine``, ``3.19-alpine``), and nothing else.
#:
#: A bare number is a major version only up to three digits. CI registries fill up with
#: build numbers (``1234``), dates (``20240101``) and all-digit commit hashes
#: (``4417358``): protecting every number kept exactly the images a cleanup is for. Majors
#: of real software stay below 1000 (``node:22``, ``postgres:17``, ``alpine:3``) while a
#: build counter passes 1000 early in a project's life, dates have eight digits and short
#: hashes seven. The price, on the side of keeping: a CI's first 999 builds are kept.
#:
#: A dotted version is kept whatever its numbers: calendar versions (``24.04``,
#: ``2024.1.0``, ``2024.01.15``) are releases, and a pattern cannot tell them from a date
#: written with dots. A suffix counts only after ``major.minor`` so that ``1234-fix-login``
#: or ``12-fix-login`` (PR builds) are not mistaken for releases.
DEFAULT_EXCLUDE_TAGS = (
    r"^(latest|main|master|develop|stable"
    r"|v?\d{1,3}|v?\d+\.\d+(\.\d+)?(-[0-9A-Za-z][0-9A-Za-z._-]*)?)$"
)
DEFAULT_PUSHED_WITHIN = timedelta(days=30)
DEFAULT_UNTAGGED_GRACE = timedelta(hours=1)
DEFAULT_POLICY_NAME = "default"
MAX_RULES_TEXT_IN_REASON = 80


def compile_pattern(pattern: str, what: str) -> re.Pattern[str]:
    """Compile a user regex, raising ``ValueError`` that names the option and the problem."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regex for {what} /{pattern}/: {exc}") from None


class KeepRule(Protocol):
    """One reason to keep tags. Rules see a repository's tags together (for rankings)."""

    def describe(self) -> str:
        """The rule in words, as the user wrote it."""
        ...

    def keeps(self, tags: Sequence[Tag], now: datetime, aged: AgedBy) -> dict[str, str]:
        """Every tag (by name) this rule keeps, with the reason in words (``aged``: what
        the tags' times are, pushes or builds)."""
        ...


@dataclass(frozen=True)
class TagPattern:
    """Keep tags whose name matches a regex anywhere (``re.search``).

    A protective pattern matches anywhere: a loose pattern keeps more, never less.
    """

    pattern: re.Pattern[str]

    def describe(self) -> str:
        return f"tags matching /{self.pattern.pattern}/"

    def keeps(self, tags: Sequence[Tag], now: datetime, aged: AgedBy) -> dict[str, str]:
        why = f"matches /{self.pattern.pattern}/"
        return {t.name: why for t in tags if self.pattern.search(t.name)}


@dataclass(frozen=True)
class PinnedDigests:
    """Keep tags pointing at digests the user pinned (the planner keeps the manifests too)."""

    digests: frozenset[Digest]

    def describe(self) -> str:
        return f"{len(self.digests)} pinned digest{'s' if len(self.digests) != 1 else ''}"

    def keeps(self, tags: Sequence[Tag], now: datetime, aged: AgedBy) -> dict[str, str]:
        return {t.name: f"points to pinned {t.digest}" for t in tags if t.digest in self.digests}


@dataclass(frozen=True)
class MostRecentlyPushed:
    """Keep the N most recently pushed tags (by last push, never by name or build date)."""

    count: int

    def describe(self) -> str:
        return f"the {self.count} most recently pushed"

    def keeps(self, tags: Sequence[Tag], now: datetime, aged: AgedBy) -> dict[str, str]:
        timed = sorted(
            (t for t in tags if t.pushed_at is not None),
            key=lambda t: (t.pushed_at, t.name),
            reverse=True,
        )
        return {
            t.name: f"#{rank} most recently {aged.of(t).value} (keep last {self.count})"
            for rank, t in enumerate(timed[: self.count], start=1)
        }


_RELEASE = re.compile(r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")


@dataclass(frozen=True)
class NewestVersions:
    """Keep the tags of the N highest release versions (``1.2.3``, ``v1.2.3``).

    Versions are compared as numbers (``1.10.0`` is above ``1.9.0``), not as text. Only
    plain releases count: a pre-release (``2.0.0-rc1``) or a variant (``1.2.3-alpine``) is
    not counted, so a burst of release candidates cannot push the last real releases out.
    ``v1.2.3`` and ``1.2.3`` are the same version and are kept together.
    """

    count: int

    def describe(self) -> str:
        return f"the {self.count} newest release versions"

    def keeps(self, tags: Sequence[Tag], now: datetime, aged: AgedBy) -> dict[str, str]:
        versions: dict[str, tuple[int, int, int]] = {}
        for tag in tags:
            match = _RELEASE.fullmatch(tag.name)
            if match is not None:
                major, minor, patch = (int(g) for g in match.groups())
                versions[tag.name] = (major, minor, patch)
        newest = sorted(set(versions.values()), reverse=True)[: self.count]
        rank = {version: i for i, version in enumerate(newest, start=1)}
        return {
            name: f"version {'.'.join(map(str, v))} is #{rank[v]} of the newest "
            f"{self.count} releases"
            for name, v in versions.items()
            if v in rank
        }


@dataclass(frozen=True)
class PushedWithin:
    """Keep tags last pushed no longer ago than a duration (a re-push renews a tag)."""

    duration: timedelta

    def describe(self) -> str:
        return f"pushed within {format_duration(self.duration)}"

    def keeps(self, tags: Sequence[Tag], now: datetime, aged: AgedBy) -> dict[str, str]:
        kept = {}
        for tag in tags:
            if tag.pushed_at is not None and now - tag.pushed_at <= self.duration:
                age = format_duration(now - tag.pushed_at)
                within = format_duration(self.duration)
                kept[tag.name] = f"{aged.of(tag).value} {age} ago, within {within}"
        return kept


@dataclass(frozen=True)
class PulledWithin:
    """Keep tags pulled (by name, or by their digest) no longer ago than a duration.

    A pull the store does not hold counts against a tag only when the store saw the whole
    window: while it covers less (it began recently, or its listener stopped), every tag
    without a pull in the window is kept, and the reason says since when pulls are known.
    """

    duration: timedelta

    def describe(self) -> str:
        return f"pulled within {format_duration(self.duration)}"

    def keeps(self, tags: Sequence[Tag], now: datetime, aged: AgedBy) -> dict[str, str]:
        start = now - self.duration
        kept = {}
        for tag in tags:
            activity = tag.activity
            if activity is None:
                kept[tag.name] = "no pull store was read, so pulls are unknown"
                continue
            pulled = activity.pulled
            if pulled is not None and pulled.at >= start:
                age = format_duration(now - pulled.at)
                kept[tag.name] = f"pulled {age} ago, within {format_duration(self.duration)}"
            elif unseen := unseen_pulls(activity.known, start, now):
                window = format_duration(self.duration)
                kept[tag.name] = f"no pull recorded within {window}, but {unseen}"
        return kept


@dataclass(frozen=True)
class MostRecentlyPulled:
    """Keep the N most recently pulled tags, ranked by the pulls the store recorded.

    A tag with no pull recorded is not ranked: the other rules judge it. When the store has
    stopped hearing from the registry, ranks may be missing recent pulls, so every tag is kept.
    """

    count: int

    def describe(self) -> str:
        return f"the {self.count} most recently pulled"

    def keeps(self, tags: Sequence[Tag], now: datetime, aged: AgedBy) -> dict[str, str]:
        kept: dict[str, str] = {}
        ranked = []
        for tag in tags:
            activity = tag.activity
            if activity is None:
                kept[tag.name] = "no pull store was read, so pulls are unknown"
            elif unseen := unseen_pulls(activity.known, now, now):
                kept[tag.name] = f"ranks unknown: {unseen}"
            elif activity.pulled is not None:
                ranked.append((activity.pulled.at, tag.name))
        ranked.sort(reverse=True)
        for rank, (at, name) in enumerate(ranked[: self.count], start=1):
            kept[name] = (
                f"#{rank} most recently pulled ({format_duration(now - at)} ago; keep {self.count})"
            )
        return kept


@dataclass(frozen=True)
class UnknownPushTime:
    """Always part of every policy: a tag whose push time is unknown is never deleted."""

    def describe(self) -> str:
        return "push time unknown (always kept)"

    def keeps(self, tags: Sequence[Tag], now: datetime, aged: AgedBy) -> dict[str, str]:
        return {t.name: aged.unknown for t in tags if t.pushed_at is None}


#: Rules that decide by a tag's name or digest, never by its push time.
_JUDGES_BY_NAME = (TagPattern, PinnedDigests, NewestVersions)
#: Rules that never compare one tag's push time with another's (the pull rules rank by
#: pulls): a tag the rules above keep is decided whatever its push time, and its push time
#: decides no other tag (see Policy.ages_needed).
_NO_RANKING_BY_PUSH = (
    *_JUDGES_BY_NAME,
    PushedWithin,
    PulledWithin,
    MostRecentlyPulled,
    UnknownPushTime,
)


@dataclass(frozen=True)
class Policy:
    """One retention policy over the repositories it scopes.

    The fields are the seed's flat settings plus the policy file's additions, named as the
    setting and the policy file name them: ``pushed_within`` (``--max-age``,
    ``MAX_AGE_SECONDS``, ``keep.pushed_within``), ``exclude_tags`` is "tags matching"
    (``keep.tags``), ``keep_last`` "the N most recently pushed" (``keep.last``); ``None``
    or ``0`` turns a rule off.

    The scope pattern ``repositories`` must match the whole repository name
    (``re.fullmatch``): a loose scope would delete in repositories the user did not name.
    ``exclude_repositories`` matches anywhere (``re.search``): a loose exclusion protects
    more, never less.
    """

    pushed_within: timedelta | None = DEFAULT_PUSHED_WITHIN
    exclude_tags: re.Pattern[str] | None = re.compile(DEFAULT_EXCLUDE_TAGS)
    keep_last: int = 0
    repositories: re.Pattern[str] | None = None
    exclude_repositories: re.Pattern[str] | None = None
    untagged_grace: timedelta = DEFAULT_UNTAGGED_GRACE
    keep_versions: int = 0
    pinned: frozenset[Digest] = field(default_factory=frozenset)
    #: delete artifacts (signatures, SBOMs, attestations) whose subject is no longer in the
    #: repository; artifacts of a subject that is here always follow it
    delete_orphan_artifacts: bool = True
    name: str = DEFAULT_POLICY_NAME
    #: keep tags pulled within this (``keep.pulled_within``), from the pull store
    pulled_within: timedelta | None = None
    #: keep the N most recently pulled tags (``keep.keep_most_recently_pulled``)
    keep_most_recently_pulled: int = 0

    @property
    def reads_pulls(self) -> bool:
        """Whether a rule of this policy needs the pull store."""
        return self.pulled_within is not None or self.keep_most_recently_pulled > 0

    #: the images workloads run (``--in-use``): kept by every policy, see regsweep.policy.in_use
    in_use: InUse | None = None

    def applies_to(self, repository: str) -> bool:
        """Whether this policy may delete anything in ``repository``."""
        if self.repositories is not None and not self.repositories.fullmatch(repository):
            return False
        return not (
            self.exclude_repositories is not None and self.exclude_repositories.search(repository)
        )

    def rules(self) -> tuple[KeepRule, ...]:
        """The keep rules in force, in the order they are shown."""
        rules: list[KeepRule] = []
        if self.exclude_tags is not None:
            rules.append(TagPattern(self.exclude_tags))
        if self.pinned:
            rules.append(PinnedDigests(self.pinned))
        if self.in_use is not None:
            rules.append(InUseImages(self.in_use))
        if self.keep_last > 0:
            rules.append(MostRecentlyPushed(self.keep_last))
        if self.keep_versions > 0:
            rules.append(NewestVersions(self.keep_versions))
        if self.pushed_within is not None:
            rules.append(PushedWithin(self.pushed_within))
        if self.pulled_within is not None:
            rules.append(PulledWithin(self.pulled_within))
        if self.keep_most_recently_pulled > 0:
            rules.append(MostRecentlyPulled(self.keep_most_recently_pulled))
        rules.append(UnknownPushTime())
        return tuple(rules)

    def ages_needed(
        self, repository: str, tags: Mapping[str, Digest], now: datetime
    ) -> frozenset[str]:
        """The tags whose push time the rules need to decide them.

        Over the API a push time is a build time read from the image's config: a request per
        image that only changes a decision if a rule looks at it. A tag kept by its name or
        its digest is kept whatever its age, so its age is not needed, unless a rule ranks
        tags by age (the N most recently pushed: the tag takes a place in the ranking, and
        unaged it would leave that place to an older tag, keeping more than the same policy
        keeps from storage). A rule this method does not know (one added later) is assumed
        to need every age. Artifact tags always get one: an orphan's grace needs it.
        """
        rules = self.rules()
        if not all(isinstance(rule, _NO_RANKING_BY_PUSH) for rule in rules):
            return frozenset(tags)
        named = [Tag(repository, n, d, None) for n, d in tags.items() if tag_subject(n) is None]
        kept: set[str] = set()
        for rule in rules:
            if isinstance(rule, _JUDGES_BY_NAME):
                kept.update(rule.keeps(named, now, AgedBy.PUSH))
        return frozenset(tags.keys() - kept)

    def scope(self) -> str:
        """The repositories this policy covers, in words."""
        text = (
            "every repository"
            if self.repositories is None
            else f"repositories matching /{self.repositories.pattern}/"
        )
        if self.exclude_repositories is not None:
            text += f" except /{self.exclude_repositories.pattern}/"
        return text

    def describe(self) -> str:
        keep = ", ".join(
            rule.describe() for rule in self.rules() if not isinstance(rule, UnknownPushTime)
        )
        parts = [f"{self.name}: {self.scope()}", f"keep {keep or 'nothing'}"]
        parts.append(f"untagged grace {format_duration(self.untagged_grace)}")
        if not self.delete_orphan_artifacts:
            parts.append("orphaned artifacts kept")
        return "; ".join(parts)


@dataclass(frozen=True)
class PolicySet:
    """Ordered policies: the first whose scope matches a repository decides it alone.

    A repository no policy matches is left alone entirely: a policy file that forgets a
    repository must never clean it with some other policy's rules.
    """

    policies: tuple[Policy, ...]
    #: where the policies come from, for reports and plan files
    source: str = "settings (flags, environment, --config)"

    @classmethod
    def of(cls, policy: Policy | PolicySet) -> PolicySet:
        return policy if isinstance(policy, PolicySet) else cls((policy,))

    @property
    def reads_pulls(self) -> bool:
        """Whether some policy keeps tags by their pulls (the pull store must be read)."""
        return any(p.reads_pulls for p in self.policies)

    def protecting(self, in_use: InUse) -> PolicySet:
        """The same policies, each keeping the images in use as well."""
        return replace(self, policies=tuple(replace(p, in_use=in_use) for p in self.policies))

    def policy_for(self, repository: str) -> Policy | None:
        return next((p for p in self.policies if p.applies_to(repository)), None)

    def describe(self) -> list[str]:
        """One line per policy, in the order they are tried."""
        lines = [f"policy {p.describe()}" for p in self.policies]
        if any(p.repositories is not None or p.exclude_repositories for p in self.policies):
            lines.append("repositories no policy matches are left alone")
        return lines


@dataclass(frozen=True, slots=True)
class TagDecision:
    """Keep or delete one tag, with the reason in words and every rule that kept it."""

    tag: Tag
    keep: bool
    reason: str
    policy: str = DEFAULT_POLICY_NAME
    #: (rule, why) for each rule that keeps the tag; empty when the tag is deleted
    matches: tuple[tuple[KeepRule, str], ...] = ()
    #: an artifact tag (cosign, referrers tag schema): the subject that decided it, not a rule
    artifact_of: Digest | None = None


def decide_tags(
    repository: Repository, policy: Policy, now: datetime, aged: AgedBy = AgedBy.PUSH
) -> list[TagDecision]:
    """Decide every tag of a repository by the policy's rules, in tag-name order; ``aged``
    says what the tags' times are (pushes on storage, builds over the API).

    Artifact tags (:func:`regsweep.core.artifacts.tag_subject`) are left out: they follow their
    subject, which only the planner knows the fate of, and they must not take part in
    rankings such as "the last N pushed".
    """
    tags = [repository.tags[name] for name in sorted(repository.tags) if tag_subject(name) is None]
    verdicts = [(rule, rule.keeps(tags, now, aged)) for rule in policy.rules()]
    return [_decide(tag, policy, verdicts, now, aged) for tag in tags]


def _decide(
    tag: Tag,
    policy: Policy,
    verdicts: list[tuple[KeepRule, dict[str, str]]],
    now: datetime,
    aged: AgedBy,
) -> TagDecision:
    matches = tuple((rule, kept[tag.name]) for rule, kept in verdicts if tag.name in kept)
    if matches:
        return TagDecision(tag, True, "; ".join(why for _, why in matches), policy.name, matches)
    assert tag.pushed_at is not None  # UnknownPushTime keeps every other tag
    rules_text = ", ".join(
        rule.describe() for rule, _ in verdicts if not isinstance(rule, UnknownPushTime)
    )
    # The rules are printed once above the plan; repeating a long regex on every line of a
    # plan would bury the reasons, so only short rule lists are spelled out here.
    rules_text = rules_text or "no keep rules"
    shown = f" ({rules_text})" if len(rules_text) <= MAX_RULES_TEXT_IN_REASON else ""
    pulled = ""
    if tag.activity is not None:
        last = tag.activity.pulled
        pulled = ", no pull recorded"
        if last is not None:
            pulled = f", last pulled {format_duration(now - last.at)} ago"
    reason = (
        f"{aged.of(tag).value} {format_duration(now - tag.pushed_at)} ago{pulled}; kept by no rule "
        f"of policy {policy.name}{shown}"
    )
    return TagDecision(tag, False, reason, policy.name)
