"""Damage written into a registry's storage, the way years of operation leave it.

A crash on a full disk leaves a zero-byte link, a blob store copied half way a truncated
manifest, an operator a repository moved elsewhere and symlinked back, or a folder renamed
by hand. :func:`inject` writes one such defect into one repository of a real registry's
tree and says what a correct cleanup must then do: which repositories it must leave
exactly as they are, and which tags the damage itself breaks (every other kept tag must
still pull). Nothing here shares code with regsweep: tags, revisions and manifests are read
straight from the tree.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.support.storage import (
    V2,
    blob_path,
    registry_state,
    repository_path,
    revision_link_path,
    tag_path,
    tree_fingerprint,
)

#: Every kind :func:`inject` writes.
KINDS = (
    "tag-link-empty",
    "revision-link-empty",
    "manifest-truncated",
    "manifest-missing",
    "repository-symlink",
    "tag-symlink",
    "revision-symlink",
    "invalid-name",
    "layer-link-garbage",
)
#: Kinds that stop the registry's own ``garbage-collect`` (measured on 2.8.2).
STOPS_REGISTRY_GC = frozenset({"revision-link-empty", "manifest-truncated", "invalid-name"})
#: Kinds after which regsweep must skip (leave untouched) the damaged repository: all but a
#: garbage layer link, which hides no manifest.
SKIPS = frozenset(KINDS) - {"layer-link-garbage"}
#: Kinds that need a tag in the repository.
NEEDS_A_TAG = frozenset({"tag-link-empty", "tag-symlink"})
#: Kinds that need a layer link in the repository.
NEEDS_A_LAYER = frozenset({"layer-link-garbage"})


@dataclass(frozen=True)
class Injected:
    """One defect written, and what a correct cleanup does about it."""

    kind: str
    #: the repository damaged (for ``invalid-name``: the folder copied under such a name)
    repository: str
    #: the file or folder written, relative to the storage root
    path: str
    #: repositories (folder names below ``repositories/``) a cleanup must leave as they are
    untouched: frozenset[str]
    #: ``repo:tag`` that no longer pull because of the damage itself
    broken: frozenset[str]
    #: where a symlink points to, outside the root (None for other kinds)
    outside: Path | None = None
    #: ``repo:tag`` that no client can even name (``invalid-name``: skopeo and the registry
    #: refuse the repository's name), so never pulled; a cleanup must still keep every blob
    #: they need in storage (see :func:`missing_blobs`)
    unaddressable: frozenset[str] = frozenset()

    @property
    def stops_registry_gc(self) -> bool:
        return self.kind in STOPS_REGISTRY_GC


def inject(
    root: Path, repository: str, kind: str, *, outside: Path, layer: str | None = None
) -> Injected | None:
    """Write ``kind`` into ``repository`` of the tree at ``root`` (``outside``: a folder
    outside the root for symlink targets; ``layer``: the blob whose link a
    ``layer-link-garbage`` damages, default the first linked); None when the repository has
    nothing the kind needs (no tag, no layer link)."""
    tags = _tags(root)
    mine = {t: d for t, d in tags.items() if t.partition(":")[0] == repository}
    revisions = sorted(_revisions(root, repository))
    chosen_tag = min(mine) if mine else None
    digest = mine[chosen_tag] if chosen_tag else (revisions[0] if revisions else None)
    if (kind in NEEDS_A_TAG and chosen_tag is None) or digest is None:
        return None
    alone = frozenset({repository})
    if kind == "tag-link-empty":
        assert chosen_tag is not None
        link = tag_path(root, repository, chosen_tag.partition(":")[2]) / "current" / "link"
        _overwrite(link, b"")
        return Injected(kind, repository, _rel(root, link), alone, frozenset({chosen_tag}))
    if kind == "revision-link-empty":
        link = revision_link_path(root, repository, digest)
        _overwrite(link, b"")
        broken = _pointing_to(root, tags, digest, within=repository)
        return Injected(kind, repository, _rel(root, link), alone, broken)
    if kind in ("manifest-truncated", "manifest-missing"):
        data = blob_path(root, digest)
        if kind == "manifest-truncated":
            _overwrite(data, data.read_bytes()[: max(1, data.stat().st_size // 2)])
        else:
            shutil.rmtree(data.parent)
        holders = frozenset(r for r in _repositories(root) if digest in _revisions(root, r))
        broken = _pointing_to(root, tags, digest)
        return Injected(kind, repository, _rel(root, data), holders, broken)
    if kind == "repository-symlink":
        folder = repository_path(root, repository)
        nested = frozenset(r for r in _repositories(root) if r.startswith(f"{repository}/"))
        target = outside / "repository"
        _move_and_link(folder, target)
        return Injected(kind, repository, _rel(root, folder), alone | nested, frozenset(), target)
    if kind == "tag-symlink":
        assert chosen_tag is not None
        folder = tag_path(root, repository, chosen_tag.partition(":")[2])
        target = outside / "tag"
        _move_and_link(folder, target)
        return Injected(kind, repository, _rel(root, folder), alone, frozenset(), target)
    if kind == "revision-symlink":
        folder = revision_link_path(root, repository, digest).parent
        target = outside / "revision"
        _move_and_link(folder, target)
        return Injected(kind, repository, _rel(root, folder), alone, frozenset(), target)
    if kind == "invalid-name":
        copy = f"{repository}/Copy_Of_It"
        shutil.copytree(
            repository_path(root, repository) / "_manifests",
            repository_path(root, copy) / "_manifests",
            symlinks=True,
        )
        layers = repository_path(root, repository) / "_layers"
        if layers.is_dir():
            shutil.copytree(layers, repository_path(root, copy) / "_layers", symlinks=True)
        where = _rel(root, repository_path(root, copy))
        copied = frozenset(f"{copy}:{tag.partition(':')[2]}" for tag in mine)
        return Injected(kind, copy, where, frozenset({copy}), frozenset(), unaddressable=copied)
    if kind == "layer-link-garbage":
        layers = repository_path(root, repository) / "_layers" / "sha256"
        linked = sorted(p.name for p in layers.iterdir()) if layers.is_dir() else []
        if not linked:
            return None
        layer = layer or f"sha256:{linked[0]}"
        link = layers / layer.removeprefix("sha256:") / "link"
        _overwrite(link, b"garbage")
        broken = _needing(root, tags, layer, repository)
        return Injected(kind, repository, _rel(root, link), frozenset(), broken)
    raise ValueError(f"unknown kind of damage {kind!r}")


def snapshot(root: Path, injected: Injected) -> dict[str, object]:
    """Everything in the repositories a cleanup must leave untouched (their folders, and
    a symlink's target outside the root): equal before and after proves it was."""
    found: dict[str, object] = {}
    for name in sorted(injected.untouched):
        folder = repository_path(root, name)
        if folder.is_symlink() or not folder.is_dir():
            found[name] = tree_fingerprint(folder.parent).get(folder.name)
            continue
        found[name] = {
            k: v
            for k, v in tree_fingerprint(folder).items()
            if k != "." and not _nested(k, name, injected.untouched)
        }
    if injected.outside is not None:
        found["outside"] = tree_fingerprint(injected.outside)
    return found


def missing_blobs(root: Path, digest: str) -> set[str]:
    """The blobs a pull of the manifest ``digest`` needs (itself, its children, configs and
    layers) that storage no longer holds: how a tag no client can name is checked."""
    needed = {digest} | _references(root, digest)
    return {blob for blob in needed if not blob_path(root, blob).is_file()}


def _nested(relative: str, name: str, untouched: frozenset[str]) -> bool:
    """A path of another repository nested inside ``name`` and not itself kept untouched:
    that one is cleaned normally."""
    first = relative.split("/")[0]
    return not first.startswith("_") and f"{name}/{first}" not in untouched


def _overwrite(path: Path, data: bytes) -> None:
    """Rewrite a file keeping its mtime: a push time must not change with the damage."""
    stat = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _move_and_link(folder: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(folder, target)
    folder.symlink_to(target)


def _rel(root: Path, path: Path) -> str:
    return str(path.relative_to(root))


def _tags(root: Path) -> dict[str, str]:
    """Every readable tag of the registry: ``repo:tag`` -> digest."""
    tags, _, _ = registry_state(root)
    return {entry.partition("@")[0]: entry.partition("@")[2] for entry in tags}


def _repositories(root: Path) -> set[str]:
    top = root / V2 / "repositories"
    found = set()
    for folder, subfolders, _ in os.walk(top):
        if "_manifests" in subfolders or "_layers" in subfolders:
            found.add(str(Path(folder).relative_to(top)))
        subfolders[:] = [s for s in subfolders if not s.startswith("_")]
    return found


def _revisions(root: Path, repository: str) -> set[str]:
    folder = repository_path(root, repository) / "_manifests" / "revisions" / "sha256"
    return {f"sha256:{p.name}" for p in folder.iterdir()} if folder.is_dir() else set()


def _manifest(root: Path, digest: str) -> dict[str, object]:
    try:
        parsed = json.loads(blob_path(root, digest).read_bytes())
    except (OSError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _references(root: Path, digest: str) -> set[str]:
    """What a manifest needs to pull: children (recursively), config, layers."""
    document = _manifest(root, digest)
    found: set[str] = set()
    for child in document.get("manifests", []) or []:  # type: ignore[attr-defined]
        found |= {child["digest"], *_references(root, child["digest"])}
    config = document.get("config")
    if isinstance(config, dict):
        found.add(config["digest"])
    found |= {layer["digest"] for layer in document.get("layers", []) or []}  # type: ignore[attr-defined]
    return found


def _pointing_to(
    root: Path, tags: dict[str, str], digest: str, *, within: str | None = None
) -> frozenset[str]:
    """Tags (of ``within`` only, when given) whose pull needs the manifest ``digest``."""
    return frozenset(
        tag
        for tag, target in tags.items()
        if (within is None or tag.partition(":")[0] == within)
        and (target == digest or digest in _references(root, target))
    )


def _needing(root: Path, tags: dict[str, str], blob: str, repository: str) -> frozenset[str]:
    """Tags of ``repository`` whose pull needs ``blob`` through that repository's link."""
    return frozenset(
        tag
        for tag, target in tags.items()
        if tag.partition(":")[0] == repository and blob in _references(root, target)
    )
