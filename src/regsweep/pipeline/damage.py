"""What a run does about damage in the registry's storage, before the first deletion.

Discovery reports what it could not read (:mod:`regsweep.core.damage`) and the planner
skips the repositories whose damage may hide a manifest. Two decisions are the run's:
whether to refuse the whole registry instead (``--strict``), and whether the chosen
garbage collector can get through the registry at all.
"""

from __future__ import annotations

from dataclasses import replace

from regsweep.collect.options import CollectOptions, Collector
from regsweep.core.damage import breaks_registry_gc
from regsweep.core.errors import UsageError
from regsweep.core.model import Inventory, first_problem
from regsweep.plan.planner import ActionKind, Plan, SkippedRepository
from regsweep.sources.storage import layout


def refuse_damage(inventory: Inventory) -> None:
    """``--strict``: stop (exit 2, nothing changed) when storage discovery skipped anything
    in the repositories' metadata, as regsweep did before it could skip one repository.

    Some want no run at all on a registry that is not sound: a damaged repository is then
    repaired before anything else is cleaned.
    """
    prefix = f"{layout.REPOSITORIES}/"
    hidden = [p for p in inventory.problems if p.location.startswith(prefix)]
    if hidden:
        raise UsageError(
            f"--strict: {first_problem(hidden)}; nothing was changed. Repair or remove it "
            "(regsweep plan lists every problem), or run without --strict to clean every "
            "other repository"
        )


def refuse_uncollectable(inventory: Inventory, collect: CollectOptions) -> None:
    """Stop (exit 2, nothing changed) a run whose collector is the registry's own when
    damage anywhere in the registry stops that collector (see :func:`uncollectable`)."""
    reason = uncollectable(inventory, collect)
    if reason is not None:
        raise UsageError(reason)


def uncollectable(inventory: Inventory, collect: CollectOptions) -> str | None:
    """Why the chosen collector cannot get through the registry, in one line naming the
    file and the way out; None when it can.

    ``registry garbage-collect`` gives up on the first revision link holding no digest or
    manifest that does not parse, in any repository, in or out of the run's scope (see
    :func:`regsweep.core.damage.breaks_registry_gc`). Deleting tags and manifests first
    would then free nothing, on every run, while the untags can never be undone. regsweep's
    own collector works around such damage, so the refusal names it.
    """
    if collect.collector is not Collector.REGISTRY:
        return None
    blocking = [
        p for p in inventory.problems if p.defect is not None and breaks_registry_gc(p.defect)
    ]
    if not blocking:
        return None
    return (
        f"the registry's garbage-collect stops on {first_problem(blocking)}, so deleting now "
        "would free nothing; nothing was changed. Use --gc native (regsweep's collector "
        "works around it), or repair the file"
    )


def skip_damaged(plan: Plan, inventory: Inventory) -> Plan:
    """``plan`` (read from a plan file) without the actions in repositories that are
    damaged now, each of those listed as skipped, and with the problems found now: the
    registry may have changed since the plan was made, and the same isolation holds as
    for a plan made now."""
    damage = inventory.damage()
    touched = {a.repository for a in plan.actions}
    skipped = tuple(
        SkippedRepository(name, tuple(damage[name])) for name in sorted(touched & damage.keys())
    )
    if not skipped:
        return replace(plan, problems=inventory.problems)
    names = {s.repository for s in skipped}
    actions = tuple(a for a in plan.actions if a.repository not in names)
    summary = replace(
        plan.summary,
        tags_to_delete=sum(1 for a in actions if a.kind is ActionKind.UNTAG),
        manifests_to_delete=sum(1 for a in actions if a.kind is ActionKind.DELETE_MANIFEST),
        repositories_skipped=len(skipped),
    )
    return replace(
        plan, actions=actions, summary=summary, skipped=skipped, problems=inventory.problems
    )
