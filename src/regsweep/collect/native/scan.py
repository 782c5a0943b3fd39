"""What the collector reads from the storage tree, by folder names.

Only names are listed (one ``list_dir`` per folder), and only the files whose existence
decides something are looked at: the ``link`` of each revision, because an API delete
leaves the revision folder behind empty and the registry's own collector skips such a
folder (so must this one, to delete the same blobs), and the ``current/link`` of each tag,
whose absence makes the tag folder dead. Descending into every link folder instead would
cost a second walk of most of the tree.

A repository is a folder holding ``_layers`` or ``_manifests`` at any depth (2.x lists
only ``_layers``; counting both can only mark more). Damage never stops the scan; it is
noted on the repository's scan, for the collector to work around (see
:mod:`regsweep.collect.native.collector`):

- a folder whose name is not a repository name is scanned all the same, by its folder
  (``unnamed``): the registry cannot serve it, but renaming it back would, so what it
  names is kept;
- a symlink where the revisions are (the repository folder, ``_manifests``, the revisions
  folder, a revision) makes the repository ``blind``: never followed (it could lead
  outside the storage root), so which manifests it holds is unknown;
- a symlink elsewhere (``_layers``, the tags, the uploads) only hides what the cleanup
  would have removed there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from regsweep.collect.native.batches import stat_each
from regsweep.core import names
from regsweep.core.model import Digest, digest_hex
from regsweep.core.packed_digests import PackedDigests
from regsweep.sources.storage import layout
from regsweep.sources.storage.store import (
    PathEscapeError,
    ReadableStore,
    ScannableStore,
    StoredFile,
)

_MARKERS = ("_layers", "_manifests")


@dataclass(slots=True)
class RepositoryScan:
    """One repository as the collector needs it."""

    name: str
    revisions: set[Digest] = field(default_factory=set)  # revisions with their link
    #: blobs linked into it (``_layers``), in digest order: their digests only, each
    #: link's path is :meth:`layer_link` (a path per link was about a third of the
    #: collector's memory); the shared strings (a pointer a link) while the mark set is in
    #: memory and holds them too, else packed (32 bytes a link): as strings they held
    #: every linked blob's digest through the mark once the mark set had gone to disk
    #: (a million links, 120 MiB)
    layers: Sequence[Digest] = ()
    dead_revisions: list[str] = field(default_factory=list)  # revision folders, no link
    dead_tags: list[str] = field(default_factory=list)  # tag folders, no current/link
    uploads: list[str] = field(default_factory=list)  # ``_uploads/<id>`` folders
    #: its name is not a repository name: listed by folder, and kept whole
    unnamed: bool = False
    #: why its revisions cannot be listed (a symlink on the way), or None
    blind: str | None = None
    #: whether its ``_layers`` could be listed (not when symlinked)
    layers_listed: bool = True

    @property
    def folder(self) -> str:
        """The repository's folder below the storage root."""
        return f"{layout.REPOSITORIES}/{self.name}"

    def layer_link(self, digest: Digest) -> str:
        """The ``_layers`` link of a blob linked into it (built by folder: an unnamed one's
        name is not checked against the grammar)."""
        return f"{self.folder}/{layout.LAYERS}/{digest_hex(digest)}/link"


@dataclass
class FoundRepositories:
    """Every folder holding repository metadata, by what can be done with it."""

    names: list[str] = field(default_factory=list)
    #: folders whose name is not a repository name
    unnamed: list[str] = field(default_factory=list)
    #: symlinked folders on the way to repositories (never followed): what is below is unknown
    symlinked: list[str] = field(default_factory=list)


def find_repositories(store: ReadableStore) -> FoundRepositories:
    """Every repository, nested ones (``app/cache`` inside ``app``) included."""
    found = FoundRepositories()
    stack = [""]
    while stack:
        name = stack.pop()
        try:
            entries = store.list_dir(
                f"{layout.REPOSITORIES}/{name}" if name else layout.REPOSITORIES
            )
        except PathEscapeError:
            found.symlinked.append(name)
            continue
        if name and any(marker in entries for marker in _MARKERS):
            (found.names if names.is_repository_name(name) else found.unnamed).append(name)
        stack.extend(f"{name}/{e}" if name else e for e in entries if not e.startswith("_"))
    return found


def scan_repository(
    store: ScannableStore,
    name: str,
    *,
    known: frozenset[Digest] = frozenset(),
    tags: bool = True,
    packed: bool = False,
) -> RepositoryScan:
    """List one repository; revisions in ``known`` are taken as present without a look.
    ``packed``: its layer links packed, not the shared strings."""
    scan = RepositoryScan(name)
    _scan_revisions(store, scan, known)
    if scan.blind is not None:
        return scan
    _scan_layers(store, scan, packed)
    if tags:
        _scan_tags(store, scan)
        try:
            uploads = store.list_dir(layout.uploads_folder(name))
        except PathEscapeError:
            uploads = []
        scan.uploads = [layout.upload_folder(name, u) for u in uploads]
    return scan


def scan_unnamed(store: ReadableStore, folder: str) -> RepositoryScan:
    """A folder holding repository metadata under a name that is not one (renamed by hand):
    its revisions and layer links, by folder names only. Nothing is cleaned there."""
    scan = RepositoryScan(folder, unnamed=True)
    try:
        for hex_ in store.list_dir(f"{scan.folder}/{layout.REVISIONS}"):
            digest = layout.digest_from_hex(hex_)
            if digest is not None:
                scan.revisions.add(digest)
        scan.layers = _linked(store.list_dir(f"{scan.folder}/{layout.LAYERS}"), packed=True)
    except PathEscapeError as exc:
        scan.blind = str(exc)
    return scan


def _scan_revisions(store: ScannableStore, scan: RepositoryScan, known: frozenset[Digest]) -> None:
    try:
        listed = store.list_dir(layout.revisions_folder(scan.name))
    except PathEscapeError as exc:
        scan.blind = str(exc)
        return
    unknown: list[Digest] = []
    for hex_ in listed:
        digest = layout.digest_from_hex(hex_)
        if digest in known:
            scan.revisions.add(digest)
        elif digest is not None:
            unknown.append(digest)
    links = stat_each(store, [layout.revision_link(scan.name, d) for d in unknown])
    for digest, link in zip(unknown, links, strict=True):
        if link is None:
            scan.dead_revisions.append(layout.revision_folder(scan.name, digest))
        elif link.is_link:
            scan.blind = f"{layout.revision_folder(scan.name, digest)} is a symlink"
        else:
            scan.revisions.add(digest)


def _scan_layers(store: ReadableStore, scan: RepositoryScan, packed: bool) -> None:
    try:
        listed = store.list_dir(layout.layers_folder(scan.name))
    except PathEscapeError:
        scan.layers_listed = False
        return
    scan.layers = _linked(listed, packed=packed)


def _linked(folders: Iterable[str], *, packed: bool) -> Sequence[Digest]:
    """The digests that folders are named by (``<hex>``), in digest order: packed, or the
    shared strings."""
    if packed:
        return PackedDigests.of_raw(b"".join(layout.raw_digests(folders)))
    found = (layout.digest_from_hex(hex_) for hex_ in folders)
    return tuple(sorted({d for d in found if d is not None}))


def _scan_tags(store: ScannableStore, scan: RepositoryScan) -> None:
    """The dead tag folders (no ``current/link``); a symlinked one is neither dead nor alive."""
    try:
        listed = store.list_dir(layout.tags_folder(scan.name))
    except PathEscapeError:
        return
    tag_names = [t for t in listed if names.is_tag_name(t)]
    current = stat_each(store, [layout.tag_current_link(scan.name, t) for t in tag_names])
    scan.dead_tags = [
        layout.tag_folder(scan.name, t)
        for t, link in zip(tag_names, current, strict=True)
        if link is None
    ]


def blob_prefixes(store: ReadableStore) -> list[str]:
    """The ``blobs/sha256/<hh>`` folders, listed one by one (in parallel) by :func:`list_blobs`."""
    top = layout.SHA256_BLOBS
    return [f"{top}/{hh}" for hh in store.list_dir(top) if len(hh) == 2]


def list_blobs(store: ReadableStore, prefix: str, *, packed: bool) -> Sequence[Digest]:
    """Digests of the blob folders below one prefix (their ``data`` is looked at later), in
    digest order: packed, or the shared strings (as :func:`scan_repository`'s links)."""
    hh = prefix.rsplit("/", 1)[1]
    return _linked((h for h in store.list_dir(prefix) if h[:2] == hh), packed=packed)


def scan_files(
    files: Iterable[StoredFile], *, tags: bool = True, packed: bool = False
) -> dict[str, RepositoryScan]:
    """Every repository in a flat listing of ``repositories/`` (or of one of its folders,
    which holds each of its repositories whole): what a store that lists flat
    (object storage) does instead of :func:`find_repositories` and
    :func:`scan_repository`, which cost a request per folder and per link looked at, where
    a listing costs one per 1,000 keys and shows every link with it.

    Such a store has no empty folders (nor symlinks), so no dead revision is ever found; a
    tag is dead when keys lie below its folder but no ``current/link``. ``packed``: as
    :func:`scan_repository`.
    """
    scans: dict[str, RepositoryScan] = {}
    layers: dict[str, list[str]] = {}  # each repository's hex names, until every file is seen
    tag_folders: dict[tuple[str, str], bool] = {}  # (repository, tag) -> has current/link
    uploads: set[tuple[str, str]] = set()
    skip = len(layout.REPOSITORIES) + 1
    for stored in files:
        parts = stored.path[skip:].split("/")
        at = next((i for i, part in enumerate(parts) if part.startswith("_")), 0)
        if not at:
            continue
        name, section, rest = "/".join(parts[:at]), parts[at], tuple(parts[at + 1 :])
        scan = scans.get(name)
        if scan is None:
            scan = scans[name] = RepositoryScan(name, unnamed=not names.is_repository_name(name))
        if section == "_layers":
            if len(rest) == 3 and rest[0] == "sha256" and rest[2] == "link":
                layers.setdefault(name, []).append(rest[1])
        elif section == "_manifests" and len(rest) >= 3:
            if rest[:2] == ("revisions", "sha256") and rest[3:] == ("link",):
                digest = layout.digest_from_hex(rest[2])
                if digest is not None:
                    scan.revisions.add(digest)
            elif rest[0] == "tags" and names.is_tag_name(rest[1]) and not scan.unnamed:
                key = (name, rest[1])
                tag_folders[key] = tag_folders.get(key, False) or rest[2:] == ("current", "link")
        elif section == "_uploads" and rest and not scan.unnamed:
            uploads.add((name, rest[0]))
    for name, linked in layers.items():
        scans[name].layers = _linked(linked, packed=packed)
    if tags:
        for (name, tag), has_current in sorted(tag_folders.items()):
            if not has_current:
                scans[name].dead_tags.append(layout.tag_folder(name, tag))
        for name, upload in sorted(uploads):
            scans[name].uploads.append(layout.upload_folder(name, upload))
    return scans
