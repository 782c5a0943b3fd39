"""Refuse to delete from a registry whose repositories discovery could not read whole."""

from __future__ import annotations

from regsweep.core.errors import UsageError
from regsweep.core.model import Inventory
from regsweep.sources.storage import layout


def refuse_hidden_references(inventory: Inventory) -> None:
    """Stop ``run`` and ``apply`` (exit 2, nothing changed) when storage discovery skipped
    anything in the repositories' metadata.

    Discovery skips what it cannot read: a tag link holding garbage, a symlinked tag,
    revision or repository folder (never followed: it could lead outside the root), a
    folder that is not a valid name. The registry may still serve what such a file names,
    but the planner cannot see it: the manifest behind a skipped tag, or the children of a
    skipped index, would look unreferenced and be deleted under a tag that still pulls.
    ``regsweep plan`` lists the problems; once fixed or removed, runs go ahead.
    """
    prefix = f"{layout.REPOSITORIES}/"
    hidden = [p for p in inventory.problems if p.location.startswith(prefix)]
    if hidden:
        more = f" and {len(hidden) - 1} more" if len(hidden) > 1 else ""
        raise UsageError(
            f"cannot delete safely: {hidden[0]}{more}; what discovery cannot read may hide "
            "a tag or an index that keeps manifests the plan would delete. Fix or remove it "
            "(regsweep plan lists every problem); nothing was changed"
        )
