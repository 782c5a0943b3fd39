"""Discover a registry's inventory by reading its storage tree.

One flat listing of ``repositories/`` and one of ``blobs/`` give every repository, tag,
revision, layer link, push time and blob size (on object storage in runs of folders
listed at once, :mod:`.listing`); then only the tags' and revisions'
``link`` files and the manifest blobs are read, in parallel. Revision and layer digests
come from folder names, as the registry looks them up.

Nothing found in the tree is fatal: what cannot be read (a link holding no digest, a
manifest that does not parse or is missing, a symlink: never followed, since one could
point outside the root) is reported as a :class:`~regsweep.core.model.Problem` of a kind
(:class:`~regsweep.core.damage.Defect`), in its repository. The planner then skips the
repositories whose damage may hide a manifest, and cleans every other one.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import islice
from typing import Protocol, TypeVar

from regsweep.core import names
from regsweep.core.bounded import MemoryBudget
from regsweep.core.damage import Defect
from regsweep.core.errors import NotARegistryError
from regsweep.core.manifest_map import ManifestMap
from regsweep.core.manifests import ManifestError, parse_manifest
from regsweep.core.model import (
    Digest,
    Inventory,
    Manifest,
    Problem,
    Repository,
    Tag,
    forget_interned_digests,
    intern_digest,
)
from regsweep.core.packed_digests import PackedDigests
from regsweep.core.sorted_sizes import ListedSizes
from regsweep.sources.storage import layout
from regsweep.sources.storage.listing import parts_of, run_parts
from regsweep.sources.storage.store import ReadableStore, StoredFile

log = logging.getLogger(__name__)


Progress = Callable[[str], None]
T = TypeVar("T")
R = TypeVar("R")

#: The size of every link the registry writes: ``sha256:`` and 64 hex digits, no newline.
#: A layer link of another size holds no digest (they are too many to read one by one).
LINK_SIZE = len("sha256:") + 64


@dataclass
class _RepositoryFiles:
    tags: dict[str, float] = field(default_factory=dict)  # tag -> mtime of current/link
    revisions: dict[Digest, float] = field(default_factory=dict)  # -> mtime of its link
    #: the 32 bytes of each linked digest, as listed: as strings in a list, the links of a
    #: million blobs held a million digest strings (and their interning table) until the
    #: listing ended
    listed_layers: bytearray = field(default_factory=bytearray)
    #: the same in digest order, once the listing is over (:func:`_linked`)
    layers: Sequence[Digest] = ()
    last_write: float = 0.0  # newest mtime of its files, uploads included (not tag histories)


def discover_storage(
    store: ReadableStore,
    *,
    workers: int | None = None,
    listings: int | None = None,
    progress: Progress | None = None,
    budget: MemoryBudget | None = None,
) -> Inventory:
    """Read the whole inventory of the registry stored in ``store``, ``workers`` reads at
    once (default: :func:`_readers`), of which ``listings`` may be listings (default: all;
    1 lists one flat listing at a time).
    ``budget``: where the manifests are held, on disk past its limit (default: memory).

    The blob digests are listed packed (32 bytes each, no string made). When the manifests
    stay in memory, their descriptors hold every blob's digest string anyway, and the
    sizes and layer links take the same strings instead (a pointer each, where packed
    they took 32 bytes more); when the manifests go to disk, nothing else would hold the
    strings, and they stay packed."""
    require_registry(store)
    problems: list[Problem] = []
    say = progress or (lambda _message: None)
    width = workers or _readers(store)
    with ThreadPoolExecutor(max_workers=width) as pool:
        say("listing repositories and blobs")
        listed = ListedSizes()
        repositories = _walk(store, pool, listings or width, problems, listed)
        sizes = listed.in_order()
        say("reading tags and revisions")
        tags = _read_links(store, _Pool(pool, width), repositories, problems)
        say("reading manifests")
        holders: dict[Digest, list[str]] = {}
        for name, files in repositories.items():
            for digest in files.revisions:
                holders.setdefault(digest, []).append(name)
        manifests = ManifestMap(budget or MemoryBudget(), expected=len(holders))
        packed = manifests.spilled
        if not packed:
            sizes = sizes.interned()  # before the manifests, whose digests then share them
        for files in repositories.values():
            files.layers, files.listed_layers = _linked(files.listed_layers, packed), bytearray()
        _read_manifests(store, _Pool(pool, width), holders, sizes, problems, manifests)
    forget_interned_digests()  # every digest is read by now
    inventory: dict[str, Repository] = {}
    for name in list(repositories):
        # each repository's files let go as its value is made: not all held twice at the end
        files = repositories.pop(name)
        inventory[name] = Repository(
            name=name,
            tags=tags.pop(name, {}),
            revisions={d: _time(m) for d, m in files.revisions.items()},
            layers=files.layers,
            last_write=_time(files.last_write) if files.last_write else None,
        )
    # a repository whose revisions could not be listed has every tag look dangling
    blind = {p.repository for p in problems if p.defect is Defect.REVISION_SYMLINK}
    _check_tag_targets([r for n, r in inventory.items() if n not in blind], problems)
    for problem in problems:
        log.info("skipped %s", problem)
    return Inventory(
        repositories=inventory,
        manifests=manifests,
        blob_sizes=sizes,
        problems=tuple(problems),
    )


#: The folders every path discovery reads goes through.
_SPINE = (
    "docker",
    "docker/registry",
    layout.V2,
    layout.REPOSITORIES,
    layout.BLOBS,
    layout.SHA256_BLOBS,
)


def _linked(raw: bytearray, packed: bool) -> Sequence[Digest]:
    """A repository's layer links in digest order: packed, or the interned strings."""
    ordered = PackedDigests.of_raw(raw)
    return ordered if packed else tuple(intern_digest(d) for d in ordered)


def require_registry(store: ReadableStore) -> None:
    """Refuse a folder that is not a registry's storage root, before reading anything.

    A symlink on the spine is refused too: symlinks are never followed (one could lead
    outside the root), and skipping a symlinked ``repositories`` would silently see an
    empty registry.
    """
    for folder in _SPINE:
        stored = store.stat(folder)
        if stored is not None and stored.is_link:
            raise NotARegistryError(
                f"{store.describe()}: {folder} is a symlink, which regsweep does not follow "
                "(it could lead outside the storage root); give the real folder instead"
            )
    if not store.exists(layout.V2):
        hint = ""
        if store.exists("registry/v2") or store.exists("v2/repositories"):
            hint = " (point at the folder that contains docker/registry/v2)"
        raise NotARegistryError(
            f"{store.describe()} is not a registry storage root: no {layout.V2} inside{hint}"
        )


def _readers(store: ReadableStore) -> int:
    """Reads at once by default: the store's :attr:`~ReadableStore.readers`, but one, on the
    calling thread, where a call returns in microseconds (a local folder).

    There discovery reads files its listing has just walked, parsing is the cost, and a
    second thread only takes the GIL in turns: at 100,000 blobs the links took 0.37 s on one
    thread against 0.65 on two and the manifests (to the end of discovery) 1.45 against
    2.15, warm. From a cold cache (four runs each) the links took 1.4-2.1 s against 1.1-1.6
    and the manifests 2.3-3.1 against 2.4-3.4, after a listing of 25-34 s. The collector
    keeps the store's number (measured for its mark: :attr:`LocalStore.readers`)."""
    return 1 if store.blocks_briefly else store.readers


def _time(mtime: float) -> datetime:
    return datetime.fromtimestamp(mtime, UTC)


def _walk(
    store: ReadableStore,
    pool: Executor,
    listings: int,
    problems: list[Problem],
    sizes: ListedSizes,
) -> dict[str, _RepositoryFiles]:
    """List ``repositories/`` and ``blobs/`` (each blob's size into ``sizes``), ``listings``
    listings at once: in runs of folders, each filed where it is listed and merged here as
    it ends. A top-level folder holds whole repositories and is whole in one run: what two
    runs find never overlaps."""
    repositories: dict[str, _RepositoryFiles] = {}
    if not store.lists_flat:
        listings = 1  # a local folder: one walk, then the other, on this thread
    parts = [
        *(
            partial(_filed, listing, _list_repositories, repositories, problems)
            for listing in parts_of(store, layout.REPOSITORIES, listings, layout.is_tag_history)
        ),
        *(
            partial(_filed, listing, _listed_sizes_in, sizes, problems)
            for listing in parts_of(store, layout.SHA256_BLOBS, listings)
        ),
    ]
    for merge in run_parts(pool, parts, window=listings):
        merge()
    return repositories


P = TypeVar("P", contravariant=True)


class _Merges(Protocol[P]):
    """What a part's results are merged into: a dict, :class:`ListedSizes`."""

    def update(self, part: P, /) -> None: ...


def _filed(
    listing: Callable[[], Iterable[StoredFile]],
    file: Callable[[Iterable[StoredFile], list[Problem]], P],
    into: _Merges[P],
    problems: list[Problem],
) -> Callable[[], None]:
    """On the pool: list and file one part; what merges it, on the calling thread."""
    found_problems: list[Problem] = []
    found = file(listing(), found_problems)

    def merge() -> None:
        into.update(found)
        problems.extend(found_problems)

    return merge


def _list_repositories(
    listed: Iterable[StoredFile], problems: list[Problem]
) -> dict[str, _RepositoryFiles]:
    repositories: dict[str, _RepositoryFiles] = {}
    invalid: set[str] = set()
    skip = len(layout.REPOSITORIES) + 1
    for stored in listed:
        relative = stored.path[skip:]
        split = layout.split_repository_path(relative)
        if split is not None and layout.in_tag_history(split):
            continue  # not walked where it can be left out: a flat listing has it anyway
        if stored.is_link:
            problems.append(_symlink(stored.path, relative))
            continue
        if split is None:
            name = _invalid_name(relative)
            if name is None:
                problems.append(_stray(stored.path, None))
            elif name not in invalid:
                invalid.add(name)
                problems.append(
                    Problem(
                        f"{layout.REPOSITORIES}/{name}",
                        "holds repository metadata but its name is not a repository name",
                        Defect.INVALID_NAME,
                        name,
                    )
                )
            continue
        files = repositories.get(split.repository)
        if files is None:
            files = repositories[split.repository] = _RepositoryFiles()
        files.last_write = max(files.last_write, stored.mtime)
        if split.section != "_uploads":
            problem = _record(files, split, stored)
            if problem is not None:
                problems.append(problem)
    return repositories


def _invalid_name(relative: str) -> str | None:
    """The folder holding repository metadata (``<name>/_layers/...``) whose name is not a
    name, or None when ``relative`` holds no metadata at all (a stray file)."""
    parts = relative.split("/")
    for i, part in enumerate(parts):
        if part.startswith("_"):
            return "/".join(parts[:i]) if i else None
    return None


def _symlink(path: str, relative: str) -> Problem:
    """What a symlink below ``repositories/`` may hide, by where it is: the registry
    follows it, regsweep never does (it could lead outside the storage root)."""
    parts = relative.split("/")
    at = next((i for i, part in enumerate(parts) if part.startswith("_")), None)
    message = "symlink, not followed"
    if at is None:  # the repository folder itself, or a folder of names above some
        defect = Defect.REPOSITORY_SYMLINK if names.is_repository_name(relative) else None
        return Problem(path, message, defect or Defect.INVALID_NAME, relative)
    if at == 0:
        return Problem(path, message, Defect.STRAY)
    name, section, rest = "/".join(parts[:at]), parts[at], parts[at + 1 :]
    if not names.is_repository_name(name):
        return Problem(path, message, Defect.INVALID_NAME, name)
    subject = None
    in_manifests = section == "_manifests"
    if in_manifests and rest[:1] == ["tags"] and (len(rest) <= 2 or rest[2] == "current"):
        defect = Defect.TAG_SYMLINK
        subject = rest[1] if len(rest) >= 2 else None
    elif in_manifests and rest[:1] in ([], ["revisions"]):
        defect = Defect.REVISION_SYMLINK
        hex_ = rest[2] if len(rest) >= 3 and rest[1] == "sha256" else ""
        subject = layout.digest_from_hex(hex_)
    elif section == "_layers":
        defect = Defect.LAYER_SYMLINK
    else:
        defect = Defect.STRAY
    return Problem(path, message, defect, name, subject)


def _stray(path: str, repository: str | None) -> Problem:
    return Problem(path, "unexpected file in repository metadata", Defect.STRAY, repository)


def _record(
    files: _RepositoryFiles, split: layout.RepositoryPath, stored: StoredFile
) -> Problem | None:
    """File one metadata path; a problem for anything the layout does not have."""
    rest = split.rest
    if split.section == "_manifests" and len(rest) >= 2 and rest[0] == "tags":
        if rest[2:] == ("current", "link") and names.is_tag_name(rest[1]):
            files.tags[rest[1]] = stored.mtime
            return None
    elif split.section == "_manifests" and len(rest) == 4 and rest[:2] == ("revisions", "sha256"):
        digest = layout.digest_from_hex(rest[2])
        if digest is not None and rest[3] == "link":
            files.revisions[digest] = stored.mtime
            return None
    elif (
        split.section == "_layers"
        and len(rest) == 3
        and rest[0] == "sha256"
        and rest[2] == "link"
        and layout.is_digest_hex(rest[1])
    ):
        if stored.size != LINK_SIZE:
            return Problem(
                stored.path,
                f"layer link holds no digest ({stored.size} bytes)",
                Defect.LAYER_LINK,
                split.repository,
                layout.digest_from_hex(rest[1]),
            )
        files.listed_layers.extend(bytes.fromhex(rest[1]))
        return None
    return _stray(stored.path, split.repository)


def list_blob_sizes(store: ReadableStore) -> dict[Digest, int]:
    """Size of every blob in the content store (what the storage bytes of a registry are),
    its folders listed at once on object storage."""
    sizes: dict[Digest, int] = {}
    listings = store.readers if store.lists_flat else 1
    with ThreadPoolExecutor(max_workers=listings) as pool:
        parts = [
            partial(_filed, listing, blob_sizes_in, sizes, [])
            for listing in parts_of(store, layout.SHA256_BLOBS, listings)
        ]
        for merge in run_parts(pool, parts, window=listings):
            merge()
    return sizes


def blob_sizes_in(listed: Iterable[StoredFile], problems: list[Problem]) -> dict[Digest, int]:
    """The size of each blob in a listing of ``blobs/sha256`` (or of one of its folders)."""
    sizes: dict[Digest, int] = {}
    for stored in listed:
        hex_ = _blob_hex(stored, problems)
        if hex_ is not None:
            sizes[intern_digest(f"sha256:{hex_}")] = stored.size
    return sizes


def _listed_sizes_in(listed: Iterable[StoredFile], problems: list[Problem]) -> ListedSizes:
    """The same, packed from the first (:class:`ListedSizes`): no digest string made."""
    sizes = ListedSizes()
    for stored in listed:
        hex_ = _blob_hex(stored, problems)
        if hex_ is not None:
            sizes.add(hex_, stored.size)
    return sizes


def _blob_hex(stored: StoredFile, problems: list[Problem]) -> str | None:
    """The hex digits of the digest of the blob whose data file ``stored`` is; None, and a
    problem, for anything else."""
    parts = stored.path.split("/")
    if (
        len(parts) == 8
        and not stored.is_link
        and parts[-1] == "data"
        and parts[-3] == parts[-2][:2]
        and layout.is_digest_hex(parts[-2])
    ):
        return parts[-2]
    problems.append(Problem(stored.path, "not a blob data file; skipped", Defect.STRAY))
    return None


#: Reads per task at most: a future per read costs more time and memory than the read
#: (a registry of 100,000 manifests had 100,000 futures waiting at once).
_BATCH = 64
#: Batches read ahead of the caller, per reader (:meth:`_Pool.each`).
_AHEAD = 4


@dataclass(frozen=True)
class _Pool:
    """The readers' pool and how many threads it has."""

    executor: ThreadPoolExecutor
    readers: int

    def each(self, read: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        """``read`` of every item, in order, a batch of items per task: batches small
        enough that every reader has some (a small registry on object storage is read as
        concurrently as with a task per item).

        At most :data:`_AHEAD` batches per reader are read ahead of the caller: all at
        once (``Executor.map``), the readers outran a caller that writes each manifest to
        disk, and a million-blob registry's parsed manifests piled up in the finished
        tasks (130 MiB at once under ``--memory-limit 256MiB``).

        One reader reads on the calling thread, as the caller takes each result: a hand-off
        to a thread would cost more than a read from a local folder."""
        if self.readers <= 1:
            yield from map(read, items)
            return
        size = max(1, min(_BATCH, len(items) // (4 * self.readers)))

        def batch(start: int) -> list[R]:
            return [read(item) for item in items[start : start + size]]

        starts = iter(range(0, len(items), size))
        ahead: deque[Future[list[R]]] = deque(
            self.executor.submit(batch, start) for start in islice(starts, _AHEAD * self.readers)
        )
        try:
            while ahead:
                part = ahead.popleft().result()
                following = next(starts, None)
                if following is not None:
                    ahead.append(self.executor.submit(batch, following))
                yield from part
        finally:  # a caller that stops early: what it will not take is not read
            for waiting in ahead:
                waiting.cancel()


def _read_links(
    store: ReadableStore,
    pool: _Pool,
    repositories: dict[str, _RepositoryFiles],
    problems: list[Problem],
) -> dict[str, dict[str, Tag]]:
    """Read every tag's ``current/link`` and every revision link, as the registry reads
    them to serve a tag (and its garbage collector, every revision)."""
    tag_jobs = [
        (repo, tag, mtime) for repo, f in repositories.items() for tag, mtime in f.tags.items()
    ]
    revision_jobs = [(repo, digest) for repo, f in repositories.items() for digest in f.revisions]

    def read_tag(job: tuple[str, str, float]) -> Tag | Problem:
        repo, tag, mtime = job
        path = layout.tag_current_link(repo, tag)
        try:
            digest = layout.parse_link(store.read(path))
        except (OSError, ValueError) as exc:
            return Problem(path, f"tag skipped: {exc}", Defect.TAG_LINK, repo, tag)
        return Tag(repo, tag, digest, _time(mtime))

    def read_revision(job: tuple[str, Digest]) -> Problem | None:
        repo, digest = job
        path = layout.revision_link(repo, digest)
        try:
            linked = layout.parse_link(store.read(path))
        except (OSError, ValueError) as exc:
            return Problem(path, f"revision link: {exc}", Defect.REVISION_LINK, repo, digest)
        if linked != digest:
            return Problem(
                path,
                f"revision link names another digest, {linked}",
                Defect.REVISION_LINK_FOREIGN,
                repo,
                digest,
            )
        return None

    tags: dict[str, dict[str, Tag]] = {}
    for result in pool.each(read_tag, tag_jobs):
        if isinstance(result, Problem):
            problems.append(result)
        else:
            tags.setdefault(result.repository, {})[result.name] = result
    problems.extend(p for p in pool.each(read_revision, revision_jobs) if p)
    return tags


def _read_manifests(
    store: ReadableStore,
    pool: _Pool,
    holders: dict[Digest, list[str]],
    blob_sizes: Mapping[Digest, int],
    problems: list[Problem],
    manifests: ManifestMap,
) -> None:
    """Parse the manifest of every revision into ``manifests``; one that cannot be read is
    a problem in each repository that holds it (``holders``): manifests are shared by
    content."""
    present = sorted(d for d in holders if d in blob_sizes)

    share = not manifests.spilled  # on disk, a manifest's digests are let go of at once

    def read(digest: Digest) -> Manifest | tuple[Digest, str]:
        try:
            return parse_manifest(digest, store.read(layout.blob_data(digest)), share_digests=share)
        except (OSError, ManifestError) as exc:
            return digest, f"manifest does not parse: {exc}"

    unreadable: list[tuple[Digest, str, Defect]] = []
    for result in pool.each(read, present):
        if isinstance(result, Manifest):
            manifests.add(result)
        else:
            unreadable.append((*result, Defect.MANIFEST_UNPARSEABLE))
    for digest in sorted(set(holders) - set(present)):
        message = "revision whose manifest blob is missing (or not a plain file)"
        unreadable.append((digest, message, Defect.MANIFEST_MISSING))
    for digest, message, defect in unreadable:
        for repo in sorted(holders[digest]):
            problems.append(Problem(layout.blob_data(digest), message, defect, repo, digest))


def _check_tag_targets(repositories: Iterable[Repository], problems: list[Problem]) -> None:
    for repository in repositories:
        for tag in repository.tags.values():
            if tag.digest not in repository.revisions:
                problems.append(
                    Problem(
                        f"{repository.name}:{tag.name}",
                        f"tag points to {tag.digest}, which is not a manifest of the repository",
                        Defect.DANGLING_TAG,
                        repository.name,
                        tag.name,
                    )
                )
