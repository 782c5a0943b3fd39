"""Collect: the garbage collection after apply (``run``, ``apply``), and regsweep's own
collector on its own (``regsweep gc``)."""

from __future__ import annotations

from datetime import UTC, datetime

from regsweep.collect.collection import (
    AnyCollection,
    Collection,
    collect,
    collect_natively,
    collects,
    restart_after,
)
from regsweep.collect.native import GcReport, restore_quarantine
from regsweep.collect.options import CollectOptions, Collector
from regsweep.collect.preflight import check_collection
from regsweep.pipeline.observer import LoggingObserver, Observer
from regsweep.pipeline.target import Target


def collect_after_apply(
    options: CollectOptions, target: Target, observer: Observer, *, now: datetime
) -> AnyCollection | None:
    """The chosen collection and its restart, each reported as it ends; None when nothing
    collects on this target."""
    if not collects(options, target.store):
        return None
    native = options.collector is Collector.NATIVE
    with observer.status(
        "collecting garbage (native)" if native else "collecting garbage"
    ) as status:
        collection = collect(options, target.store, now=now, progress=status)
    observer.collected(collection.report)
    _say_restart(collection, observer)
    return collection


def collect_garbage(
    target: Target,
    options: CollectOptions,
    *,
    dry_run: bool = False,
    restore: bool = False,
    observer: Observer | None = None,
) -> Collection[GcReport]:
    """regsweep's own collector on ``target``'s storage (``restore``: move every quarantined
    blob back instead), then the restart it calls for."""
    observer = observer or LoggingObserver()
    assert target.store is not None, "collection needs the registry's storage"
    if not dry_run:
        # the restart after the sweep must be able to run before anything is swept
        check_collection(options, target.store)
    report: GcReport
    with observer.status("collecting garbage") as status:
        if restore:
            report = restore_quarantine(target.store, dry_run=dry_run, now=datetime.now(UTC))
        else:
            report = collect_natively(
                target.store,
                options.native,
                dry_run=dry_run,
                now=datetime.now(UTC),
                progress=status,
            )
    collection = restart_after(options, report)
    _say_restart(collection, observer)
    return collection


def _say_restart(collection: AnyCollection, observer: Observer) -> None:
    """Say that the registry was restarted, or that it must be, so its blob cache forgets
    the blobs just collected (distribution #1803)."""
    if collection.restarted:
        observer.info("registry restarted, so its blob cache forgets the blobs just collected")
    elif collection.restart_skipped:
        observer.warn(
            "the registry was not restarted: restart it now, or its blob cache may "
            "serve the blobs just collected to pushes"
        )
