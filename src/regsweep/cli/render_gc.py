"""The native collector's report as text for the terminal: the report itself stays plain
data (:class:`~regsweep.collect.native.report.GcReport`, with ``to_json``), and how a
person reads it (sizes in kB and MB, only the first problems) is decided here, at the edge.
"""

from __future__ import annotations

from rich.filesize import decimal

from regsweep.collect.native.report import GcReport, Tally

#: Problems listed in the text report; the JSON report has them all.
PROBLEMS_SHOWN = 20


def render_gc_report(report: GcReport, *, list_swept: bool | None = None) -> str:
    """Plain text; ``list_swept`` (default: in a dry run) lists each swept blob."""
    would = "would be " if report.dry_run else ""
    lines = []
    if list_swept if list_swept is not None else report.dry_run:
        verb = "quarantine" if not report.offline and not report.restore_only else "delete"
        lines += [f"{verb} {digest} {decimal(size)}" for digest, size in report.swept]
    if not report.restore_only:
        lines.append(
            f"marked {_tally(report.marked)} of {report.blobs} blobs through "
            f"{report.manifests} manifests in {report.repositories} repositories"
        )
        if report.young.count:
            lines.append(
                f"kept {_tally(report.young)} unreferenced but younger than the grace period"
            )
    for label, tally in (
        ("deleted", report.deleted),
        ("quarantined", report.quarantined),
        ("restored", report.restored),
        ("restored by the re-mark (pushed during this run)", report.raced),
        ("purged from quarantine", report.purged),
        ("abandoned uploads removed", report.uploads_removed),
    ):
        if tally.count:
            lines.append(f"{would}{label}: {_tally(tally)}")
    if report.layer_links_removed or report.folders_removed:
        lines.append(
            f"{would}removed: {report.layer_links_removed} layer links, "
            f"{report.folders_removed} empty folders"
        )
    for folder, why in report.damaged.items():
        lines.append(f"kept whole: {folder} ({why}): every blob linked into it stays")
    if report.kept_for_damage:
        lines.append(
            f"kept {report.kept_for_damage} blobs only because a damaged repository links them"
        )
    for why in report.sweep_skipped:
        lines.append(f"swept no blob: {why}; regsweep cannot tell what it references")
    lines.append("time: " + ", ".join(f"{name} {s:.2f}s" for name, s in report.phases.items()))
    lines += [f"problem: {p}" for p in report.problems[:PROBLEMS_SHOWN]]
    if len(report.problems) > PROBLEMS_SHOWN:
        lines.append(
            f"... and {len(report.problems) - PROBLEMS_SHOWN} more problems (--output json)"
        )
    return "\n".join(lines)


def _tally(tally: Tally) -> str:
    """A count and its bytes: ``4 (1.2 MB)``."""
    return f"{tally.count} ({decimal(tally.bytes)})"
