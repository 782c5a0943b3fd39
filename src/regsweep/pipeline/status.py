"""Status: what the last runs did to a registry, from its journal and its run history.
Changes nothing.

The journal tells each run step by step (what it deleted and freed, what failed, which
repositories it skipped, whether it ended); the run history, kept beside it for the safety
brake, tells what the brake will judge the next run by (the registry's size at each run,
the repositories each covered and cleaned through). Both are shown: the history file is
small and its own, and a run killed before it was recorded is in the journal alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from regsweep.core.errors import UsageError
from regsweep.pipeline.target import Target
from regsweep.plan.file import RegistryIdentity
from regsweep.plan.history import PastRun
from regsweep.state.history import default_history_path, load_history
from regsweep.state.journal import default_journal_path
from regsweep.state.runs import JournalRun, read_runs


@dataclass(frozen=True)
class RegistryStatus:
    """The last runs of one registry, newest first, as its journal and history hold them."""

    registry: RegistryIdentity
    journal: Path
    runs: tuple[JournalRun, ...]
    history_file: Path
    history: tuple[PastRun, ...]
    #: why the history could not be read (the journal still could), or None
    history_problem: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "registry": self.registry.to_json(),
            "journal": str(self.journal),
            "runs": [run.to_json() for run in self.runs],
            "history_file": str(self.history_file),
            "history": [_past_run(run) for run in self.history],
            "history_problem": self.history_problem,
        }


def registry_status(target: Target, *, journal: Path | None = None, last: int) -> RegistryStatus:
    """The ``last`` runs recorded for ``target``: in its journal (``journal``, else its
    default) and in its run history."""
    path = journal or default_journal_path(target.identity)
    runs = read_runs(path, target.identity)
    history_file = default_history_path(target.identity)
    problem = None
    try:
        history = load_history(history_file).runs
    except UsageError as exc:
        history, problem = (), str(exc)
    return RegistryStatus(
        target.identity,
        path,
        tuple(reversed(runs[-last:])),
        history_file,
        tuple(reversed(history[-last:])),
        problem,
    )


def _past_run(run: PastRun) -> dict[str, object]:
    return {
        "at": run.at.isoformat(),
        "tags": run.tags,
        "tags_deleted": run.tags_deleted,
        "repositories_covered": len(run.covered),
        "repositories_cleaned": len(run.cleaned),
        "repositories_not_cleaned": sorted(run.covered - run.cleaned),
    }
