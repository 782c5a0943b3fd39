"""What the collector reads from the storage tree, by folder names.

Only names are listed (one ``list_dir`` per folder), and only the files whose existence
decides something are looked at: the ``link`` of each revision, because an API delete
leaves the revision folder behind empty and the registry's own collector skips such a
folder (so must this one, to delete the same blobs), and the ``current/link`` of each tag,
whose absence makes the tag folder dead. Descending into every link folder instead would
cost a second walk of most of the tree.

A repository is a folder holding ``_layers`` or ``_manifests`` at any depth (2.x lists
only ``_layers``; counting both can only mark more). A repository whose name is not valid,
or a symlink on the way, stops the collection: skipping it would leave its blobs unmarked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from regsweep.core import names
from regsweep.core.errors import OperationError
from regsweep.core.model import Digest
from regsweep.sources.storage import layout
from regsweep.sources.storage.store import ReadableStore, ScannableStore

_MARKERS = ("_layers", "_manifests")


class MarkError(OperationError):
    """Something the mark cannot see through: sweeping now could delete a needed blob."""


@dataclass(slots=True)
class RepositoryScan:
    """One repository as the collector needs it."""

    name: str
    revisions: set[Digest] = field(default_factory=set)  # revisions with their link
    layers: dict[Digest, str] = field(default_factory=dict)  # ``_layers`` link of each blob
    dead_revisions: list[str] = field(default_factory=list)  # revision folders, no link
    dead_tags: list[str] = field(default_factory=list)  # tag folders, no current/link
    uploads: list[str] = field(default_factory=list)  # ``_uploads/<id>`` folders


def find_repositories(store: ReadableStore) -> list[str]:
    """Every repository name, nested ones (``app/cache`` inside ``app``) included."""
    found: list[str] = []
    stack = [""]
    while stack:
        name = stack.pop()
        entries = store.list_dir(f"{layout.REPOSITORIES}/{name}" if name else layout.REPOSITORIES)
        if name and any(marker in entries for marker in _MARKERS):
            if not names.is_repository_name(name):
                raise MarkError(
                    f"{layout.REPOSITORIES}/{name} holds a repository with an invalid name; "
                    "rename or remove it before collecting (its blobs cannot be marked)"
                )
            found.append(name)
        stack.extend(f"{name}/{e}" if name else e for e in entries if not e.startswith("_"))
    return found


def scan_repository(
    store: ScannableStore, name: str, *, known: frozenset[Digest] = frozenset(), tags: bool = True
) -> RepositoryScan:
    """List one repository; revisions in ``known`` are taken as present without a look."""
    scan = RepositoryScan(name)
    unknown: list[Digest] = []
    for hex_ in store.list_dir(layout.revisions_folder(name)):
        digest = layout.digest_from_hex(hex_)
        if digest in known:
            scan.revisions.add(digest)
        elif digest is not None:
            unknown.append(digest)
    links = store.stat_many([layout.revision_link(name, digest) for digest in unknown])
    for digest, link in zip(unknown, links, strict=True):
        if link is None:
            scan.dead_revisions.append(layout.revision_folder(name, digest))
        else:
            scan.revisions.add(digest)
    for hex_ in store.list_dir(layout.layers_folder(name)):
        digest = layout.digest_from_hex(hex_)
        if digest is not None:
            scan.layers[digest] = layout.layer_link(name, digest)
    if tags:
        tag_names = [t for t in store.list_dir(layout.tags_folder(name)) if names.is_tag_name(t)]
        current = store.stat_many([layout.tag_current_link(name, t) for t in tag_names])
        scan.dead_tags = [
            layout.tag_folder(name, t)
            for t, link in zip(tag_names, current, strict=True)
            if link is None
        ]
        uploads = store.list_dir(layout.uploads_folder(name))
        scan.uploads = [layout.upload_folder(name, u) for u in uploads]
    return scan


def blob_prefixes(store: ReadableStore) -> list[str]:
    """The ``blobs/sha256/<hh>`` folders, listed one by one (in parallel) by :func:`list_blobs`."""
    top = layout.SHA256_BLOBS
    return [f"{top}/{hh}" for hh in store.list_dir(top) if len(hh) == 2]


def list_blobs(store: ReadableStore, prefix: str) -> list[Digest]:
    """Digests of the blob folders below one prefix (their ``data`` is looked at later)."""
    hh = prefix.rsplit("/", 1)[1]
    digests = (layout.digest_from_hex(hex_) for hex_ in store.list_dir(prefix))
    return [d for d in digests if d is not None and d[7:9] == hh]


def scan_listing(store: ReadableStore, *, tags: bool = True) -> dict[str, RepositoryScan]:
    """Every repository from one flat listing of ``repositories/``: what a store that lists
    flat (object storage) does instead of :func:`find_repositories` and
    :func:`scan_repository`, which cost a request per folder and per link looked at, where
    a listing costs one per 1,000 keys and shows every link with it.

    Such a store has no empty folders, so no dead revision is ever found; a tag is dead
    when keys lie below its folder but no ``current/link``.
    """
    scans: dict[str, RepositoryScan] = {}
    tag_folders: dict[tuple[str, str], bool] = {}  # (repository, tag) -> has current/link
    uploads: set[tuple[str, str]] = set()
    skip = len(layout.REPOSITORIES) + 1
    for stored in store.list_files(layout.REPOSITORIES):
        split = layout.split_repository_path(stored.path[skip:])
        if split is None:
            if any(marker in stored.path.split("/") for marker in _MARKERS):
                raise MarkError(
                    f"{stored.path} belongs to a repository with an invalid name; rename or "
                    "remove it before collecting (its blobs cannot be marked)"
                )
            continue
        scan = scans.get(split.repository)
        if scan is None:
            scan = scans[split.repository] = RepositoryScan(split.repository)
        rest = split.rest
        if split.section == "_layers":
            if len(rest) == 3 and rest[0] == "sha256" and rest[2] == "link":
                digest = layout.digest_from_hex(rest[1])
                if digest is not None:
                    scan.layers[digest] = stored.path
        elif split.section == "_manifests" and len(rest) >= 3:
            if rest[:2] == ("revisions", "sha256") and rest[3:] == ("link",):
                digest = layout.digest_from_hex(rest[2])
                if digest is not None:
                    scan.revisions.add(digest)
            elif rest[0] == "tags" and names.is_tag_name(rest[1]):
                key = (split.repository, rest[1])
                tag_folders[key] = tag_folders.get(key, False) or rest[2:] == ("current", "link")
        elif split.section == "_uploads" and rest:
            uploads.add((split.repository, rest[0]))
    if tags:
        for (name, tag), has_current in sorted(tag_folders.items()):
            if not has_current:
                scans[name].dead_tags.append(layout.tag_folder(name, tag))
        for name, upload in sorted(uploads):
            scans[name].uploads.append(layout.upload_folder(name, upload))
    return scans
