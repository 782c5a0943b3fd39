"""The runs a journal records, read back: what each did, for ``regsweep status``.

The journal is written for a run that was killed half way (what was done, what was not);
read run by run it is also the registry's history: when each run started and ended, what
it deleted and freed, what failed, which repositories it left alone. A run is the records
from its ``start`` to its ``end``; a run with no ``end`` was killed (the journal closes every
run it sees end, even by an error).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from regsweep.core.errors import UsageError
from regsweep.plan.file import RegistryIdentity


@dataclass
class JournalRun:
    """One run of ``run`` or ``apply``, as its journal records tell it."""

    started: datetime
    #: None: the journal stops inside the run (the process was killed)
    ended: datetime | None = None
    #: the end record's verdict; None without an end record
    failed: bool | None = None
    error: str | None = None
    #: what the plan asked for
    tags_planned: int = 0
    manifests_planned: int = 0
    #: outcome -> action kind -> count (``deleted``: ``untag`` 3, ``delete_manifest`` 2)
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    #: the actions that failed, ``target: detail`` each
    failures: list[str] = field(default_factory=list)
    #: repositories the run left alone because discovery could not read them whole
    skipped_repositories: list[str] = field(default_factory=list)
    #: bytes the garbage collection freed, when the storage was measured
    bytes_freed: int | None = None
    blobs_deleted: int | None = None

    def count(self, outcome: str, kind: str | None = None) -> int:
        """Actions with ``outcome`` (of ``kind``: ``untag``, ``delete_manifest``)."""
        kinds = self.outcomes.get(outcome, {})
        return kinds.get(kind, 0) if kind is not None else sum(kinds.values())

    @property
    def result(self) -> str:
        """``done``, ``failed`` or ``interrupted``."""
        if self.ended is None:
            return "interrupted"
        return "failed" if self.failed else "done"

    def to_json(self) -> dict[str, object]:
        return {
            "started": self.started.isoformat(),
            "ended": self.ended.isoformat() if self.ended else None,
            "result": self.result,
            "error": self.error,
            "tags_planned": self.tags_planned,
            "manifests_planned": self.manifests_planned,
            "tags_deleted": self.count("deleted", "untag"),
            "manifests_deleted": self.count("deleted", "delete_manifest"),
            "already_gone": self.count("already_gone"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "not_attempted": self.count("not_attempted"),
            "failures": self.failures,
            "skipped_repositories": self.skipped_repositories,
            "bytes_freed": self.bytes_freed,
            "blobs_deleted": self.blobs_deleted,
        }


def read_runs(path: Path, registry: RegistryIdentity) -> list[JournalRun]:
    """Every run of ``registry`` in the journal ``path``, oldest first.

    Records of other registries (a ``--journal`` file shared by several) are left out: a
    registry is its storage when it has one (a run with and one without ``--registry-url``
    clean the same registry), else its URL. A line that is not a record (a line cut by a
    full disk) is passed over.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"journal {path}: cannot read it: {exc}") from None
    runs: list[JournalRun] = []
    current: JournalRun | None = None
    for line in lines:
        read = _record(line)
        if read is None or not _about(read[0], registry):
            continue
        record, when = read
        event = record.get("event")
        if event == "start":
            plan = record.get("plan") or {}
            current = JournalRun(
                when,
                tags_planned=int(plan.get("tags_to_delete", 0)),
                manifests_planned=int(plan.get("manifests_to_delete", 0)),
            )
            runs.append(current)
        elif current is not None:
            _add(current, event, record, when)
            if event == "end":
                current = None
    return runs


def _record(line: str) -> tuple[dict[str, Any], datetime] | None:
    """The record on ``line`` and its time, or None when the line is not a record."""
    try:
        record = json.loads(line)
        when = datetime.fromisoformat(record["time"])
    except (ValueError, TypeError, KeyError):
        return None
    return (record, when) if isinstance(record, dict) else None


def _about(record: dict[str, Any], registry: RegistryIdentity) -> bool:
    named = record.get("registry") or {}
    if registry.storage is not None:
        return bool(named.get("storage") == registry.storage)
    return bool(named.get("url") == registry.url)


def _add(run: JournalRun, event: object, record: dict[str, Any], when: datetime) -> None:
    if event == "action":
        outcome, kind = str(record.get("outcome")), str(record.get("action"))
        kinds = run.outcomes.setdefault(outcome, {})
        kinds[kind] = kinds.get(kind, 0) + 1
        if outcome == "failed":
            run.failures.append(f"{record.get('target')}: {record.get('detail')}")
    elif event == "skipped":
        run.skipped_repositories.append(str(record.get("repository")))
    elif event == "gc":
        before, after = record.get("bytes_before"), record.get("bytes_after")
        if isinstance(before, int) and isinstance(after, int):
            run.bytes_freed = before - after
        deleted = record.get("blobs_deleted")
        run.blobs_deleted = deleted if isinstance(deleted, int) else None
    elif event == "end":
        run.ended = when
        run.failed = bool(record.get("failed"))
        error = record.get("error")
        run.error = str(error) if error else None
