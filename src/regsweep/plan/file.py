"""Plan files: a plan written for review, applied later exactly as it was approved.

``regsweep plan --out plan.json`` writes one; ``regsweep apply plan.json`` refuses it when

- it was edited: ``checksum`` is the sha256 of the canonical JSON of everything else in the
  file. This detects edits and corruption, not malice: anyone can recompute it, so protect
  approved plans the way the approval itself is protected (a reviewed commit, a CI artefact);
- it expired: a plan describes the registry at one moment; the longer it waits, the more
  of its deletions meet a registry that has moved on;
- it was made for another registry: the storage location and URL must be the same.

``inventory_fingerprint`` (sha256 over every tag with its digest and push time and every
manifest revision, sorted) records what the plan was computed from; ``apply`` reports
whether the registry changed since. It does not refuse a changed registry: every action is
re-checked against the registry as it is when the action runs, as in ``regsweep run``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from regsweep.core import names
from regsweep.core.errors import UsageError
from regsweep.core.model import Digest, Inventory, parse_digest
from regsweep.plan.planner import Action, ActionKind, Plan, Summary

FORMAT = "regsweep-plan"
#: 2: actions name the manifests they rely on being deleted too (``subjects``, ``parents``).
#: A version 1 file has no such record, and applying it would delete an artifact under an
#: image kept at apply time: it is refused (plans expire within a day anyway).
VERSION = 2


@dataclass(frozen=True, slots=True)
class RegistryIdentity:
    """Which registry a plan is for: its storage location, and its URL when one was given."""

    storage: str | None
    url: str | None

    def __str__(self) -> str:
        if self.storage is None:
            return str(self.url)
        return self.storage + (f" ({self.url})" if self.url else "")

    def to_json(self) -> dict[str, str | None]:
        """Both parts, as the plan file and every journal record carry them."""
        return {"storage": self.storage, "url": self.url}


@dataclass(frozen=True)
class PlanFile:
    """A plan written for review, with what ``apply`` checks before running it: its
    lifetime, the registry it was made for, and a fingerprint of what it was made from."""

    created_at: datetime
    expires_at: datetime
    #: when discovery started: every revision older than this was known to the planner
    discovered_at: datetime
    registry: RegistryIdentity
    policy_source: str
    policies: tuple[str, ...]
    fingerprint: str
    plan: Plan

    def check_usable(self, now: datetime, registry: RegistryIdentity) -> None:
        """Refuse an expired plan, or one made for another registry."""
        if now > self.expires_at:
            raise UsageError(
                f"the plan expired at {self.expires_at.isoformat(timespec='seconds')}: "
                "make a new one with regsweep plan --out"
            )
        if registry != self.registry:
            raise UsageError(
                f"the plan was made for the registry at {self.registry}, not {registry}: give "
                "the storage and URL it was made for, or make a plan for this one with "
                "regsweep plan --out"
            )


def inventory_fingerprint(inventory: Inventory, *, push_times: bool = True) -> str:
    """sha256 over the sorted tags (digest, and push time with ``push_times``) and manifest
    revisions.

    Over the API a tag's age is its image's build time, which its digest fixes, and it is
    read only where a rule needs it: without ``push_times`` one registry fingerprints the
    same whichever ages were read.
    """
    hasher = hashlib.sha256()
    for name in sorted(inventory.repositories):
        repository = inventory.repositories[name]
        for tag_name in sorted(repository.tags):
            tag = repository.tags[tag_name]
            pushed = tag.pushed_at.isoformat() if tag.pushed_at and push_times else "-"
            hasher.update(f"tag {name}:{tag_name} {tag.digest} {pushed}\n".encode())
        for digest in sorted(repository.revisions):
            hasher.update(f"manifest {name}@{digest}\n".encode())
    return f"sha256:{hasher.hexdigest()}"


def write_plan_file(path: Path, planned: PlanFile) -> None:
    """Write the plan file, owner-readable only (it maps the registry's content)."""
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": planned.created_at.isoformat(),
        "expires_at": planned.expires_at.isoformat(),
        "discovered_at": planned.discovered_at.isoformat(),
        "registry": planned.registry.to_json(),
        "policy": {"source": planned.policy_source, "policies": list(planned.policies)},
        "inventory_fingerprint": planned.fingerprint,
        "summary": planned.plan.summary.to_json(),
        "actions": [a.to_json() for a in planned.plan.actions],
    }
    document["checksum"] = _checksum(document)
    text = json.dumps(document, indent=2) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write the plan file {path}: {exc.strerror}") from None


def read_plan_file(path: Path) -> PlanFile:
    """Read a plan file and check it is one, unedited; :class:`UsageError` says why not."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"plan file {path}: cannot read it: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"plan file {path}: not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise UsageError(
            f"plan file {path}: not a regsweep plan file (write one with regsweep plan --out)"
        )
    if document.get("version") != VERSION:
        raise UsageError(
            f"plan file {path}: version {document.get('version')!r}, this regsweep reads "
            f"version {VERSION}: make a new plan with regsweep plan --out"
        )
    checksum = document.pop("checksum", None)
    if checksum != _checksum(document):
        raise UsageError(
            f"plan file {path}: checksum mismatch: the file was edited after it was written; "
            "make a new plan instead of editing one"
        )
    try:
        return _parse(document)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"plan file {path}: malformed: {exc!r}") from None


def _checksum(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return f"sha256:{hashlib.sha256(canonical.encode()).hexdigest()}"


def _parse(document: dict[str, Any]) -> PlanFile:
    actions = tuple(_action(a) for a in document["actions"])
    plan = Plan(actions=actions, summary=Summary(**document["summary"]))
    registry = document["registry"]
    policy = document["policy"]
    return PlanFile(
        created_at=_time(document["created_at"]),
        expires_at=_time(document["expires_at"]),
        discovered_at=_time(document["discovered_at"]),
        registry=RegistryIdentity(registry["storage"], registry["url"]),
        policy_source=str(policy["source"]),
        policies=tuple(str(line) for line in policy["policies"]),
        fingerprint=str(document["inventory_fingerprint"]),
        plan=plan,
    )


def _time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"time without a timezone: {text!r}")
    return value


def _action(data: dict[str, Any]) -> Action:
    """An action read back, its names checked as strictly as names read from storage."""
    kind = ActionKind(data["action"])
    tag = data.get("tag")
    if (kind is ActionKind.UNTAG) != (tag is not None):
        raise ValueError(f"{kind.value} action with tag {tag!r}")
    pushed_at = data.get("pushed_at")
    last_pulled = data.get("last_pulled")
    wave = data["wave"]
    if not isinstance(wave, int) or wave < 0:
        raise ValueError(f"invalid wave {wave!r}")
    return Action(
        kind=kind,
        repository=names.check_repository(data["repository"]),
        digest=parse_digest(data["digest"]),
        reason=str(data["reason"]),
        tag=names.check_tag(tag) if tag is not None else None,
        pushed_at=_time(pushed_at) if pushed_at is not None else None,
        last_pulled=_time(last_pulled) if last_pulled is not None else None,
        wave=wave,
        subjects=_digests(data.get("subjects", [])),
        parents=_digests(data.get("parents", [])),
    )


def _digests(value: Any) -> tuple[Digest, ...]:
    if not isinstance(value, list):
        raise ValueError(f"not a list of digests: {value!r}")
    return tuple(parse_digest(d) for d in value)
