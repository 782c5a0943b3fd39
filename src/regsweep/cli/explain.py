"""``regsweep explain REPO[:TAG|@DIGEST]``: which policy, which rules, what happens, in words.

Everything shown comes from the same steps as a run's plan, narrowed to the repository
(:func:`regsweep.pipeline.plan_registry` with ``only``), and the planner's own reasoning
for it (:func:`regsweep.plan.planner.plan_repository`), so the explanation is what a run
would do: a repository the run skips for damage is explained as skipped, never as the
deletions its unreadable files would make look safe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import click

from regsweep.cli.options import options, settings_from
from regsweep.cli.planning import plan_from
from regsweep.cli.render import abbreviate_digests
from regsweep.cli.settings import Group
from regsweep.cli.terminal import Terminal
from regsweep.core import names
from regsweep.core.durations import format_duration
from regsweep.core.errors import UsageError
from regsweep.core.model import AgedBy, Digest, Inventory, Tag, parse_digest
from regsweep.plan.planner import Action, RepositoryPlan, plan_repository
from regsweep.policy.rules import (
    MostRecentlyPulled,
    MostRecentlyPushed,
    PulledWithin,
    PushedWithin,
    TagDecision,
    UnknownPushTime,
)


@click.command("explain")
@click.argument("reference")
@options(Group.REGISTRY, Group.API, Group.POLICY, Group.PULLS, Group.IN_USE)
def explain_command(reference: str, output: str, **params: Any) -> None:
    """Explain the decision for a repository, a tag (REPO:TAG) or a manifest (REPO@DIGEST)."""
    repository, tag, digest = parse_reference(reference)
    settings = settings_from(params)
    terminal = Terminal(json_output=output == "json")
    planned = plan_from(settings, terminal, only=repository)
    inventory = planned.inventory
    skipped = next((s for s in planned.plan.skipped if s.repository == repository), None)
    if repository not in inventory.repositories and skipped is None:
        raise UsageError(
            f"no repository {repository!r} in the registry (regsweep plan --show-kept lists them)"
        )
    policy = planned.policies.policy_for(repository)
    if policy is None:
        data: dict[str, Any] = {
            "repository": repository,
            "policy": None,
            "decision": "left alone: no policy matches this repository, nothing in it is deleted",
            "policies_tried": [p.describe() for p in planned.policies.policies],
        }
    elif skipped is not None:
        data = {
            "repository": repository,
            "policy": policy.name,
            "policy_description": policy.describe(),
            "decision": _SKIPPED,
            **skipped.to_json(),
        }
    else:
        explained = plan_repository(
            inventory.repositories[repository],
            inventory.manifests,
            policy,
            planned.now,
            aged=inventory.aged_by,
        )
        data = _explain(explained, inventory, tag, digest, planned.now)
        if planned.pulls is not None:
            data["pulls"] = planned.pulls.to_json()
    if terminal.json_output:
        terminal.json(data)
    else:
        found = inventory.repositories.get(repository)
        tags = found.tags.values() if found is not None else ()
        _render(terminal, data, {t.name: inventory.aged_by.of(t) for t in tags})


#: Why a run deletes nothing in a damaged repository, and what gets past it.
_SKIPPED = (
    "skipped: discovery could not read it whole, and what it could not read may hide a "
    "manifest, so a run deletes nothing in it; repair the files below (docs/damage.md), "
    "or leave it out with --exclude-repositories"
)


def parse_reference(reference: str) -> tuple[str, str | None, Digest | None]:
    """``REPO``, ``REPO:TAG`` or ``REPO@sha256:...``, each part checked."""
    tag: str | None = None
    digest: Digest | None = None
    repository = reference
    try:
        if "@" in reference:
            repository, text = reference.split("@", 1)
            digest = parse_digest(text)
        elif ":" in reference:
            repository, tag = reference.rsplit(":", 1)
            names.check_tag(tag)
        names.check_repository(repository)
    except ValueError as exc:
        raise UsageError(f"{reference!r}: {exc}; expected REPO, REPO:TAG or REPO@DIGEST") from None
    return repository, tag, digest


def _explain(
    planned: RepositoryPlan,
    inventory: Inventory,
    tag: str | None,
    digest: Digest | None,
    now: datetime,
) -> dict[str, Any]:
    repository = planned.repository
    decisions = {d.tag.name: d for d in planned.decisions}
    deletes = {a.digest: a for a in planned.deletes}
    if tag is not None:
        if tag not in decisions:
            raise UsageError(f"no tag {tag!r} in repository {repository.name!r}")
        tags = [decisions[tag]]
        digests = [decisions[tag].tag.digest]
    elif digest is not None:
        if digest not in repository.revisions:
            raise UsageError(f"no manifest {digest} in repository {repository.name!r}")
        tags = [d for d in planned.decisions if d.tag.digest == digest]
        digests = [digest]
    else:
        tags = list(planned.decisions)
        digests = sorted(repository.revisions)
    return {
        "repository": repository.name,
        "policy": planned.policy.name,
        "policy_description": planned.policy.describe(),
        "tags": [_tag(d, planned, inventory, now) for d in tags],
        "manifests": [_manifest(d, planned, inventory, deletes) for d in digests],
    }


def _tag(
    decision: TagDecision, planned: RepositoryPlan, inventory: Inventory, now: datetime
) -> dict[str, Any]:
    tag = decision.tag
    matched = dict(decision.matches)
    fed = {} if tag.activity is None else _activity(tag, planned, inventory, now)
    return {
        "tag": tag.name,
        "digest": tag.digest,
        "pushed_at": tag.pushed_at.isoformat() if tag.pushed_at else None,
        "pushed_ago": format_duration(now - tag.pushed_at) if tag.pushed_at else None,
        "decision": "keep" if decision.keep else "delete",
        "reason": decision.reason,
        # an artifact tag follows its subject: the keep rules are not asked
        "artifact_of": decision.artifact_of,
        "rules": []
        if decision.artifact_of
        else [
            {"rule": rule.describe(), "keeps": rule in matched, "why": matched.get(rule)}
            for rule in planned.policy.rules()
        ],
        **fed,
    }


#: The rules a tag's last pull feeds, and those its push time feeds.
_PULL_RULES = (PulledWithin, MostRecentlyPulled)
_PUSH_RULES = (PushedWithin, MostRecentlyPushed, UnknownPushTime)


def _activity(
    tag: Tag, planned: RepositoryPlan, inventory: Inventory, now: datetime
) -> dict[str, Any]:
    """The tag's last pull and push as the pull store and the inventory know them, each
    with the rules of the policy it fed (shown only when a pull store was read)."""
    assert tag.activity is not None
    rules = planned.policy.rules()
    pulled = tag.activity.pulled
    last_pulled = None
    if pulled is not None:
        last_pulled = {
            "at": pulled.at.isoformat(),
            "ago": format_duration(now - pulled.at),
            "by": "tag" if pulled.reference == tag.name else f"digest {pulled.reference}",
            "source": pulled.source,
            "rules": [r.describe() for r in rules if isinstance(r, _PULL_RULES)],
        }
    pushed = tag.activity.pushed
    if tag.activity.aged_by_push and pushed is not None:
        push_source = f"the last push the pull store recorded ({pushed.source})"
    else:
        push_source = inventory.age_source.split(";")[0]
    return {
        "last_pulled": last_pulled,
        "last_pushed": {
            "at": tag.pushed_at.isoformat() if tag.pushed_at else None,
            "source": push_source,
            "recorded": pushed.at.isoformat() if pushed is not None else None,
            "rules": [r.describe() for r in rules if isinstance(r, _PUSH_RULES)],
        },
    }


def _manifest(
    digest: Digest, planned: RepositoryPlan, inventory: Inventory, deletes: dict[Digest, Action]
) -> dict[str, Any]:
    manifest = inventory.manifests.get(digest)
    deleted = deletes.get(digest)
    why = deleted.reason if deleted else planned.why_kept(digest, inventory.manifests)
    return {
        "digest": digest,
        "media_type": manifest.media_type if manifest else None,
        "tags": sorted(t.name for t in planned.repository.tags.values() if t.digest == digest),
        "decision": "delete" if deleted else "keep",
        "reason": why,
    }


def _render(terminal: Terminal, data: dict[str, Any], aged: Mapping[str, AgedBy]) -> None:
    """The explanation in words, digests shortened as in every text output (JSON: whole);
    ``aged``: what each tag's time is (a push, or over the API a build)."""

    def say(text: str) -> None:
        terminal.out.print(abbreviate_digests(text), markup=False)

    def verdict(decision: str, what: str) -> None:
        mark = "[green]KEEP[/green]" if decision == "keep" else "[red]DELETE[/red]"
        terminal.out.print(f"  decision: {mark} {what}", highlight=False)

    if data["policy"] is None:
        say(f"{data['repository']}: {data['decision']}")
        for line in data["policies_tried"]:
            say(f"  not in the scope of {line}")
        return
    if "problems" in data:
        say(f"{data['repository']}: {data['policy_description']}")
        say(f"  {data['decision']}")
        for problem in data["problems"]:
            say(f"    {problem['location']}: {problem['message']}")
        return
    say(f"{data['repository']}: {data['policy_description']}")
    for tag in data["tags"]:
        its = aged[tag["tag"]]
        ago = f"{its.value} {tag['pushed_ago']} ago" if tag["pushed_ago"] else its.unknown
        say(f"\ntag {tag['tag']} -> {tag['digest']} ({ago})")
        if tag["artifact_of"]:
            say(
                f"  artifact of {tag['artifact_of']}: kept exactly as long as it "
                "(the keep rules do not apply)"
            )
            say(f"  because: {tag['reason']}")
        else:
            _render_activity(say, tag)
            say("  keep rules (any one keeps the tag):")
        for rule in tag["rules"]:
            mark = "yes" if rule["keeps"] else "no "
            why = f": {rule['why']}" if rule["why"] else ""
            say(f"    {mark} {rule['rule']}{why}")
        verdict(tag["decision"], "the tag")
    for manifest in data["manifests"]:
        tags = f" (tags: {', '.join(manifest['tags'])})" if manifest["tags"] else " (untagged)"
        say(f"\nmanifest {manifest['digest']}{tags}")
        verdict(manifest["decision"], "the manifest")
        say(f"  because: {manifest['reason']}")


def _render_activity(say: Callable[[str], None], tag: dict[str, Any]) -> None:
    """The last pull and push lines of a tag, when a pull store was read."""
    if "last_pushed" not in tag:
        return
    pulled = tag["last_pulled"]
    if pulled is None:
        say("  last pull: none recorded")
    else:
        feeds = f" -> {', '.join(pulled['rules'])}" if pulled["rules"] else ""
        say(f"  last pull: {pulled['ago']} ago, by {pulled['by']} ({pulled['source']}){feeds}")
    pushed = tag["last_pushed"]
    feeds = f" -> {', '.join(pushed['rules'])}" if pushed["rules"] else ""
    ago = f"{tag['pushed_ago']} ago" if tag["pushed_ago"] else "unknown"
    say(f"  last push: {ago} ({pushed['source']}){feeds}")
