"""A realistic small registry: release tags, branches, feature builds weeks old, multi-arch.

Used by the end-to-end tests and by the README's demo, so both show the same thing. With
the default policy (30 days, the default exclude regex), ``expected_deleted`` tags go and
``expected_kept`` tags stay.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.images import PushedManifest, Pusher, sha256_digest
from tests.support.storage import set_manifest_time, set_push_time

DAY = 86400.0


@dataclass
class Scenario:
    kept_tags: set[tuple[str, str]] = field(default_factory=set)
    deleted_tags: set[tuple[str, str]] = field(default_factory=set)
    #: manifests the plan must delete (repository, digest)
    deleted_manifests: set[tuple[str, str]] = field(default_factory=set)
    #: blobs used only by deleted manifests: gone after garbage collection
    doomed_blobs: set[str] = field(default_factory=set)


def _layer(name: str, size: int = 2048) -> bytes:
    """Deterministic content per name, random across runs (no two scenarios share blobs)."""
    salt = os.urandom(8)
    return (salt + name.encode()) * (size // (len(name) + 8) + 1)


def build_scenario(pusher: Pusher, root: Path, *, now: float | None = None) -> Scenario:
    """Push the scenario into the registry behind ``pusher`` (storage at ``root``)."""
    now = time.time() if now is None else now
    out = Scenario()
    base = [_layer("debian-base", 8192), _layer("python-runtime", 4096)]
    shared = {sha256_digest(layer) for layer in base}  # kept images use them: never doomed

    def push(repo: str, tag: str | None, days: float, *, keep: bool, **kw: Any) -> PushedManifest:
        image = pusher.push_image(repo, tag, layers=[*base, _layer(f"{repo}:{tag}")], **kw)
        _age(root, repo, image, tag, now - days * DAY)
        if tag is not None:
            (out.kept_tags if keep else out.deleted_tags).add((repo, tag))
        return image

    def alias(repo: str, tag: str, image: PushedManifest, days: float, *, keep: bool) -> None:
        pusher.tag(repo, tag, image)
        set_push_time(root, repo, tag, now - days * DAY)
        (out.kept_tags if keep else out.deleted_tags).add((repo, tag))

    # shop/web: releases, branches and feature builds
    release = push("shop/web", "1.5.0", 50, keep=True)
    alias("shop/web", "latest", release, 50, keep=True)
    push("shop/web", "1.4.0", 90, keep=True)
    develop = push("shop/web", "develop", 40, keep=True)
    alias("shop/web", "pr-77", develop, 45, keep=False)  # shares a digest with develop
    login = push("shop/web", "feature-login", 45, keep=False)
    cart = push("shop/web", "feature-cart", 35, keep=False)
    push("shop/web", "feature-search", 3, keep=True)
    orphan = push("shop/web", None, 20, keep=False)  # untagged, old: deleted
    push("shop/web", None, 1 / 1440, keep=True)  # untagged, a minute old: kept
    for image in (login, cart, orphan):
        out.deleted_manifests.add(("shop/web", image.digest))
        out.doomed_blobs.update({image.digest, *image.blobs} - shared)

    # shop/api: multi-arch images
    release_children = [
        push("shop/api", None, 80, keep=True, oci=True),
        push("shop/api", None, 80, keep=True, oci=True, platform=("linux", "arm64", "v8")),
    ]
    index = pusher.push_index("shop/api", "2.0.0", release_children)
    _age(root, "shop/api", index, "2.0.0", now - 80 * DAY)
    out.kept_tags.add(("shop/api", "2.0.0"))
    pr_children = [
        push("shop/api", None, 40, keep=False),
        push("shop/api", None, 40, keep=False, platform=("linux", "arm64", "v8")),
    ]
    pr_index = pusher.push_index("shop/api", "pr-12", pr_children, oci=False)
    _age(root, "shop/api", pr_index, "pr-12", now - 40 * DAY)
    out.deleted_tags.add(("shop/api", "pr-12"))
    for image in (pr_index, *pr_children):
        out.deleted_manifests.add(("shop/api", image.digest))
        out.doomed_blobs.update({image.digest, *image.blobs} - shared)
    push("shop/api", "feature-x", 10, keep=True)

    # tools/ci/runner: a nested repository, with a CI build number (no version: it ages)
    push("tools/ci/runner", "main", 100, keep=True)
    stale = push("tools/ci/runner", "feature-old", 100, keep=False)
    build = push("tools/ci/runner", "4711", 60, keep=False)
    for image in (stale, build):
        out.deleted_manifests.add(("tools/ci/runner", image.digest))
        out.doomed_blobs.update({image.digest, *image.blobs} - shared)
    return out


def _age(root: Path, repo: str, image: PushedManifest, tag: str | None, when: float) -> None:
    set_manifest_time(root, repo, image.digest, when)
    if tag is not None:
        set_push_time(root, repo, tag, when)
