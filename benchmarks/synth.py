"""Synthesise a CNCF distribution 2.8.2 registry storage tree directly on disk.

Pushing a large registry through the HTTP API is slow (about 160 requests/s here, so 100,000
tags would take hours), yet regsweep's benchmarks need registries of that size. This module
writes the same tree the registry itself would write after such pushes, with plain
``os.mkdir``/``os.open`` calls, in a fraction of the time:

    <root>/docker/registry/v2/
      blobs/sha256/<hh>/<hex>/data                     layers, configs and manifests
      repositories/<name...>/
        _layers/sha256/<hex>/link                      every config and layer the repo uses
        _manifests/revisions/sha256/<hex>/link         every manifest of the repo
        _manifests/tags/<tag>/current/link             what the tag points to now
        _manifests/tags/<tag>/index/sha256/<hex>/link  everything the tag ever pointed to
        _uploads/                                      left empty, as after finished pushes

Link files hold exactly ``sha256:<hex>`` without a newline. Manifests are valid Docker schema2
or OCI image manifests (OCI image indexes for multi-arch images), with correct sizes and
digests, and every blob is referenced, so ``garbage-collect --dry-run`` on a fresh tree
finds nothing to delete. ``--check`` proves that the real registry serves the tree and that
skopeo pulls from it.

What the generated registry looks like (all deterministic from ``seed`` and ``now``):

* Repository names mix single-level (``app8``, ``svc_12``), nested (``team1/app9``,
  ``org0/team3/app11``, ``org2/team4/platform/job14``) and a repository nested inside
  another repository's folder (``app8/cache`` next to ``app8``).
* Each repository is a sequence of builds pushed at increasing times spread over
  ``age_spread_days`` before ``now``. Every tagged build gets one primary tag (``main-12``,
  ``feature-17``, ``sha-3f2a9c1`` or ``build-5`` depending on the repository); every fourth
  build also gets a release tag (``v1.3.0``) on the same digest, and ``latest`` points at the
  newest build. ``latest``'s tag index lists every build it ever pointed to.
* Every image's first layer comes from a small pool of base layers shared by all
  repositories; its other layers, its config and its manifest are its own.
* Optional untagged builds (older pushes of ``latest``) and OCI image indexes whose two
  children (linux/amd64, linux/arm64/v8) are untagged revisions of the same repository.
* Some repositories stamp the config ``created`` as 1970-01-01 (reproducible builds), so
  tools that age images by build time rather than push time are caught out.
* mtimes: each tag's ``current/link`` and ``index/.../link`` carry the tag's push time and
  the tag folder its first push, as a real registry leaves them; revision links carry the
  manifest's push time.

Usage::

    python benchmarks/synth.py ROOT --repositories 1000 --tags 100 [--index-every 50]
        [--untagged 2] [--layers 2] [--layer-size 256] [--flat] [--seed 0] [--now EPOCH]
        [--walk] [--check] [--json]

Cost on this 2-core machine: about 25 µs of mostly kernel time per created entry; 1,000 x 100
tags is about 1.9 million files and folders, 7.3 GB on ext4 (a 4 KiB block per folder and per
file). Deleting such a tree with ``rm -rf`` took longer than writing it (minutes), so keep and
reuse large trees, or put them on tmpfs (/dev/shm) when the disk is not what is measured.
"""

# Plain string paths and os.* calls on purpose: pathlib allocates an object per path
# component and this module creates millions of entries.

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

_DAY = 86400.0
# Trees at or above this many tags are written by a pool of processes; smaller ones inline,
# where forking would cost more than it saves.
_PARALLEL_FROM_TAGS = 5000
_CHUNK = 8  # repositories per pool task: small enough to balance, large enough to amortise


class Sample(NamedTuple):
    """A tag worth pulling to prove the tree is served: what it should resolve to."""

    repository: str
    tag: str
    digest: str  # "sha256:<hex>" of the manifest or index the tag points to
    media_type: str
    children: int  # child manifests of an index, 0 for an image manifest


@dataclass
class SynthStats:
    """What :func:`synthesize` wrote. ``files + directories`` equals ``bare_walk(root)``."""

    root: Path
    repositories: int = 0
    tags: int = 0
    manifests: int = 0  # distinct manifest blobs: images, indexes, index children, untagged
    indexes: int = 0
    untagged: int = 0  # revisions no tag points to: index children and untagged builds
    blobs: int = 0  # layers + configs + manifests in blobs/
    bytes: int = 0  # sum of blob sizes
    files: int = 0  # regular files: blob data and link files
    directories: int = 0  # directories under root, root itself excluded
    seconds: float = 0.0
    samples: list[Sample] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """The figures as plain JSON-able values, samples left out."""
        return {
            "root": str(self.root),
            "repositories": self.repositories,
            "tags": self.tags,
            "manifests": self.manifests,
            "indexes": self.indexes,
            "untagged": self.untagged,
            "blobs": self.blobs,
            "bytes": self.bytes,
            "files": self.files,
            "directories": self.directories,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class _Params:
    """Everything a worker needs; small and picklable so each pool task carries a copy."""

    v2: str
    repositories: int
    layers: int
    layer_size: int
    base: tuple[bytes, ...]
    index_every: int
    untagged: int
    nested: bool
    seed: int
    now: float
    spread: float
    plan: tuple[tuple[str, ...], ...]  # per tagged build: tag kinds, "latest" on the last
    uniform: bool  # every repository alike: build-N tags, build times in push order


@dataclass
class _Result:
    """Counts from one worker task, summed by the parent."""

    files: int = 0
    directories: int = 0
    blobs: int = 0
    bytes: int = 0
    manifests: int = 0
    indexes: int = 0
    untagged: int = 0
    tags: int = 0
    samples: list[tuple[int, Sample]] = field(default_factory=list)


def repository_name(index: int, *, nested: bool = True) -> str:
    """Name of repository number ``index``: deterministic, so benchmarks can name targets.

    With ``nested`` the names cycle through eight shapes, one of which (``app<k>/cache``) sits
    inside the folder of the single-level repository ``app<k>`` created seven indexes earlier.
    """
    if not nested:
        return ("app{0}", "web-{0}", "svc_{0}")[index % 3].format(index)
    team, org = index % 5, index % 3
    return (
        f"app{index}",
        f"team{team}/app{index}",
        f"team{team}/web-{index}",
        f"org{org}/team{team}/app{index}",
        f"svc_{index}",
        f"team{team}/api.{index}",
        f"org{org}/team{team}/platform/job{index}",
        f"app{index - 7}/cache",
    )[index % 8]


def _tag_plan(tags: int, *, releases: bool = True) -> tuple[tuple[str, ...], ...]:
    """Tag kinds per tagged build so that a repository ends with exactly ``tags`` tags.

    One primary tag per build, a release tag on every fourth build (unless ``releases`` is
    false), ``latest`` on the newest.
    """
    if tags <= 0:
        return ()
    builds: list[list[str]] = []
    remaining = tags - 1
    while remaining > 0:
        kinds = ["primary"]
        remaining -= 1
        if releases and remaining > 0 and len(builds) % 4 == 3:
            kinds.append("release")
            remaining -= 1
        builds.append(kinds)
    if not builds:
        builds.append([])
    builds[-1].append("latest")
    return tuple(tuple(kinds) for kinds in builds)


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class _Writer:
    """Creates entries and counts them, so the stats are exact without walking the tree."""

    def __init__(self, v2: str, result: _Result) -> None:
        self.blobs_dir = v2 + "/blobs/sha256"
        self.result = result
        self.known: set[str] = set()  # shared base layers this process already wrote

    def mkdirs(self, base: str, relative: str) -> str:
        path = base
        for part in relative.split("/"):
            path = f"{path}/{part}"
            try:
                os.mkdir(path)
            except FileExistsError:
                continue
            self.result.directories += 1
        return path

    def write(self, path: str, data: bytes, mtime: float | None = None) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if mtime is not None:
                ns = int(mtime * 1e9)
                os.utime(fd, ns=(ns, ns))  # futimens: no second path lookup
        finally:
            os.close(fd)
        self.result.files += 1

    def blob(self, data: bytes, *, remember: bool = False) -> str:
        """Store ``data`` in the content store (once) and return its hex digest.

        Identical content (shared base layers, or empty layers) may be written by several
        processes at once: whoever creates the blob folder writes the data, the others skip.
        """
        hexd = hashlib.sha256(data).hexdigest()
        if hexd in self.known:
            return hexd
        folder = f"{self.blobs_dir}/{hexd[:2]}/{hexd}"
        try:
            os.mkdir(folder)
        except FileNotFoundError:
            self.mkdirs(self.blobs_dir, hexd[:2])
            try:
                os.mkdir(folder)
            except FileExistsError:
                folder = ""
        except FileExistsError:
            folder = ""
        if folder:
            self.result.directories += 1
            self.write(folder + "/data", data)
            self.result.blobs += 1
            self.result.bytes += len(data)
        if remember:
            self.known.add(hexd)
        return hexd

    def link(self, parent: str, hexd: str, mtime: float | None = None) -> None:
        """Write ``<parent>/<hex>/link`` holding ``sha256:<hex>``, as the registry does."""
        folder = f"{parent}/{hexd}"
        os.mkdir(folder)
        self.result.directories += 1
        self.write(folder + "/link", b"sha256:" + hexd.encode(), mtime)


class _Repository:
    """Writes one repository: its builds, their blobs and links, then its tags."""

    def __init__(self, p: _Params, w: _Writer, index: int) -> None:
        self.p, self.w, self.index = p, w, index
        self.name = repository_name(index, nested=p.nested)
        self.rng = random.Random(f"regsweep-synth:{p.seed}:{index}")
        self.oci = index % 3 == 2  # a third of the repositories are pushed by OCI tooling
        # reproducible builds stamp 1970-01-01
        self.epoch_created = index % 5 == 4 and not p.uniform
        self.images = 0  # per-repository image counter, picks the shared base layer
        self.layer_links: set[str] = set()
        repo = w.mkdirs(p.v2 + "/repositories", self.name)
        self.layers_dir = w.mkdirs(repo, "_layers/sha256")
        w.mkdirs(repo, "_uploads")
        self.repo = repo
        self.revisions_dir = ""

    def _layer_link(self, hexd: str) -> None:
        if hexd not in self.layer_links:
            self.layer_links.add(hexd)
            self.w.link(self.layers_dir, hexd)

    def _revision(self, data: bytes, pushed: float) -> str:
        if not self.revisions_dir:
            self.revisions_dir = self.w.mkdirs(self.repo, "_manifests/revisions/sha256")
        hexd = self.w.blob(data)
        self.w.link(self.revisions_dir, hexd, pushed)
        self.w.result.manifests += 1
        return hexd

    def image(self, build: int, pushed: float, arch: str = "amd64", *, oci: bool) -> bytes:
        """Write the layers and config of one image; return its manifest bytes (unwritten)."""
        p, w, rng = self.p, self.w, self.rng
        layers: list[tuple[str, int]] = []
        own = p.layers
        if p.base and p.layers > 0:
            data = p.base[(self.index + self.images) % len(p.base)]
            layers.append((w.blob(data, remember=True), len(data)))
            own -= 1
        self.images += 1
        for _ in range(own):
            data = rng.randbytes(p.layer_size)
            layers.append((w.blob(data), len(data)))
        if self.epoch_created:
            created = "1970-01-01T00:00:00Z"
        elif p.uniform:
            created = _stamp(pushed - 60)  # built a minute before its push: same order
        else:
            created = _stamp(pushed - 60 - rng.random() * 600)
        config: dict[str, object] = {
            "architecture": arch,
            "os": "linux",
            **({"variant": "v8"} if arch == "arm64" else {}),
            "created": created,
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/app"],
                "Labels": {
                    "org.opencontainers.image.source": f"https://git.example.com/{self.name}",
                    "org.opencontainers.image.revision": rng.randbytes(20).hex(),
                    "build": str(build),
                },
            },
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{h}" for h, _ in layers]},
            "history": [
                {"created": created, "created_by": f"layer {n}"} for n in range(len(layers))
            ],
        }
        config_bytes = json.dumps(config, separators=(",", ":")).encode()
        config_hex = w.blob(config_bytes)
        for hexd, _ in layers:
            self._layer_link(hexd)
        self._layer_link(config_hex)
        layer_type = OCI_LAYER if oci else DOCKER_LAYER
        manifest: dict[str, object] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                "size": len(config_bytes),
                "digest": f"sha256:{config_hex}",
            },
            "layers": [
                {"mediaType": layer_type, "size": size, "digest": f"sha256:{hexd}"}
                for hexd, size in layers
            ],
        }
        if oci:
            manifest["annotations"] = {"org.opencontainers.image.created": created}
            return json.dumps(manifest, separators=(",", ":")).encode()
        return json.dumps(manifest, indent=3).encode()  # docker push indents by three

    def build(self, build: int, pushed: float, *, as_index: bool) -> tuple[str, str, int]:
        """Push one build; return (hex digest, media type, number of children)."""
        if not as_index:
            data = self.image(build, pushed, oci=self.oci)
            return self._revision(data, pushed), OCI_MANIFEST if self.oci else DOCKER_MANIFEST, 0
        children = []
        for arch in ("amd64", "arm64"):
            data = self.image(build, pushed, arch, oci=True)
            hexd = self._revision(data, pushed)
            platform = {"architecture": arch, "os": "linux"}
            if arch == "arm64":
                platform["variant"] = "v8"
            children.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "size": len(data),
                    "digest": f"sha256:{hexd}",
                    "platform": platform,
                }
            )
            self.w.result.untagged += 1
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
        self.w.result.indexes += 1
        return (
            self._revision(json.dumps(index, separators=(",", ":")).encode(), pushed),
            OCI_INDEX,
            len(children),
        )

    def tag(self, name: str, history: Sequence[tuple[str, float]]) -> None:
        """Write a tag whose pushes were ``history`` (digest, time), oldest first."""
        tag_dir = self.w.mkdirs(self.repo, f"_manifests/tags/{name}")
        current = self.w.mkdirs(tag_dir, "current")
        self.w.write(current + "/link", f"sha256:{history[-1][0]}".encode(), history[-1][1])
        index_dir = self.w.mkdirs(tag_dir, "index/sha256")
        for hexd, pushed in history:
            self.w.link(index_dir, hexd, pushed)
        first = int(history[0][1] * 1e9)
        os.utime(tag_dir, ns=(first, first))  # the folder's mtime is the tag's first push
        self.w.result.tags += 1

    def primary_tag(self, build: int, used: set[str]) -> str:
        style = 2 if self.p.uniform else self.index % 3
        if style == 0:
            name = f"feature-{build}" if build % 6 == 5 else f"main-{build}"
        elif style == 1:
            name = f"sha-{self.rng.randbytes(4).hex()[:7]}"
            if name in used:
                name = f"{name}-{build}"
        else:
            name = f"build-{build}"
        used.add(name)
        return name

    def write(self) -> list[Sample]:
        p = self.p
        builds = p.untagged + len(p.plan)
        times = sorted(p.now - self.rng.random() * p.spread for _ in range(builds))
        latest_history: list[tuple[str, float]] = []
        for n in range(p.untagged):
            hexd, _, _ = self.build(n + 1, times[n], as_index=False)
            self.w.result.untagged += 1
            latest_history.append((hexd, times[n]))
        used: set[str] = set()
        samples: list[Sample] = []
        releases = 0
        index_sampled = False
        for i, kinds in enumerate(p.plan):
            number = p.untagged + i + 1
            pushed = times[p.untagged + i]
            global_image = self.index * len(p.plan) + i
            as_index = p.index_every > 0 and global_image % p.index_every == p.index_every - 1
            hexd, media_type, children = self.build(number, pushed, as_index=as_index)
            latest_history.append((hexd, pushed))
            names = []
            for kind in kinds:
                if kind == "primary":
                    name = self.primary_tag(number, used)
                    self.tag(name, [(hexd, pushed)])
                elif kind == "release":
                    name = f"v{1 + releases // 10}.{releases % 10}.0"
                    releases += 1
                    self.tag(name, [(hexd, min(pushed + 120.0, p.now))])
                else:
                    name = "latest"
                    self.tag(name, latest_history)
                names.append(name)
            # sample the oldest tag, the first index and latest: enough to catch a tree the
            # registry cannot serve without pulling all of it
            sampled = [n for n in names if n == "latest"]
            if i == 0 or (children and not index_sampled):
                sampled.insert(0, names[0])
                index_sampled = index_sampled or children > 0
            samples.extend(
                Sample(self.name, n, f"sha256:{hexd}", media_type, children)
                for n in dict.fromkeys(sampled)
            )
        return samples


def _work(task: tuple[_Params, range]) -> _Result:
    """Pool task: write a run of repositories and report what was created."""
    p, indexes = task
    result = _Result()
    w = _Writer(p.v2, result)
    for index in indexes:
        for sample in _Repository(p, w, index).write():
            result.samples.append((index, sample))
    return result


def _pick_samples(found: list[tuple[int, Sample]], repositories: int) -> list[Sample]:
    """A small, varied sample: the first eight repositories (every name shape), the last one,
    and the first few indexes anywhere."""
    found.sort(key=lambda item: item[0])
    picked = [s for i, s in found if i < 8 or i == repositories - 1]
    indexes = [s for _, s in found if s.children and s not in picked]
    picked.extend(indexes[: max(0, 3 - sum(1 for s in picked if s.children))])
    return picked


def synthesize(
    root: Path,
    *,
    repositories: int,
    tags_per_repository: int,
    layers_per_image: int = 2,
    layer_size: int = 256,
    shared_base_layers: int = 3,
    index_every: int = 0,
    untagged_per_repository: int = 0,
    nested: bool = True,
    seed: int = 0,
    now: float | None = None,
    age_spread_days: float = 90.0,
    workers: int | None = None,
    uniform: bool = False,
) -> SynthStats:
    """Write a registry storage tree under ``root`` and return what was written.

    ``layers_per_image`` counts every layer of an image manifest; when ``shared_base_layers``
    is positive the first of them is one of that many base layers shared by all repositories
    and the others are unique. ``index_every=N`` turns every N-th tagged build of the whole
    tree (counting repository by repository) into an OCI index of two untagged children.
    ``untagged_per_repository`` adds that many older builds that only ``latest`` used to
    point at. ``now`` defaults to the current time; pass it for byte-identical mtimes.
    ``workers`` defaults to the CPU count (at most 4) for trees of 5,000 tags and more.
    ``uniform`` makes every repository alike, as a side-by-side with a client that ranks
    tags by name needs: one ``build-N`` tag per build (N in push order), no release tags,
    and build times in push order (none stamped 1970), so the newest by build time, by push
    time and by name are the same tags.

    Refuses to write into an existing ``<root>/docker/registry/v2`` so that stats always
    describe the whole tree.
    """
    for label, value in (
        ("repositories", repositories),
        ("tags_per_repository", tags_per_repository),
        ("layers_per_image", layers_per_image),
        ("layer_size", layer_size),
        ("shared_base_layers", shared_base_layers),
        ("index_every", index_every),
        ("untagged_per_repository", untagged_per_repository),
    ):
        if value < 0:
            raise ValueError(f"{label} must be >= 0, got {value}")
    if age_spread_days < 0:
        raise ValueError("age_spread_days must be >= 0")
    start = time.perf_counter()
    root = Path(root)
    v2 = root / "docker" / "registry" / "v2"
    if v2.exists():
        raise FileExistsError(f"{v2} already exists; synthesise into an empty root")
    root.mkdir(parents=True, exist_ok=True)
    base_rng = random.Random(f"regsweep-synth:{seed}:base")
    params = _Params(
        v2=str(v2),
        repositories=repositories,
        layers=layers_per_image,
        layer_size=layer_size,
        base=tuple(base_rng.randbytes(layer_size) for _ in range(shared_base_layers)),
        index_every=index_every,
        untagged=untagged_per_repository,
        nested=nested,
        seed=seed,
        now=time.time() if now is None else now,
        spread=age_spread_days * _DAY,
        plan=_tag_plan(tags_per_repository, releases=not uniform),
        uniform=uniform,
    )
    total = _Result()
    _Writer(str(v2), total).mkdirs(str(root), "docker/registry/v2/blobs/sha256")
    _Writer(str(v2), total).mkdirs(str(v2), "repositories")
    if workers is None:
        big = repositories * tags_per_repository >= _PARALLEL_FROM_TAGS
        workers = min(os.cpu_count() or 1, 4) if big else 1
    tasks = [
        (params, range(i, min(i + _CHUNK, repositories))) for i in range(0, repositories, _CHUNK)
    ]
    if workers <= 1 or len(tasks) <= 1:
        results = [_work(task) for task in tasks]
    else:
        # fork: the children need nothing but the task, and it avoids re-importing __main__
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = list(pool.imap_unordered(_work, tasks))
    samples: list[tuple[int, Sample]] = []
    for part in results:
        for name in (
            "files",
            "directories",
            "blobs",
            "bytes",
            "manifests",
            "indexes",
            "untagged",
            "tags",
        ):
            setattr(total, name, getattr(total, name) + getattr(part, name))
        samples.extend(part.samples)
    return SynthStats(
        root=root,
        repositories=repositories,
        tags=total.tags,
        manifests=total.manifests,
        indexes=total.indexes,
        untagged=total.untagged,
        blobs=total.blobs,
        bytes=total.bytes,
        files=total.files,
        directories=total.directories,
        seconds=time.perf_counter() - start,
        samples=_pick_samples(samples, repositories),
    )


def bare_walk(root: Path) -> int:
    """The baseline every discovery benchmark is compared with: the cheapest full walk.

    Depth-first over ``root`` with ``os.scandir`` (an explicit stack instead of recursion,
    same visiting set): every entry below ``root`` is counted once; directories are
    descended into (classified by the ``d_type`` that ``scandir`` returns, without a stat
    and without following symlinks); every non-directory gets one ``lstat`` through
    ``DirEntry.stat(follow_symlinks=False)``, which is what reading an mtime costs. No file
    is opened or read. Returns the number of entries (files plus directories, ``root``
    itself excluded), which equals ``SynthStats.files + SynthStats.directories`` on a fresh
    synthetic tree.
    """
    count = 0
    stack = [os.fspath(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                count += 1
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    entry.stat(follow_symlinks=False)
    return count


# --------------------------------------------------------------------------- checking


class CheckFailed(RuntimeError):
    """The real registry or skopeo refused the synthetic tree."""


@dataclass
class CheckReport:
    """Outcome of :func:`check`; every failure raises instead."""

    pulled: list[tuple[str, str]] = field(default_factory=list)
    gc_marked: int = -1
    gc_eligible: int = -1
    seconds: float = 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _registry_binary() -> str:
    found = shutil.which("docker-registry") or shutil.which("registry")
    if not found:
        raise CheckFailed("docker-registry not found (apt-get install -y docker-registry)")
    return found


def write_config(root: Path, directory: Path, port: int) -> Path:
    """A registry config serving ``root`` on 127.0.0.1:``port`` (JSON is valid YAML)."""
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {
            "filesystem": {"rootdirectory": str(Path(root).resolve())},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": "regsweep-synth"},
    }
    path = directory / "config.yml"
    path.write_text(json.dumps(config, indent=2))
    return path


@contextmanager
def serve_registry(root: Path, directory: Path) -> Iterator[tuple[str, Path]]:
    """Run the real registry over ``root``; yield (host:port, config path).

    The binary itself is started (not through a shell) so that the pid kept is the server's,
    and it is stopped with SIGTERM to that pid only, SIGKILL if it ignores that for 20 s.
    """
    port = _free_port()
    config = write_config(root, directory, port)
    log_path = directory / "registry.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [_registry_binary(), "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise CheckFailed(
                    f"registry exited {proc.returncode}: "
                    f"{log_path.read_text(errors='replace')[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise CheckFailed("registry did not answer /v2/ within 20 s")
            time.sleep(0.05)
        yield f"127.0.0.1:{port}", config
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def pull(host: str, sample: Sample, destination: Path) -> None:
    """``skopeo copy --all`` one tag into a dir: layout and verify what arrived."""
    result = subprocess.run(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--all",
            "--src-tls-verify=false",
            f"docker://{host}/{sample.repository}:{sample.tag}",
            f"dir:{destination}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise CheckFailed(
            f"skopeo failed on {sample.repository}:{sample.tag}: {result.stderr.strip()[-2000:]}"
        )
    top = (destination / "manifest.json").read_bytes()
    got = "sha256:" + hashlib.sha256(top).hexdigest()
    if got != sample.digest:
        raise CheckFailed(
            f"{sample.repository}:{sample.tag} pulled {got}, tree says {sample.digest}"
        )
    children = len(list(destination.glob("*.manifest.json")))
    if children != sample.children:
        raise CheckFailed(
            f"{sample.repository}:{sample.tag}: {children} child manifests "
            f"pulled, expected {sample.children}"
        )


_GC_SUMMARY = re.compile(rb"(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible")


def garbage_collect_dry_run(config: Path, directory: Path) -> tuple[int, int]:
    """Run ``garbage-collect --dry-run``; return (blobs marked, blobs eligible).

    Output goes to a file: on a 100,000-tag tree it is tens of megabytes of marking lines.
    """
    out = directory / "gc.log"
    with out.open("wb") as sink:
        rc = subprocess.run(
            [_registry_binary(), "garbage-collect", str(config), "--dry-run"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=1800,
        ).returncode
    text = out.read_bytes()
    if rc != 0:
        raise CheckFailed(f"garbage-collect --dry-run exited {rc}: {text[-2000:]!r}")
    match = _GC_SUMMARY.search(text)
    if not match:
        raise CheckFailed(f"no summary in garbage-collect output: {text[-2000:]!r}")
    return int(match.group(1)), int(match.group(2))


def check(
    root: Path, samples: Sequence[Sample], *, expected_blobs: int | None = None, echo: bool = False
) -> CheckReport:
    """Prove the real registry serves ``root``: pull every sample, then GC dry-run.

    The dry run must exit 0 and, on a fresh synthetic tree, find nothing to delete (every
    blob is referenced) and mark exactly ``expected_blobs`` blobs when given.
    """
    start = time.perf_counter()
    report = CheckReport()
    with tempfile.TemporaryDirectory(prefix="regsweep-synth-check-") as tmp:
        work = Path(tmp)
        with serve_registry(root, work) as (host, config):
            for n, sample in enumerate(samples):
                pull(host, sample, work / f"pull-{n}")
                report.pulled.append((sample.repository, sample.tag))
                if echo:
                    kind = f"index of {sample.children}" if sample.children else "image"
                    print(f"pulled {sample.repository}:{sample.tag} ({kind})", flush=True)
        report.gc_marked, report.gc_eligible = garbage_collect_dry_run(config, work)
    if report.gc_eligible != 0:
        raise CheckFailed(
            f"garbage-collect --dry-run finds {report.gc_eligible} blobs "
            "eligible; a fresh synthetic tree references every blob"
        )
    if expected_blobs is not None and report.gc_marked != expected_blobs:
        raise CheckFailed(
            f"garbage-collect marked {report.gc_marked} blobs, synthesised {expected_blobs}"
        )
    report.seconds = time.perf_counter() - start
    return report


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="storage root (rootdirectory of the registry)")
    parser.add_argument("--repositories", type=int, required=True)
    parser.add_argument("--tags", type=int, required=True, help="tags per repository")
    parser.add_argument("--layers", type=int, default=2, help="layers per image (default 2)")
    parser.add_argument("--layer-size", type=int, default=256, help="bytes per layer")
    parser.add_argument("--shared-base-layers", type=int, default=3)
    parser.add_argument(
        "--index-every",
        type=int,
        default=0,
        help="every N-th tagged build is a 2-platform OCI index (0: none)",
    )
    parser.add_argument("--untagged", type=int, default=0, help="untagged builds per repo")
    parser.add_argument("--flat", action="store_true", help="single-level names only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--now", type=float, default=None, help="epoch seconds (default: now)")
    parser.add_argument("--age-spread-days", type=float, default=90.0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--uniform",
        action="store_true",
        help="every repository alike: build-N tags, no release tags, build times in push order",
    )
    parser.add_argument(
        "--force", action="store_true", help="delete an existing ROOT/docker/registry/v2 first"
    )
    parser.add_argument("--walk", action="store_true", help="time bare_walk over the result")
    parser.add_argument(
        "--check",
        action="store_true",
        help="serve ROOT with the real registry, pull samples, GC dry-run",
    )
    parser.add_argument("--json", action="store_true", help="print the stats as JSON")
    args = parser.parse_args(argv)

    v2 = args.root / "docker" / "registry" / "v2"
    if args.force and v2.exists():
        shutil.rmtree(v2)
    stats = synthesize(
        args.root,
        repositories=args.repositories,
        tags_per_repository=args.tags,
        layers_per_image=args.layers,
        layer_size=args.layer_size,
        shared_base_layers=args.shared_base_layers,
        index_every=args.index_every,
        untagged_per_repository=args.untagged,
        nested=not args.flat,
        seed=args.seed,
        now=args.now,
        age_spread_days=args.age_spread_days,
        workers=args.workers,
        uniform=args.uniform,
    )
    out = stats.summary()
    if args.walk:
        t0 = time.perf_counter()
        out["walk_entries"] = bare_walk(args.root)
        out["walk_seconds"] = round(time.perf_counter() - t0, 3)
    if not args.json:
        for key, value in out.items():
            print(f"{key}: {value}", flush=True)
    if args.check:
        report = check(args.root, stats.samples, expected_blobs=stats.blobs, echo=not args.json)
        out["check"] = {
            "pulled": len(report.pulled),
            "gc_marked": report.gc_marked,
            "gc_eligible": report.gc_eligible,
            "seconds": round(report.seconds, 3),
        }
        if not args.json:
            print(
                f"check: pulled {len(report.pulled)} tags, garbage-collect --dry-run "
                f"marked {report.gc_marked} blobs, {report.gc_eligible} eligible "
                f"({report.seconds:.1f} s)"
            )
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
