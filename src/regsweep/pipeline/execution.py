"""Apply, collect, verify: everything after the plan, for ``run`` and ``apply`` alike."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from regsweep.apply.api import check_registry, registry_deleter
from regsweep.apply.outcome import ActionResult, Outcome
from regsweep.apply.registry_api import apply_over_api
from regsweep.apply.runner import ApplyReport, apply_actions
from regsweep.apply.storage import StorageApplier
from regsweep.apply.untag import UntagMethod
from regsweep.collect.collection import AnyCollection, collects
from regsweep.collect.options import CollectOptions
from regsweep.core.model import Digest, Manifest
from regsweep.pipeline.collection import collect_after_apply
from regsweep.pipeline.discovery import discover
from regsweep.pipeline.observer import LoggingObserver, Observer
from regsweep.pipeline.planning import Planned
from regsweep.pipeline.report import RunReport, StorageBytes
from regsweep.pipeline.target import Mode, Target
from regsweep.plan.planner import Plan
from regsweep.sources.api.client import DEFAULT_CONCURRENCY
from regsweep.sources.storage.discovery import list_blob_sizes
from regsweep.state.journal import Journal, default_journal_path
from regsweep.state.lock import registry_lock
from regsweep.verify import VerifyReport, verify_inventory


@dataclass(frozen=True)
class RunOptions:
    """How a plan is carried out."""

    dry_run: bool = False
    #: deletions at once
    concurrency: int = DEFAULT_CONCURRENCY
    #: over the API, how a tag sharing its digest with a kept tag is removed
    untag_method: UntagMethod = UntagMethod.AUTO
    #: the journal file; None: the default in regsweep's state folder
    journal: Path | None = None
    collect: CollectOptions = field(default_factory=CollectOptions)
    #: the command named in the lock file, for whoever finds the registry locked
    command: str = "run"


def run(planned: Planned, options: RunOptions, observer: Observer | None = None) -> RunReport:
    """Carry out a plan just made (``regsweep run``): every revision the planner saw is
    known, any other one found while applying was pushed since and is re-checked."""
    known = {name: frozenset(r.revisions) for name, r in planned.inventory.repositories.items()}
    return execute(
        planned.plan,
        planned.target,
        options,
        known=known,
        manifests=planned.inventory.manifests,
        observer=observer,
    )


def execute(
    plan: Plan,
    target: Target,
    options: RunOptions,
    *,
    known: Mapping[str, frozenset[Digest]],
    manifests: Mapping[Digest, Manifest],
    observer: Observer | None = None,
) -> RunReport:
    """Apply ``plan``, collect garbage, verify every tag; a dry run only collects dry.

    ``known`` are the revisions the plan was computed from: any other revision found while
    applying was pushed since and is checked for references to what is deleted.
    ``manifests`` are the inventory's parsed manifests (API mode resolves tags with them).
    Raises :class:`~regsweep.state.lock.StorageLockedError` (nothing changed) when another
    regsweep holds the registry's lock.
    """
    observer = observer or LoggingObserver()
    started = time.monotonic()
    if options.dry_run:
        dry = collect_after_apply(options.collect, target, observer, dry_run=True)
        observer.info("dry run: nothing was changed")
        return RunReport(plan.summary, True, collection=dry, seconds=time.monotonic() - started)
    # before the lock and the journal: a bad URL, login or disabled deletes leave no trace
    if target.registry is not None:
        asyncio.run(check_registry(target.registry, plan, api_mode=target.mode is Mode.API))
    journal_path = options.journal or default_journal_path(target.identity)
    collection: AnyCollection | None = None
    storage: StorageBytes | None = None
    with (
        # one regsweep at a time changes a registry (see regsweep.state.lock)
        registry_lock(
            target.store,
            target.registry.url if target.registry is not None else None,
            now=datetime.now(UTC),
            command=options.command,
        ),
        Journal(journal_path, target.identity) as journal,
    ):
        journal.write("start", plan=plan.summary.to_json())
        applied = asyncio.run(_apply(plan, target, options, known, manifests, journal, observer))
        if applied.ok and collects(options.collect, target.store):
            before = _storage_bytes(target)
            collection = collect_after_apply(options.collect, target, observer, dry_run=False)
            after = _storage_bytes(target)
            if before is not None and after is not None:
                storage = StorageBytes(before, after)
        verified = _verify(target, observer)
        report = RunReport(
            plan.summary,
            False,
            apply=applied,
            collection=collection,
            storage=storage,
            verify=verified,
            journal=journal_path,
        )
        if collection is not None:
            journal.write("gc", **report.journal_record())
        journal.write("end", failed=not report.ok)
    observer.info(f"journal: {journal_path}")
    return replace(report, seconds=time.monotonic() - started)


async def _apply(
    plan: Plan,
    target: Target,
    options: RunOptions,
    known: Mapping[str, frozenset[Digest]],
    manifests: Mapping[Digest, Manifest],
    journal: Journal,
    observer: Observer,
) -> ApplyReport:
    """Apply through storage (manifest deletes through the API when a URL is known), or
    entirely through the API in API mode."""
    with observer.progress("deleting", total=len(plan.actions)) as advance:

        def on_result(result: ActionResult) -> None:
            advance()
            if result.outcome is Outcome.SKIPPED:
                observer.warn(f"skipped {result.action.target}: {result.detail}")

        if target.store is None:
            assert target.registry is not None
            return await apply_over_api(
                target.registry,
                plan,
                manifests,
                untag_method=options.untag_method,
                concurrency=options.concurrency,
                journal=journal,
                on_result=on_result,
            )
        async with registry_deleter(target.registry) as deleter:
            return await apply_actions(
                plan.actions,
                StorageApplier(target.store, plan.untags, known, deleter),
                concurrency=options.concurrency,
                journal=journal,
                on_result=on_result,
            )


def verify_target(target: Target, observer: Observer | None = None) -> VerifyReport:
    """Check every tag: manifest, config, layers and index children all present (from
    storage, or over the API with one request per blob)."""
    discovered = discover(target, observer or LoggingObserver(), check_blobs=True)
    return verify_inventory(discovered.inventory)


def _verify(target: Target, observer: Observer) -> VerifyReport:
    """The verification that ends a run, its verdict said as it is known."""
    report = verify_target(target, observer)
    if report.ok:
        observer.info(f"verified: all {report.tags_checked} tags resolve with every blob present")
    for problem in report.problems:
        observer.error(f"broken: {problem}")
    return report


def _storage_bytes(target: Target) -> int | None:
    return sum(list_blob_sizes(target.store).values()) if target.store is not None else None
