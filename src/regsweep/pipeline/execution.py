"""Apply, collect, verify: everything after the plan, for ``run`` and ``apply`` alike."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from regsweep.apply.api import check_registry, registry_deleter
from regsweep.apply.empty import EmptyReport, remove_empty_repositories
from regsweep.apply.outcome import ActionResult, Outcome
from regsweep.apply.registry_api import apply_over_api
from regsweep.apply.runner import ApplyReport, apply_actions
from regsweep.apply.storage import StorageApplier
from regsweep.apply.untag import UntagMethod
from regsweep.collect.collection import AnyCollection, collects
from regsweep.collect.options import CollectOptions
from regsweep.collect.preflight import check_collection
from regsweep.core.errors import UsageError
from regsweep.core.model import Digest, Manifest
from regsweep.pipeline.collection import collect_after_apply
from regsweep.pipeline.damage import refuse_uncollectable
from regsweep.pipeline.discovery import discover
from regsweep.pipeline.history import record_cleanup
from regsweep.pipeline.observer import LoggingObserver, Observer
from regsweep.pipeline.phases import Phase, PhaseTimer
from regsweep.pipeline.planning import Planned
from regsweep.pipeline.report import RunReport, StorageBytes
from regsweep.pipeline.target import Mode, Target
from regsweep.plan.planner import Plan
from regsweep.sources.api.access import DEFAULT_CONCURRENCY
from regsweep.sources.api.budget import api_counts
from regsweep.sources.api.discovery import Check
from regsweep.sources.requests import RequestCounts
from regsweep.sources.storage.discovery import list_blob_sizes
from regsweep.state.history import default_history_path
from regsweep.state.journal import Journal, default_journal_path
from regsweep.state.lock import registry_lock
from regsweep.state.writable import check_writable
from regsweep.verify import VerifyReport, verify_inventory

log = logging.getLogger(__name__)

#: Outcomes after which a repository may have changed: what verification after a run checks.
_CHANGED = frozenset({Outcome.DELETED, Outcome.FAILED})


@dataclass(frozen=True)
class RunOptions:
    """How a plan is carried out."""

    dry_run: bool = False
    #: deletions at once (over the API, each client's requests adapt below it too)
    concurrency: int = DEFAULT_CONCURRENCY
    #: over the API, how a tag sharing its digest with a kept tag is removed
    untag_method: UntagMethod = UntagMethod.AUTO
    #: the journal file; None: the default in regsweep's state folder
    journal: Path | None = None
    #: the registry's run history (for the brake); None: the default, beside the journal
    history: Path | None = None
    collect: CollectOptions = field(default_factory=CollectOptions)
    #: the command named in the lock file, for whoever finds the registry locked
    command: str = "run"


def run(planned: Planned, options: RunOptions, observer: Observer | None = None) -> RunReport:
    """Carry out a plan just made (``regsweep run``): every revision the planner saw is
    known, any other one found while applying was pushed since and is re-checked.

    A real run raises :class:`~regsweep.core.errors.UsageError` (nothing changed) when the
    chosen collector cannot get through the registry's damage (see
    :func:`~regsweep.pipeline.damage.refuse_uncollectable`).
    """
    if not options.dry_run:
        refuse_uncollectable(planned.inventory, options.collect)
    known = {name: frozenset(r.revisions) for name, r in planned.inventory.repositories.items()}
    report = execute(
        planned.plan,
        planned.target,
        options,
        known=known,
        manifests=planned.inventory.manifests,
        planned_at=planned.now,
        discovered_at=planned.discovered_at,
        observer=observer,
        discovery_requests=planned.requests,
    )
    return replace(report, phases={**planned.phases, **report.phases})


def execute(
    plan: Plan,
    target: Target,
    options: RunOptions,
    *,
    known: Mapping[str, frozenset[Digest]],
    manifests: Mapping[Digest, Manifest],
    planned_at: datetime,
    discovered_at: datetime,
    observer: Observer | None = None,
    discovery_requests: RequestCounts | None = None,
) -> RunReport:
    """Apply ``plan``, collect garbage, verify; a dry run says what a real run would
    collect with, and changes nothing. A real run is recorded in the registry's history
    (``planned_at``, ``discovered_at``: when the plan was made, and its discovery began),
    which the brake of later runs reads.

    :func:`preflight` runs first. ``known`` are the revisions the plan was computed from:
    any other revision found while applying was pushed since and is checked for references
    to what is deleted. ``manifests`` are the inventory's parsed manifests (API mode
    resolves tags with them, and verifies without reading them again).
    ``discovery_requests`` are what discovery sent, reported with the run's own requests.
    Raises :class:`~regsweep.core.errors.UsageError` when a pre-flight check fails, and
    :class:`~regsweep.state.lock.StorageLockedError` when another regsweep holds the
    registry's lock; nothing was changed then.
    """
    observer = observer or LoggingObserver()
    started = time.monotonic()
    timer = PhaseTimer()
    requests = {"discovery": discovery_requests} if discovery_requests is not None else {}
    if options.dry_run:
        return replace(
            _dry_run(plan, target, options, observer),
            seconds=time.monotonic() - started,
            skipped=plan.skipped,
            requests=requests,
        )
    if target.registry is not None:
        requests["apply"] = api_counts()
    preflight(plan, target, options, requests.get("apply"))
    journal_path = options.journal or default_journal_path(target.identity)
    collection: AnyCollection | None = None
    storage: StorageBytes | None = None
    # one regsweep at a time changes a registry (see regsweep.state.lock)
    with registry_lock(
        target.store,
        target.registry.url if target.registry is not None else None,
        now=datetime.now(UTC),
        command=options.command,
    ):
        if target.store is not None:
            check_writable(target.store)
        with Journal(journal_path, target.identity) as journal:
            journal.write("start", plan=plan.summary.to_json())
            for skipped in plan.skipped:
                journal.write("skipped", **skipped.to_json())
            counts = requests.get("apply")
            with timer.phase(Phase.APPLY):
                applied = asyncio.run(
                    _apply(plan, target, options, known, manifests, journal, observer, counts)
                )
            if counts is not None:
                log.info("requests (apply): %s", counts.describe())
            record_cleanup(
                options.history or default_history_path(target.identity),
                plan,
                applied,
                planned_at=planned_at,
                discovered_at=discovered_at,
            )
            emptied = (
                remove_empty_repositories(target.store, plan.empty, journal)
                if applied.ok and target.store is not None
                else EmptyReport()
            )
            if applied.ok and collects(options.collect, target.store):
                with timer.phase(Phase.COLLECT):
                    before = _storage_bytes(target)
                    now = datetime.now(UTC)
                    collection = collect_after_apply(options.collect, target, observer, now=now)
                    after = _storage_bytes(target)
                if collection is not None and before is not None and after is not None:
                    purge_after = now + options.collect.native.quarantine_delay
                    storage = StorageBytes.around(
                        before, after, collection.report, purge_after=purge_after
                    )
            found_before = frozenset(p.location for p in plan.problems)
            changed = {r.action.repository for r in applied.results if r.outcome in _CHANGED}
            with timer.phase(Phase.VERIFY):
                verified, verify_requests = _verify(
                    target,
                    observer,
                    found_before,
                    changed,
                    manifests,
                    collected=collection is not None,
                )
            if verify_requests is not None:
                requests["verify"] = verify_requests
            # damage out of the run's scope is not the run's to answer for (exit 0); in
            # scope it is listed, and the run is done except it (exit 1)
            in_scope = plan.scope | {a.repository for a in plan.actions}
            excused = frozenset(p.location for p in plan.problems if p.repository not in in_scope)
            report = RunReport(
                plan.summary,
                False,
                apply=applied,
                collection=collection,
                storage=storage,
                verify=verified,
                journal=journal_path,
                skipped=plan.skipped,
                known_damage=excused,
                empty=emptied,
                phases=timer.seconds,
                requests=requests,
            )
            if collection is not None:
                journal.write("gc", **report.journal_record())
            journal.write("end", failed=not report.ok)
    observer.info(f"journal: {journal_path}")
    return replace(report, seconds=time.monotonic() - started)


def preflight(
    plan: Plan, target: Target, options: RunOptions, counts: RequestCounts | None = None
) -> None:
    """What a real run needs, checked before the lock, the journal and the first deletion
    with nothing written: a failing check is an exit-2 error that left no trace.

    A run that deletes and only then finds it cannot finish leaves the registry half
    cleaned and the space unreclaimed. So: the collection's commands can run and reach
    the registry (:func:`~regsweep.collect.preflight.check_collection`), and the registry
    accepts deletes (:func:`~regsweep.apply.api.check_registry`). Whether the storage
    may be changed is asked next, by taking the lock and then
    :func:`~regsweep.state.writable.check_writable`: both write, so they come once every
    check that writes nothing has passed. Raises
    :class:`~regsweep.core.errors.UsageError`.
    """
    check_collection(options.collect, target.store)
    if target.registry is not None:
        asyncio.run(
            check_registry(target.registry, plan, api_mode=target.mode is Mode.API, counts=counts)
        )


def _dry_run(plan: Plan, target: Target, options: RunOptions, observer: Observer) -> RunReport:
    """What a real run would collect with, and whether its collection's checks pass; no
    command runs, nothing is written, no lock or journal is taken.

    No collector runs, not even dry: on the untouched registry it could only count what is
    unreferenced before the plan ("would delete 0 blobs" right after the plan's "freeing
    19.5 kB"). The plan says both figures: what it frees and what is unreferenced already.
    The checks that would write (the storage probe) or delete (the registry's delete probe)
    are left to the real run.
    """
    described = options.collect.describe()
    for line in described:
        observer.info(line)
    refusal = None
    try:
        check_collection(options.collect, target.store)
    except UsageError as exc:
        refusal = str(exc)
        observer.warn(f"a real run would stop before deleting anything: {refusal}")
    observer.info("dry run: nothing was changed")
    return RunReport(plan.summary, True, would_collect=described, refusal=refusal)


async def _apply(
    plan: Plan,
    target: Target,
    options: RunOptions,
    known: Mapping[str, frozenset[Digest]],
    manifests: Mapping[Digest, Manifest],
    journal: Journal,
    observer: Observer,
    counts: RequestCounts | None,
) -> ApplyReport:
    """Apply through storage (manifest deletes through the API when a URL is known), or
    entirely through the API in API mode; API requests are counted in ``counts``."""
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
                counts=counts,
            )
        async with registry_deleter(target.registry, counts) as deleter:
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
    discovered = discover(target, observer or LoggingObserver(), check=Check.BLOBS)
    return verify_inventory(discovered.inventory)


def _verify(
    target: Target,
    observer: Observer,
    known: frozenset[str],
    changed: set[str],
    manifests: Mapping[Digest, Manifest],
    *,
    collected: bool,
) -> tuple[VerifyReport, RequestCounts | None]:
    """The verification that ends a run, its verdict said as it is known: what damage
    found before the run explains is said as such, the run did not cause it.

    From storage, every tag (reading it costs little, and a garbage collection may touch
    any repository). Over the API alone, only the repositories the run changed: a run
    deletes manifests and tags through the API, never a blob but the throw-away configs it
    pushed itself (:mod:`regsweep.apply.untag`), so nothing else can have been touched, and
    checking every repository again would cost as many requests as discovery did. The
    manifests read while planning are not read again. Blobs are checked (one ``HEAD``
    each) only when a garbage collection ran (``collected``): it is what removes blobs,
    and a wrong one breaks what the run kept; without one no blob can have gone, and the
    run says that it did not check them.
    """
    scoped = target.store is None
    if scoped:
        check = Check.BLOBS if collected else Check.MANIFESTS
        discovered = discover(target, observer, check=check, repositories=changed, known=manifests)
    else:
        check = Check.BLOBS
        discovered = discover(target, observer, check=check)
    report = verify_inventory(discovered.inventory)
    if report.ok:
        observer.info(_verified(report.tags_checked, len(changed) if scoped else None, check))
    for problem in report.problems:
        if problem.damage in known:
            observer.warn(f"still broken, by damage found before the run: {problem}")
        else:
            observer.error(f"broken: {problem}")
    for unchecked in report.unverified:
        observer.warn(f"not verified: {unchecked}")
    return report, discovered.requests


def _verified(tags: int, changed: int | None, check: Check) -> str:
    """What a successful verification checked, exactly: every tag, or those of the
    ``changed`` repositories; with every blob present, or blobs not checked and why."""
    where = f" in the {changed} repositories this run changed" if changed is not None else ""
    if check is Check.BLOBS:
        full = " (regsweep verify checks them all)" if changed is not None else ""
        return f"verified: all {tags} tags{where} resolve with every blob present{full}"
    return (
        f"verified: all {tags} tags{where} resolve (blobs not checked: this run removed "
        "none; regsweep verify checks them)"
    )


def _storage_bytes(target: Target) -> int | None:
    return sum(list_blob_sizes(target.store).values()) if target.store is not None else None
