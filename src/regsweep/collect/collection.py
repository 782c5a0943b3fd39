"""Run the chosen collector, then the restart it calls for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from regsweep.collect.native import GcReport, collect_native
from regsweep.collect.options import (
    GC_TIMEOUT_SECONDS,
    RESTART_TIMEOUT_SECONDS,
    CollectOptions,
    Collector,
    NativeMode,
    NativeOptions,
)
from regsweep.collect.registry import (
    GcResult,
    child_environment,
    restart_registry,
    run_registry_gc,
)
from regsweep.sources.storage.store import ReadableStore, Store

#: The report of the collector that ran: the registry's, or regsweep's.
Report = TypeVar("Report", GcResult, GcReport)


@dataclass(frozen=True)
class Collection(Generic[Report]):
    """What a collection did: the collector's own report, and whether the registry was
    restarted afterwards (or needed it and was not: the caller must say so)."""

    report: Report
    restarted: bool

    @property
    def restart_skipped(self) -> bool:
        """Blobs went and no restart command was given: the registry's blob cache may
        still serve them to pushes (distribution #1803) until someone restarts it."""
        return self.report.needs_restart and not self.restarted


#: A collection by either collector.
AnyCollection = Collection[GcResult] | Collection[GcReport]


def collects(options: CollectOptions, store: ReadableStore | None) -> bool:
    """Whether ``options`` collect anything at all on this target."""
    if options.collector is Collector.REGISTRY:
        return options.gc_argv is not None
    return options.collector is Collector.NATIVE and store is not None


def collect(
    options: CollectOptions,
    store: Store | None,
    *,
    now: datetime,
    progress: Callable[[str], None] | None = None,
) -> AnyCollection:
    """Collect garbage with the registry's command or regsweep's collector, then restart the
    registry when blobs went (its blob-descriptor cache would otherwise still claim them)."""
    if options.collector is Collector.REGISTRY and options.gc_argv is not None:
        gc = run_registry_gc(
            options.gc_argv,
            env=child_environment(options.withheld_env),
            timeout=GC_TIMEOUT_SECONDS,
        )
        return restart_after(options, gc)
    if options.collector is Collector.NATIVE and store is not None:
        native = collect_natively(store, options.native, dry_run=False, now=now, progress=progress)
        return restart_after(options, native)
    raise ValueError(f"nothing to collect with {options.collector.value} here")


def restart_after(options: CollectOptions, report: Report) -> Collection[Report]:
    """Restart the registry when a collection took blobs away and a command is given."""
    restarted = False
    if report.needs_restart and options.restart_argv is not None:
        restart_registry(
            options.restart_argv,
            env=child_environment(options.withheld_env),
            timeout=RESTART_TIMEOUT_SECONDS,
        )
        restarted = True
    return Collection(report, restarted)


def collect_natively(
    store: Store,
    options: NativeOptions,
    *,
    dry_run: bool,
    now: datetime,
    progress: Callable[[str], None] | None = None,
) -> GcReport:
    """regsweep's collector with ``options`` (grace, quarantine, uploads, offline)."""
    return collect_native(
        store,
        dry_run=dry_run,
        offline=options.mode is NativeMode.OFFLINE,
        grace=options.grace,
        quarantine_delay=options.quarantine_delay,
        upload_max_age=options.upload_max_age,
        now=now,
        progress=progress,
        memory_limit=options.memory_limit,
    )
