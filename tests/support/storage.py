"""Helpers on the registry's on-disk tree (layout: shared/reference/registry.md section 1).

``root`` is always the storage rootdirectory (REGISTRY_DIR), the folder holding ``docker/``.
Push times live only here: the mtime of ``tags/<tag>/current/link`` is the last push of a tag,
the mtime of ``tags/<tag>/`` its first push, so tests age tags by setting those mtimes.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from datetime import datetime
from pathlib import Path

V2 = Path("docker", "registry", "v2")
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")

FileFingerprint = tuple[str, int, str | None, int]
"""(kind, size, content, mtime_ns): kind is "file", "dir", "symlink" or "other"; content is the
sha256 hex of a file, the target of a symlink, None otherwise."""


def _hex(digest: str) -> str:
    match = _DIGEST.fullmatch(digest)
    if match is None:
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return match.group(1)


def _timestamp(when: datetime | float) -> float:
    """Seconds since the epoch; a naive datetime is taken as local time, as datetime does."""
    return when.timestamp() if isinstance(when, datetime) else float(when)


def _set_mtime(path: Path, when: datetime | float) -> None:
    if not path.exists():
        raise FileNotFoundError(path)
    ts = _timestamp(when)
    os.utime(path, (ts, ts))


def repository_path(root: Path, repo: str) -> Path:
    return Path(root) / V2 / "repositories" / repo


def tag_path(root: Path, repo: str, tag: str) -> Path:
    """The tag folder ``_manifests/tags/<tag>``."""
    return repository_path(root, repo) / "_manifests" / "tags" / tag


def revision_link_path(root: Path, repo: str, digest: str) -> Path:
    revisions = repository_path(root, repo) / "_manifests" / "revisions"
    return revisions / "sha256" / _hex(digest) / "link"


def set_push_time(root: Path, repo: str, tag: str, when: datetime | float) -> None:
    """Make ``tag`` look last pushed at ``when`` (mtime of ``current/link``)."""
    _set_mtime(tag_path(root, repo, tag) / "current" / "link", when)


def set_first_push_time(root: Path, repo: str, tag: str, when: datetime | float) -> None:
    """Make ``tag`` look first pushed at ``when`` (mtime of the tag folder)."""
    _set_mtime(tag_path(root, repo, tag), when)


def set_manifest_time(root: Path, repo: str, digest: str, when: datetime | float) -> None:
    """Make the manifest ``digest`` look pushed into ``repo`` at ``when`` (its revision link)."""
    _set_mtime(revision_link_path(root, repo, digest), when)


def blob_path(root: Path, digest: str) -> Path:
    """The ``data`` file of a blob (layers, configs and manifests alike)."""
    hex_ = _hex(digest)
    return Path(root) / V2 / "blobs" / "sha256" / hex_[:2] / hex_ / "data"


def blob_exists(root: Path, digest: str) -> bool:
    return blob_path(root, digest).is_file()


def tag_exists(root: Path, repo: str, tag: str) -> bool:
    """True when the tag currently points somewhere (its ``current/link`` exists)."""
    return (tag_path(root, repo, tag) / "current" / "link").is_file()


def revision_exists(root: Path, repo: str, digest: str) -> bool:
    """True when ``repo`` holds the manifest; checks the link because an API delete leaves an
    empty revision folder behind."""
    return revision_link_path(root, repo, digest).is_file()


def _file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def tree_fingerprint(root: Path) -> dict[str, FileFingerprint]:
    """Every path under ``root`` (root itself as ".") with kind, size, content and mtime_ns.

    Two equal fingerprints prove nothing was written, renamed, deleted or touched, which is
    how tests show a dry run changed nothing. Symlinks are recorded, never followed.
    """
    result: dict[str, FileFingerprint] = {}

    def record(path: Path, relative: str, st: os.stat_result) -> None:
        content: str | None = None
        if stat.S_ISREG(st.st_mode):
            kind, content = "file", _file_sha256(path)
        elif stat.S_ISDIR(st.st_mode):
            kind = "dir"
        elif stat.S_ISLNK(st.st_mode):
            kind, content = "symlink", str(path.readlink())
        else:
            kind = "other"
        result[relative] = (kind, st.st_size, content, st.st_mtime_ns)

    def walk(directory: Path, prefix: str) -> None:
        with os.scandir(directory) as entries:
            for entry in entries:
                relative = f"{prefix}{entry.name}"
                st = entry.stat(follow_symlinks=False)
                record(Path(entry.path), relative, st)
                if stat.S_ISDIR(st.st_mode):
                    walk(Path(entry.path), f"{relative}/")

    top = Path(root)
    record(top, ".", top.lstat())
    walk(top, "")
    return result


def blob_digests(root: Path) -> set[str]:
    """Digest of every blob under ``blobs/`` that has its ``data`` file."""
    base = Path(root) / V2 / "blobs" / "sha256"
    if not base.is_dir():
        return set()
    return {
        f"sha256:{folder.name}"
        for prefix in base.iterdir()
        for folder in prefix.iterdir()
        if (folder / "data").is_file()
    }


def registry_state(root: Path) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """What two registries must agree on after the same cleanup, read straight from the tree:
    tags (``repo:tag@digest``), manifest revisions with their link (``repo@digest``), blobs.

    Folders left empty (by API deletes) and uploads are not part of it.
    """
    repositories = Path(root) / V2 / "repositories"
    tags: set[str] = set()
    revisions: set[str] = set()
    for folder, _subfolders, files in os.walk(repositories):
        here = Path(folder)
        if "link" not in files:
            continue
        relative = here.relative_to(repositories).parts
        if "_manifests" not in relative:
            continue
        at = relative.index("_manifests")
        repo, rest = "/".join(relative[:at]), relative[at + 1 :]
        if len(rest) == 3 and rest[0] == "tags" and rest[2] == "current":
            tags.add(f"{repo}:{rest[1]}@{(here / 'link').read_text().strip()}")
        elif len(rest) == 3 and rest[:2] == ("revisions", "sha256"):
            revisions.add(f"{repo}@sha256:{rest[2]}")
    return frozenset(tags), frozenset(revisions), frozenset(blob_digests(root))
