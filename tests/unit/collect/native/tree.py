"""Small registry trees written straight to disk for the collector's unit tests.

Layout as the registry writes it (shared/reference/registry.md section 1); only what the
collector reads is written. Nothing here shares code with regsweep.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support import storage
from tests.support.images import sha256_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OLD = 1_600_000_000.0  # comfortably older than any grace period
#: The collectors' clock: a month after every file written, past every grace and delay.
NOW = datetime.fromtimestamp(OLD, UTC) + timedelta(days=30)


def hex_of(digest: str) -> str:
    return digest.removeprefix("sha256:")


class Tree:
    """A registry root; every file written gets mtime ``OLD`` unless told otherwise."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / storage.V2 / "blobs" / "sha256").mkdir(parents=True)
        (root / storage.V2 / "repositories").mkdir(parents=True)

    def write(self, relative: Path, data: bytes, mtime: float = OLD) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))
        return path

    def blob_path(self, digest: str) -> Path:
        return storage.blob_path(self.root, digest)

    def blob(self, data: bytes, mtime: float = OLD) -> str:
        digest = sha256_digest(data)
        self.write(self.blob_path(digest).relative_to(self.root), data, mtime)
        return digest

    def repo(self, name: str) -> Path:
        return storage.repository_path(self.root, name)

    def link(self, relative: Path, digest: str, mtime: float = OLD) -> Path:
        return self.write(relative, digest.encode(), mtime)

    def layer_link(self, repo: str, digest: str) -> Path:
        return self.repo(repo) / "_layers" / "sha256" / hex_of(digest) / "link"

    def revision_link(self, repo: str, digest: str) -> Path:
        return storage.revision_link_path(self.root, repo, digest)

    def image(
        self, repo: str, tag: str | None = None, *, layers: int = 2, seed: str = ""
    ) -> dict[str, Any]:
        """Push an OCI image (config + ``layers`` layers); returns digests by role."""
        blobs = [self.blob(f"{repo}:{tag}:{seed}:layer{i}".encode()) for i in range(layers)]
        config = self.blob(json.dumps({"repo": repo, "tag": tag, "seed": seed}).encode())
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 10},
            "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": 10} for d in blobs],
        }
        manifest = self.manifest(repo, doc, tag)
        for digest in (config, *blobs):
            self.link(self.layer_link(repo, digest).relative_to(self.root), digest)
        return {"manifest": manifest, "config": config, "layers": blobs}

    def index(self, repo: str, tag: str | None, children: list[str]) -> str:
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": c, "size": 10} for c in children],
        }
        return self.manifest(repo, doc, tag)

    def manifest(self, repo: str, doc: dict[str, Any], tag: str | None) -> str:
        digest = self.blob(json.dumps(doc).encode())
        self.link(self.revision_link(repo, digest).relative_to(self.root), digest)
        if tag is not None:
            tag_dir = self.repo(repo) / "_manifests" / "tags" / tag
            self.link((tag_dir / "current" / "link").relative_to(self.root), digest)
            entry = tag_dir / "index" / "sha256" / hex_of(digest) / "link"
            self.link(entry.relative_to(self.root), digest)
        return digest

    def delete_manifest(self, repo: str, digest: str) -> None:
        """What an API DELETE leaves: the revision folder without its link, tags gone."""
        self.revision_link(repo, digest).unlink()
        tags = self.repo(repo) / "_manifests" / "tags"
        for tag in list(tags.iterdir()) if tags.is_dir() else []:
            if (tag / "current" / "link").read_text() == digest:
                for path in sorted(tag.rglob("*"), key=lambda p: -len(p.parts)):
                    path.unlink() if path.is_file() else path.rmdir()
                tag.rmdir()

    def blobs(self) -> set[str]:
        return storage.blob_digests(self.root)
