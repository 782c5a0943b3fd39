"""Discover a registry's inventory by reading its storage tree.

One flat listing of ``repositories/`` and one of ``blobs/`` give every repository, tag,
revision, layer link, push time and blob size; then only the tags' ``current/link`` files
and the manifest blobs are read, in parallel. Revision and layer digests come from folder
names, exactly as the registry's own garbage collector enumerates them.

Nothing found in the tree is fatal: malformed or dangling links, unparseable manifests and
symlinks (never followed: one could point outside the root) are reported as problems and
skipped, which always errs on the side of keeping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from regsweep.core import names
from regsweep.core.errors import NotARegistryError
from regsweep.core.manifests import ManifestError, parse_manifest
from regsweep.core.model import Digest, Inventory, Manifest, Problem, Repository, Tag
from regsweep.sources.storage import layout
from regsweep.sources.storage.store import ReadableStore

log = logging.getLogger(__name__)


Progress = Callable[[str], None]


@dataclass
class _RepositoryFiles:
    tags: dict[str, float] = field(default_factory=dict)  # tag -> mtime of current/link
    revisions: dict[Digest, float] = field(default_factory=dict)
    layers: set[Digest] = field(default_factory=set)
    unreadable_tags: set[str] = field(default_factory=set)


def discover_storage(
    store: ReadableStore, *, workers: int | None = None, progress: Progress | None = None
) -> Inventory:
    """Read the whole inventory of the registry stored in ``store``, ``workers`` reads at
    once (default: as many as suit the store, :attr:`ReadableStore.readers`)."""
    require_registry(store)
    problems: list[Problem] = []
    say = progress or (lambda _message: None)
    say("listing repositories")
    repositories = _list_repositories(store, problems)
    say("listing blobs")
    blob_sizes = list_blob_sizes(store, problems)
    with ThreadPoolExecutor(max_workers=workers or store.readers) as pool:
        say("reading tags")
        tags = _read_tags(store, pool, repositories, problems)
        say("reading manifests")
        wanted = {d for files in repositories.values() for d in files.revisions}
        manifests = _read_manifests(store, pool, wanted, blob_sizes, problems)
    inventory = {
        name: Repository(
            name=name,
            tags=tags.get(name, {}),
            revisions={d: _time(m) for d, m in files.revisions.items()},
            layers=frozenset(files.layers),
            unreadable_tags=frozenset(files.unreadable_tags),
        )
        for name, files in repositories.items()
    }
    _check_tag_targets(inventory, problems)
    for problem in problems:
        log.info("skipped %s", problem)
    return Inventory(
        repositories=inventory,
        manifests=manifests,
        blob_sizes=blob_sizes,
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


def _time(mtime: float) -> datetime:
    return datetime.fromtimestamp(mtime, UTC)


def _list_repositories(
    store: ReadableStore, problems: list[Problem]
) -> dict[str, _RepositoryFiles]:
    repositories: dict[str, _RepositoryFiles] = {}
    skip = len(layout.REPOSITORIES) + 1
    for stored in store.list_files(layout.REPOSITORIES):
        if stored.is_link:
            problems.append(Problem(stored.path, "symlink, not followed"))
            _note_unreadable_tag(repositories, stored.path[skip:])
            continue
        split = layout.split_repository_path(stored.path[skip:])
        if split is None:
            problems.append(Problem(stored.path, "not inside a valid repository"))
            continue
        if split.section == "_uploads":
            continue
        files = repositories.get(split.repository)
        if files is None:
            files = repositories[split.repository] = _RepositoryFiles()
        if not _record(files, split, stored.mtime):
            problems.append(Problem(stored.path, "unexpected file in repository metadata"))
    return repositories


def _note_unreadable_tag(repositories: dict[str, _RepositoryFiles], relative: str) -> None:
    """A symlink where tags live hides a tag the registry may well serve (it follows links)."""
    split = layout.split_repository_path(relative)
    if split is None or split.section != "_manifests" or split.rest[:1] not in ((), ("tags",)):
        return
    name = split.rest[1] if len(split.rest) >= 2 else "*"
    files = repositories.setdefault(split.repository, _RepositoryFiles())
    files.unreadable_tags.add(name)


def _record(files: _RepositoryFiles, split: layout.RepositoryPath, mtime: float) -> bool:
    """File one metadata path; False for anything the layout does not have."""
    rest = split.rest
    if split.section == "_manifests" and len(rest) >= 2 and rest[0] == "tags":
        if rest[2:] == ("current", "link") and names.is_tag_name(rest[1]):
            files.tags[rest[1]] = mtime
            return True
        return len(rest) == 6 and rest[2] == "index" and rest[5] == "link"
    if len(rest) == 4 and rest[1] == "sha256" and rest[3] == "link":
        digest = layout.digest_from_hex(rest[2])
        if digest is not None and split.section == "_manifests" and rest[0] == "revisions":
            files.revisions[digest] = mtime
            return True
    if len(rest) == 3 and split.section == "_layers" and rest[0] == "sha256" and rest[2] == "link":
        digest = layout.digest_from_hex(rest[1])
        if digest is not None:
            files.layers.add(digest)
            return True
    return False


def list_blob_sizes(
    store: ReadableStore, problems: list[Problem] | None = None
) -> dict[Digest, int]:
    """Size of every blob in the content store (what the storage bytes of a registry are)."""
    problems = [] if problems is None else problems
    sizes: dict[Digest, int] = {}
    for stored in store.list_files(layout.SHA256_BLOBS):
        parts = stored.path.split("/")
        digest = layout.digest_from_hex(parts[-2]) if len(parts) == 8 else None
        if stored.is_link or digest is None or parts[-1] != "data" or parts[-3] != parts[-2][:2]:
            problems.append(Problem(stored.path, "not a blob data file; skipped"))
            continue
        sizes[digest] = stored.size
    return sizes


def _read_tags(
    store: ReadableStore,
    pool: ThreadPoolExecutor,
    repositories: dict[str, _RepositoryFiles],
    problems: list[Problem],
) -> dict[str, dict[str, Tag]]:
    jobs = [(repo, tag, mtime) for repo, f in repositories.items() for tag, mtime in f.tags.items()]

    def read(job: tuple[str, str, float]) -> tuple[str, str, Tag | Problem]:
        repo, tag, mtime = job
        path = layout.tag_current_link(repo, tag)
        try:
            digest = layout.parse_link(store.read(path))
        except (OSError, ValueError) as exc:
            return repo, tag, Problem(path, f"tag skipped: {exc}")
        return repo, tag, Tag(repo, tag, digest, _time(mtime))

    tags: dict[str, dict[str, Tag]] = {}
    for repo, tag, result in pool.map(read, jobs, chunksize=64):
        if isinstance(result, Problem):
            problems.append(result)
            repositories[repo].unreadable_tags.add(tag)
        else:
            tags.setdefault(result.repository, {})[result.name] = result
    return tags


def _read_manifests(
    store: ReadableStore,
    pool: ThreadPoolExecutor,
    digests: Iterable[Digest],
    blob_sizes: dict[Digest, int],
    problems: list[Problem],
) -> dict[Digest, Manifest]:
    present = sorted(d for d in digests if d in blob_sizes)

    def read(digest: Digest) -> Manifest | Problem:
        path = layout.blob_data(digest)
        try:
            return parse_manifest(digest, store.read(path))
        except (OSError, ManifestError) as exc:
            return Problem(path, f"manifest not parsed: {exc}")

    manifests: dict[Digest, Manifest] = {}
    for result in pool.map(read, present, chunksize=64):
        if isinstance(result, Problem):
            problems.append(result)
        else:
            manifests[result.digest] = result
    for digest in sorted(set(digests) - set(present)):
        problems.append(
            Problem(layout.blob_data(digest), "revision whose manifest blob is missing")
        )
    return manifests


def _check_tag_targets(repositories: dict[str, Repository], problems: list[Problem]) -> None:
    for repository in repositories.values():
        for tag in repository.tags.values():
            if tag.digest not in repository.revisions:
                problems.append(
                    Problem(
                        f"{repository.name}:{tag.name}",
                        f"tag points to {tag.digest}, which is not a manifest of the repository",
                    )
                )
