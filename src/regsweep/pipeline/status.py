"""Status: what the last runs did to a registry, read from its journal. Changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from regsweep.pipeline.target import Target
from regsweep.plan.file import RegistryIdentity
from regsweep.state.journal import default_journal_path
from regsweep.state.runs import JournalRun, read_runs


@dataclass(frozen=True)
class RegistryStatus:
    """The last runs of one registry, newest first."""

    registry: RegistryIdentity
    journal: Path
    runs: tuple[JournalRun, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "registry": self.registry.to_json(),
            "journal": str(self.journal),
            "runs": [run.to_json() for run in self.runs],
        }


def registry_status(target: Target, *, journal: Path | None = None, last: int) -> RegistryStatus:
    """The ``last`` runs recorded in ``target``'s journal (``journal``, else its default)."""
    path = journal or default_journal_path(target.identity)
    runs = read_runs(path, target.identity)
    return RegistryStatus(target.identity, path, tuple(reversed(runs[-last:])))
