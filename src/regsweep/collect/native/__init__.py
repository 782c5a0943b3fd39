"""regsweep's own garbage collector (``regsweep gc``, ``--gc native``).

::

    collector.py   collect_native / restore_quarantine: the phases, top to bottom
    scan.py        repositories, revisions, layer links, tags, blobs: by folder names
    mark.py        the mark set, reading manifests in parallel with the listing
    sweep.py       unreferenced blobs out of the tree: deleted, or quarantined
    quarantine.py  the quarantine beside the tree, and moving blobs in and out of it
    cleanup.py     layer links, dead folders, abandoned uploads
    vacuum.py      the deletion primitives
    report.py      GcReport: counts, bytes, seconds per phase
"""

from regsweep.collect.native.collector import (
    DEFAULT_GRACE,
    DEFAULT_QUARANTINE_DELAY,
    DEFAULT_UPLOAD_MAX_AGE,
    collect_native,
    restore_quarantine,
)
from regsweep.collect.native.report import GcReport, Tally

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_QUARANTINE_DELAY",
    "DEFAULT_UPLOAD_MAX_AGE",
    "GcReport",
    "Tally",
    "collect_native",
    "restore_quarantine",
]
