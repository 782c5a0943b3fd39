"""The quarantine: where a collection that runs beside a live registry puts what it sweeps.

::

    <root>/regsweep/quarantine/<run time, epoch seconds>/sha256/<hex>/data

It sits beside the registry's tree, on the same filesystem but outside
``docker/registry/v2``, so a blob goes in and comes back in one rename and the registry
never sees it there. Why not delete at once: a push that began before the mark can still
reference a blob the mark found unreferenced (its layers already existed, so it skipped
uploading them, distribution #3045). The collector marks the manifests pushed since its mark
began and moves back what they need; a later run moves back whatever a manifest references
again, and deletes a quarantined blob only after it stayed unreferenced for the delay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from regsweep.collect.native.vacuum import delete_blobs
from regsweep.core.model import Digest, digest_hex
from regsweep.sources.storage import layout
from regsweep.sources.storage.store import DeletingStore, MovingStore, ReadableStore
from regsweep.state.lock import AREA

QUARANTINE = f"{AREA}/quarantine"


class QuarantineStore(MovingStore, DeletingStore, Protocol):
    """What moving blobs in and out of the quarantine takes: a rename each way, and a
    delete for the copy that is not needed when both sides hold the blob."""


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A blob in the quarantine; ``batch`` is the time (epoch seconds) it was moved there."""

    digest: Digest
    batch: int

    @property
    def folder(self) -> str:
        """The blob's folder in the quarantine: what moves out of the tree and back."""
        return f"{QUARANTINE}/{self.batch}/sha256/{digest_hex(self.digest)}"

    @property
    def data(self) -> str:
        """The blob's bytes in the quarantine."""
        return f"{self.folder}/data"


def list_quarantine(store: ReadableStore) -> dict[Digest, list[Quarantined]]:
    """Every quarantined blob; one digest can sit in several batches."""
    found: dict[Digest, list[Quarantined]] = {}
    for batch in store.list_dir(QUARANTINE):
        if not batch.isdigit():
            continue
        for hex_ in store.list_dir(f"{QUARANTINE}/{batch}/sha256"):
            digest = layout.digest_from_hex(hex_)
            if digest is not None:
                found.setdefault(digest, []).append(Quarantined(digest, int(batch)))
    return found


def quarantine_blob(store: QuarantineStore, digest: Digest, batch: int) -> Quarantined | None:
    """Move a blob's folder out of the tree; None when it was gone already."""
    entry = Quarantined(digest, batch)
    try:
        if not store.move(layout.blob_folder(digest), entry.folder):
            return None
    except FileExistsError:
        # this batch holds it already (quarantined, re-pushed, swept again within the same
        # second): the content is the same, keep that copy
        delete_blobs(store, [digest])
    return entry


def restore_blobs(store: QuarantineStore, entries: list[Quarantined]) -> None:
    """Move blobs back into the tree; when the tree has one again (uploaded anew since),
    the quarantined copy, the same bytes, is dropped."""
    for entry in entries:
        try:
            moved = store.move(entry.data, layout.blob_data(entry.digest))
        except FileExistsError:
            moved = False
        if not moved:
            store.delete_files([entry.data])
        store.remove_empty_folders([entry.folder])


def purge_blobs(store: DeletingStore, entries: list[Quarantined]) -> None:
    """Delete quarantined blobs for good: their data, then their folders."""
    store.delete_files([e.data for e in entries])
    store.remove_empty_folders([e.folder for e in entries])


def remove_empty_batches(store: DeletingStore, batches: Iterable[int]) -> None:
    """Remove the batches' folders that are empty now, so that a quarantine whose blobs all
    went back or were purged leaves no trace."""
    store.remove_empty_folders(
        [p for b in sorted(set(batches)) for p in (f"{QUARANTINE}/{b}/sha256", f"{QUARANTINE}/{b}")]
    )
