"""Random small registries and policies for end-to-end property tests (hypothesis).

A :class:`RegistrySpec` is plain data: repositories (nested names, one inside another's
folder), images that share base layers across repositories, several tags per digest, tags
re-pushed to a newer image, Docker and OCI multi-arch indexes with untagged children,
untagged manifests of every age, cosign signature tags and OCI referrers, images with a
1970 build time (reproducible builds). :func:`build` pushes it over the API into a real
registry and sets the storage times (push times) and build times that the spec says.

:func:`must_keep` is an oracle independent of regsweep for the rules every policy has: a tag
matching the exclude pattern, pushed within the maximum age, among the last N pushed, or of
unknown age is never deleted.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import strategies as st

from tests.support.damage import KINDS
from tests.support.images import PushedManifest, Pusher
from tests.support.storage import set_manifest_time, set_push_time

DAY = 86400.0
#: Ages in days, far enough from every maximum age that seconds between runs never matter.
AGES = (0, 3, 12, 45, 120)
MAX_AGES = (7, 30, 60)
REPOSITORIES = ("app", "team/app", "team/app/sub", "web")
#: "20" is a major version the default keeps, "1234" a CI build number it ages
TAGS = (
    "latest",
    "main",
    "v1.0.0",
    "1.2",
    "20",
    "1234",
    "feature-a",
    "feature-b",
    "pr-7",
    "build-3",
    "old",
)
#: (what the flag is given, the pattern it means): None is the default pattern
EXCLUDES: tuple[str | None, ...] = (None, "^latest$", "^(main|v.*)$", "")
#: The documented default, written out here rather than imported: the oracle must not
#: share a mistake with the code it checks.
DEFAULT_EXCLUDE = (
    r"^(latest|main|master|develop|stable|v?[0-9]{1,3}"
    r"|v?[0-9]+\.[0-9]+(\.[0-9]+)?(-[0-9A-Za-z][0-9A-Za-z._-]*)?)$"
)
EPOCH = "1970-01-01T00:00:00Z"
SIGNATURE = re.compile(r"sha256-[0-9a-f]{64}\.sig")


@dataclass(frozen=True)
class ImageSpec:
    #: "docker", "oci", "docker-list" or "oci-index" (two platforms, untagged children)
    kind: str
    #: days since it was built and first pushed
    age: int
    #: (tag, days since pushed); pushed in this order, after the images before it
    tags: tuple[tuple[str, int], ...]
    signed: bool
    referred: bool
    #: config ``created`` of 1970: no usable build time over the API
    reproducible: bool
    base: int


@dataclass(frozen=True)
class RepoSpec:
    name: str
    images: tuple[ImageSpec, ...]


@dataclass(frozen=True)
class PolicySpec:
    max_age: int
    keep_last: int
    exclude: str | None
    grace_zero: bool

    def flags(self) -> list[str]:
        flags = ["--max-age", f"{self.max_age}d", "--keep-last", str(self.keep_last)]
        if self.exclude is not None:
            flags += ["--exclude-tags", self.exclude]
        if self.grace_zero:
            flags += ["--untagged-grace", "0"]
        return flags

    def pattern(self) -> re.Pattern[str] | None:
        chosen = DEFAULT_EXCLUDE if self.exclude is None else self.exclude
        return re.compile(chosen) if chosen else None


@dataclass(frozen=True)
class DamageSpec:
    """One kind of damage (tests/support/damage.py) written into one repository."""

    kind: str
    #: which repository of the example, modulo their number
    repo: int


@dataclass(frozen=True)
class RegistrySpec:
    repos: tuple[RepoSpec, ...]
    policy: PolicySpec
    #: "storage" (registry GC), "native" (storage, run --gc native) or "api"
    mode: str
    #: damage written into the storage once pushed (storage modes only), or None
    damage: DamageSpec | None = None


def _images() -> st.SearchStrategy[ImageSpec]:
    return st.builds(
        ImageSpec,
        kind=st.sampled_from(("docker", "oci", "docker", "oci", "docker-list", "oci-index")),
        age=st.sampled_from(AGES),
        tags=st.lists(
            st.tuples(st.sampled_from(TAGS), st.sampled_from(AGES)),
            max_size=3,
            unique_by=lambda t: t[0],
        ).map(tuple),
        signed=st.booleans(),
        referred=st.booleans(),
        reproducible=st.sampled_from((False, False, False, True)),
        base=st.integers(0, 1),
    )


def registry_specs() -> st.SearchStrategy[RegistrySpec]:
    repos = st.lists(
        st.builds(
            RepoSpec,
            st.sampled_from(REPOSITORIES),
            st.lists(_images(), min_size=1, max_size=4).map(tuple),
        ),
        min_size=1,
        max_size=3,
        unique_by=lambda r: r.name,
    ).map(tuple)
    policies = st.builds(
        PolicySpec,
        max_age=st.sampled_from(MAX_AGES),
        keep_last=st.integers(0, 3),
        exclude=st.sampled_from(EXCLUDES),
        grace_zero=st.booleans(),
    )
    damage = st.one_of(st.none(), st.builds(DamageSpec, st.sampled_from(KINDS), st.integers(0, 2)))
    return st.builds(
        RegistrySpec, repos, policies, st.sampled_from(("storage", "native", "api")), damage
    )


@dataclass
class Built:
    """What was pushed: every tag's last push time and the build time of its manifest
    (None: unknown), by ``repository:tag``; the digests of indexes."""

    pushed: dict[str, float] = field(default_factory=dict)
    built: dict[str, float | None] = field(default_factory=dict)
    indexes: set[str] = field(default_factory=set)
    manifests: int = 0


def build(spec: RegistrySpec, pusher: Pusher, root: Path, prefix: str) -> Built:
    """Push ``spec`` under ``prefix/`` (one example's own repositories) and age it."""
    now = time.time()
    tick = iter(range(1, 1_000_000))
    bases = [os.urandom(1024) for _ in range(2)]
    out = Built()

    def when(days: int) -> float:
        """``days`` ago, a few seconds apart from every other time of the example."""
        return now - days * DAY - 7 * next(tick) - (600 if days == 0 else 0)

    for repo_spec in spec.repos:
        repo = f"{prefix}/{repo_spec.name}"
        for image in repo_spec.images:
            built_at = when(image.age)
            created = EPOCH if image.reproducible else _stamp(built_at)
            manifest = _push(pusher, repo, image, bases, created)
            out.manifests += 1 + len(manifest.children)
            for part in (manifest, *manifest.children):
                set_manifest_time(root, repo, part.digest, built_at)
            if manifest.children:
                out.indexes.add(manifest.digest)
            for tag, days in image.tags:
                pusher.tag(repo, tag, manifest)
                pushed = when(min(days, image.age))  # never before it was built
                set_push_time(root, repo, tag, pushed)
                out.pushed[f"{repo}:{tag}"] = pushed
                out.built[f"{repo}:{tag}"] = None if image.reproducible else built_at
            if image.signed:
                sig = pusher.push_image(
                    repo,
                    _cosign(manifest.digest),
                    oci=True,
                    n_layers=1,
                    layer_size=128,
                    created=None,
                )
                set_manifest_time(root, repo, sig.digest, built_at)
                set_push_time(root, repo, sig.tag or "", built_at)
                out.manifests += 1
            if image.referred:
                sbom = pusher.push_image(
                    repo,
                    oci=True,
                    subject=manifest,
                    artifact_type="application/spdx+json",
                    n_layers=1,
                    layer_size=128,
                    created=None,
                )
                set_manifest_time(root, repo, sbom.digest, built_at)
                out.manifests += 1
    return out


def _push(
    pusher: Pusher, repo: str, image: ImageSpec, bases: list[bytes], created: str
) -> PushedManifest:
    oci = image.kind.startswith("oci")
    layers = [bases[image.base], os.urandom(512)]
    if image.kind in ("docker", "oci"):
        return pusher.push_image(repo, oci=oci, layers=layers, created=created)
    children = [
        pusher.push_image(
            repo, oci=oci, layers=[bases[image.base], os.urandom(256)], created=created, platform=p
        )
        for p in (("linux", "amd64"), ("linux", "arm64", "v8"))
    ]
    return pusher.push_index(repo, None, children, oci=oci)


def _cosign(digest: str) -> str:
    return "sha256-" + digest.removeprefix("sha256:") + ".sig"


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def must_keep(spec: RegistrySpec, built: Built, tags: set[str]) -> set[str]:
    """The tags of ``tags`` (``repo:tag`` still there after the pushes) that the policy's
    rules certainly keep, worked out without regsweep.

    Ages are push times (storage) or build times (API). Signature tags follow their image,
    not the rules, and are left out. A tag is among the last N pushed for sure when at most
    N tags of its repository (itself included) are as recent or more: ties may go either way.
    """
    policy, pattern = spec.policy, spec.policy.pattern()
    ages = built.built if spec.mode == "api" else built.pushed
    now = time.time()
    kept = set()
    plain = {t for t in tags if not SIGNATURE.fullmatch(t.partition(":")[2])}
    for tag in plain:
        repo, _, name = tag.partition(":")
        at = ages.get(tag)
        matches = pattern is not None and pattern.search(name) is not None
        if matches or at is None or now - at < policy.max_age * DAY:
            kept.add(tag)
        elif policy.keep_last:
            siblings = [
                ages[t] for t in plain if t.partition(":")[0] == repo and ages.get(t) is not None
            ]
            if sum(1 for other in siblings if other >= at) <= policy.keep_last:
                kept.add(tag)
    return kept
