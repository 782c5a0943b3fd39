"""The native collector's text report, exactly as ``regsweep gc`` prints it: the lines,
the decimal sizes, the swept blobs of a dry run, the cut after the first 20 problems."""

from __future__ import annotations

from regsweep.cli.render_gc import render_gc_report
from regsweep.collect.native import GcReport, Tally
from regsweep.core.model import Digest
from regsweep.core.packed_digests import SizedDigests

A, B = Digest("sha256:" + "a" * 64), Digest("sha256:" + "b" * 64)


def dry_live_report() -> GcReport:
    report = GcReport(offline=False, dry_run=True)
    report.repositories, report.manifests, report.blobs = 3, 12, 40
    report.marked, report.young = Tally(30, 1_234_567), Tally(2, 999)
    report.quarantined, report.purged = Tally(8, 4_500_000), Tally(1, 1000)
    report.uploads_removed = Tally(1, 0)
    report.layer_links_removed, report.folders_removed = 5, 2
    report.swept = SizedDigests([(A, 4_499_000), (B, 1000)])
    report.phases = {"mark": 1.234, "sweep": 0.5, "purge": 0.0, "cleanup": 0.015}
    report.problems = [f"p{i:02d}" for i in range(22)]
    return report


def test_a_dry_run_lists_what_it_would_quarantine_and_the_first_problems() -> None:
    assert render_gc_report(dry_live_report()).split("\n") == [
        f"quarantine {A} 4.5 MB",
        f"quarantine {B} 1.0 kB",
        "marked 30 (1.2 MB) of 40 blobs through 12 manifests in 3 repositories",
        "kept 2 (999 bytes) unreferenced but younger than the grace period",
        "would be quarantined: 8 (4.5 MB)",
        "would be purged from quarantine: 1 (1.0 kB)",
        "would be abandoned uploads removed: 1 (0 bytes)",
        "would be removed: 5 layer links, 2 empty folders",
        "time: mark 1.23s, sweep 0.50s, purge 0.00s, cleanup 0.01s",
        *[f"problem: p{i:02d}" for i in range(20)],
        "... and 2 more problems (--output json)",
    ]


def test_swept_blobs_are_listed_on_request_only() -> None:
    report = dry_live_report()
    assert A not in render_gc_report(report, list_swept=False)
    report.dry_run, report.offline = False, True
    assert A not in render_gc_report(report)
    assert render_gc_report(report, list_swept=True).startswith(f"delete {A} 4.5 MB\n")


def test_a_restore_reports_what_came_back() -> None:
    report = GcReport(offline=False, dry_run=False, restore_only=True)
    report.restored = Tally(3, 3_000_000_000)
    report.phases = {"restore": 2.0}
    assert render_gc_report(report) == "restored: 3 (3.0 GB)\ntime: restore 2.00s"
