"""The deletion primitives, isolated as in distribution's ``vacuum.go``: nothing else in
the collector deletes. Each removes a file and then its folder only if that is empty, so a
file the registry writes into the folder at the same moment survives."""

from __future__ import annotations

from collections.abc import Sequence

from regsweep.core.model import Digest
from regsweep.sources.storage import layout
from regsweep.sources.storage.store import DeletingStore


def delete_blobs(store: DeletingStore, digests: Sequence[Digest]) -> None:
    """Delete blobs from the content store: their ``data``, then their folders."""
    store.delete_files([layout.blob_data(d) for d in digests])
    store.remove_empty_folders([layout.blob_folder(d) for d in digests])


def delete_link_files(store: DeletingStore, links: Sequence[str]) -> None:
    """Delete ``.../<hex>/link`` files, then their ``<hex>`` folders."""
    store.delete_files(links)
    store.remove_empty_folders([link.rsplit("/", 1)[0] for link in links])
