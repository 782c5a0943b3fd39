"""RunReport: what a run did, in one typed value that the JSON output, the text summary and
the journal all read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from operator import add
from pathlib import Path

from regsweep.apply.empty import EmptyReport
from regsweep.apply.runner import ApplyReport
from regsweep.collect.collection import AnyCollection
from regsweep.collect.native import GcReport
from regsweep.collect.registry import GcResult
from regsweep.pipeline.phases import Phase
from regsweep.plan.planner import SkippedRepository, Summary
from regsweep.sources.api.budget import api_counts
from regsweep.sources.requests import RequestCounts
from regsweep.verify import VerifyReport


@dataclass(frozen=True)
class StorageBytes:
    """The bytes of every blob in the registry's content store before and after the
    collection, and what regsweep's live collector moved through its quarantine.

    A blob the live collector sweeps leaves the content store for the quarantine beside
    it, still on the disk until a later collection purges it (see
    :mod:`regsweep.collect.native.quarantine`): the content store's loss is then not bytes
    freed, and saying so would be a figure ``du`` contradicts.
    """

    before: int
    after: int
    #: moved out of the content store into the quarantine by this collection
    quarantined: int = 0
    #: moved back from the quarantine into the content store (a manifest needs them again)
    restored: int = 0
    #: deleted from the quarantine by this collection (quarantined by an earlier one)
    purged: int = 0
    #: what this collection quarantined is freed by the first collection after this time
    purge_after: datetime | None = None

    @classmethod
    def around(
        cls, before: int, after: int, report: GcResult | GcReport, *, purge_after: datetime
    ) -> StorageBytes:
        """The content store measured ``before`` and ``after`` a collection that ended with
        ``report``; ``purge_after``: when the quarantine would let go of what it took."""
        if isinstance(report, GcResult):
            return cls(before, after)
        held = report.quarantined
        return cls(
            before,
            after,
            quarantined=held.bytes,
            restored=report.restored.bytes,
            purged=report.purged.bytes,
            purge_after=purge_after if held.count else None,
        )

    @property
    def freed(self) -> int:
        """Bytes that left the disk: the content store's loss, less what went into the
        quarantine instead, plus what came back out of it or was purged from it."""
        return self.before - self.after - self.quarantined + self.restored + self.purged


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
    #: repositories in scope left untouched because of damage (the plan's)
    skipped: tuple[SkippedRepository, ...] = ()
    #: where discovery found damage, before the run changed anything, out of its scope
    known_damage: frozenset[str] = frozenset()
    #: the empty repositories removed (storage), and those kept after all
    empty: EmptyReport = field(default_factory=EmptyReport)
    #: seconds per phase that ran (discover and plan too, when the run planned)
    phases: Mapping[Phase, float] = field(default_factory=dict)
    #: requests sent to the registry's API by each step that used it (discovery, apply,
    #: verify), in that order; empty when only storage was used
    requests: Mapping[str, RequestCounts] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every step that ran succeeded, no repository was skipped, and nothing is broken
        but by damage found before the run out of its scope (which it did not cause, nor
        was asked about): exit 0. Otherwise the run is done except what it lists: exit 1."""
        return (
            (self.apply is None or self.apply.ok)
            and (self.verify is None or self.verify.ok_besides(self.known_damage))
            and not self.skipped
        )

    def to_json(self, *, lazily: bool = False) -> dict[str, object]:
        """The run's JSON report (``--output json``): each step that ran, in order;
        ``lazily``: as :meth:`GcReport.to_json`."""
        out: dict[str, object] = {"plan": self.summary.to_json(), "dry_run": self.dry_run}
        if self.skipped:
            out["skipped"] = [s.to_json() for s in self.skipped]
        if self.apply is not None:
            out["apply"] = self.apply.to_json()
        if self.collection is not None:
            collected = self.collection.report
            out["gc"] = (
                collected.to_json(lazily=lazily)
                if isinstance(collected, GcReport)
                else collected.to_json()
            )
            out["restarted"] = self.collection.restarted
        if self.dry_run:
            out["would_collect"] = list(self.would_collect)
            out["refusal"] = self.refusal
        if self.storage is not None:
            out["storage_bytes_before"] = self.storage.before
            out["storage_bytes_after"] = self.storage.after
            out["storage_bytes_freed"] = self.storage.freed
            if self.storage.purge_after is not None:
                out["storage_bytes_quarantined"] = self.storage.quarantined
                out["quarantine_purge_after"] = self.storage.purge_after.isoformat()
        if self.empty.removed or self.empty.kept:
            out["empty_repositories"] = self.empty.to_json()
        if self.verify is not None:
            out["verify"] = self.verify.to_json()
        if self.requests:
            steps = {step: counts.to_json() for step, counts in self.requests.items()}
            out["requests"] = {**steps, "total": self.total_requests().to_json()}
        out["seconds"] = round(self.seconds, 3)
        out["phases"] = {phase.value: round(s, 3) for phase, s in self.phases.items()}
        return out

    def total_requests(self) -> RequestCounts:
        """Every request the run sent to the registry's API, all steps together."""
        return reduce(add, self.requests.values(), api_counts())

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
            "bytes_freed": storage.freed if storage else None,
        }
