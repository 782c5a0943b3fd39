"""RunReport: what a run did, in one typed value that the JSON output, the text summary and
the journal all read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from regsweep.apply.runner import ApplyReport
from regsweep.collect.collection import AnyCollection
from regsweep.collect.registry import GcResult
from regsweep.plan.planner import Summary
from regsweep.verify import VerifyReport


@dataclass(frozen=True)
class StorageBytes:
    """The bytes of every blob in the storage before and after the collection."""

    before: int
    after: int

    @property
    def freed(self) -> int:
        """Bytes the collection took out of the storage."""
        return self.before - self.after


@dataclass(frozen=True)
class RunReport:
    """Everything a run (or its dry run) did, step by step; None where a step did not run."""

    summary: Summary
    dry_run: bool
    apply: ApplyReport | None = None
    collection: AnyCollection | None = None
    storage: StorageBytes | None = None
    verify: VerifyReport | None = None
    #: the journal written, None for a dry run
    journal: Path | None = None
    seconds: float = 0.0
    #: dry run: the collection a real run would do, in words
    would_collect: tuple[str, ...] = ()
    #: dry run: why a real run would stop before deleting anything, if it would
    refusal: str | None = None

    @property
    def ok(self) -> bool:
        """Every step that ran succeeded: exit 0."""
        return (self.apply is None or self.apply.ok) and (self.verify is None or self.verify.ok)

    def to_json(self) -> dict[str, object]:
        """The run's JSON report (``--output json``): each step that ran, in order."""
        out: dict[str, object] = {"plan": self.summary.to_json(), "dry_run": self.dry_run}
        if self.apply is not None:
            out["apply"] = self.apply.to_json()
        if self.collection is not None:
            out["gc"] = self.collection.report.to_json()
            out["restarted"] = self.collection.restarted
        if self.dry_run:
            out["would_collect"] = list(self.would_collect)
            out["refusal"] = self.refusal
        if self.storage is not None:
            out["storage_bytes_before"] = self.storage.before
            out["storage_bytes_after"] = self.storage.after
        if self.verify is not None:
            out["verify"] = self.verify.to_json()
        out["seconds"] = round(self.seconds, 3)
        return out

    def journal_record(self) -> dict[str, object]:
        """The journal's ``gc`` record: the native report lists every swept blob, so the
        journal keeps only its figures."""
        assert self.collection is not None
        report = self.collection.report
        logged = report.to_json() if isinstance(report, GcResult) else {"native": True}
        storage = self.storage
        return {
            **logged,
            "bytes_before": storage.before if storage else None,
            "bytes_after": storage.after if storage else None,
        }
