"""The bytes a run reports: freed is what left the disk, not what left the content store."""

from __future__ import annotations

from datetime import UTC, datetime

from regsweep.collect.native import GcReport, Tally
from regsweep.collect.registry import GcResult
from regsweep.pipeline.report import StorageBytes

LATER = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)


def test_the_registrys_gc_frees_what_left_the_content_store() -> None:
    result = GcResult(("gc",), blobs_marked=3, blobs_deleted=2, manifests_deleted=0)
    storage = StorageBytes.around(1000, 700, result, purge_after=LATER)
    assert (storage.freed, storage.quarantined, storage.purge_after) == (300, 0, None)


def test_quarantined_bytes_are_not_freed_until_purged() -> None:
    report = GcReport(offline=False, dry_run=False)
    report.quarantined = Tally(2, 300)
    storage = StorageBytes.around(1000, 700, report, purge_after=LATER)
    assert (storage.freed, storage.quarantined, storage.purge_after) == (0, 300, LATER)


def test_purged_and_restored_bytes_are_counted_where_they_went() -> None:
    """A later collection: 120 B purged from the quarantine (freed, never in the content
    store), 50 B restored into the content store (not new, not freed), 200 B quarantined."""
    report = GcReport(offline=False, dry_run=False)
    report.quarantined = Tally(1, 200)
    report.restored = Tally(1, 50)
    report.purged = Tally(1, 120)
    storage = StorageBytes.around(1000, 850, report, purge_after=LATER)
    assert storage.freed == 120  # disk: 1000 + q -> 850 + (q + 200 - 50 - 120)


def test_an_offline_collection_frees_at_once() -> None:
    report = GcReport(offline=True, dry_run=False)
    report.deleted = Tally(2, 300)
    storage = StorageBytes.around(1000, 700, report, purge_after=LATER)
    assert (storage.freed, storage.purge_after) == (300, None)
