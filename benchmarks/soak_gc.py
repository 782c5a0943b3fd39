"""Soak: push to a live registry while regsweep's collector runs in a loop beside it.

Pushers behave like docker and skopeo: before uploading a blob they ask whether the
registry has it (HEAD, or a cross-repository mount) and skip the upload when it does. That
is what makes a collection beside a live registry dangerous (distribution #3045): the
layers of a deleted image still exist, a push that re-uses them skips them, and a collector
that marked before the manifest arrived sweeps them. Each pusher owns its repositories and,
at random, pushes a new image (a fresh layer plus one from a shared pool, including layers
of deleted images), re-pushes an old tag (the same bytes again), deletes a manifest over
the API (making garbage), or pushes a two-platform index. A slow client is imitated by a
pause between checking the blobs and putting the manifest.

The collector runs live with grace 0 (so nothing protects a blob but the quarantine and
the re-mark) and the registry keeps its in-memory blob cache and is not restarted, so a
HEAD can claim a quarantined blob exists. When the pushers stop, one last collection runs
and every tag the registry acknowledged must pull with skopeo, at the digest last pushed.

    .venv/bin/python -m benchmarks.soak_gc [--seconds 300] [--pushers 3]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from regsweep.collect.native import GcReport, collect_native
from regsweep.sources.storage.local import LocalStore
from tests.support.images import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    Blob,
    Pusher,
    RegistryHTTPError,
    canonical_json,
    sha256_digest,
)
from tests.support.registry import RegistryServer
from tests.support.skopeo import pulls

#: The official registry:2 image's configuration keeps this cache: the dangerous setting.
CACHED = {"storage": {"cache": {"blobdescriptor": "inmemory"}}}
LAYER, CONFIG, MANIFEST = OCI_LAYER, OCI_CONFIG, OCI_MANIFEST
#: How often a push refused by the registry (a blob it no longer has) is tried again.
RETRIES = 5


@dataclass
class SoakResult:
    """What the soak did and what broke; ``broken`` must be empty."""

    expected: dict[tuple[str, str], str] = field(default_factory=dict)  # (repo, tag) -> digest
    pushes: int = 0
    refused: int = 0  # manifest puts the registry refused (blob unknown): retried
    deletes: int = 0
    #: deletes answered 404 (manifest unknown): with grace 0 a manifest pushed after the
    #: mark has its blob in the quarantine until the re-mark brings it back; the tag stays
    #: expected, so the final pull proves it came back
    deletes_missed: int = 0
    collections: list[GcReport] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        reports = self.collections
        return {
            "collections": len(reports),
            "quarantined": sum(r.quarantined.count for r in reports),
            "restored": sum(r.restored.count for r in reports),
            "restored_by_re_mark": sum(r.raced.count for r in reports),
            "pushes": self.pushes,
            "refused_and_retried": self.refused,
            "deletes": self.deletes,
            "deletes_missed": self.deletes_missed,
            "tags_checked": len(self.expected),
            "broken": len(self.broken),
        }


class _Client(Pusher):
    """A pusher that skips blobs the registry says it has, as real clients do."""

    def __init__(self, url: str, rng: random.Random, pause: float) -> None:
        super().__init__(url)
        self.rng, self.pause = rng, pause

    def ensure_blob(self, repo: str, data: bytes, media_type: str, mount_from: str | None) -> Blob:
        digest = sha256_digest(data)
        blob = Blob(digest, len(data), media_type)
        head = self.client.head(f"/v2/{repo}/blobs/{digest}")
        if head.status_code == 200:
            return blob
        if mount_from is not None:
            params = {"mount": digest, "from": mount_from}
            mounted = self.client.post(f"/v2/{repo}/blobs/uploads/", params=params)
            if mounted.status_code == 201:
                return blob
            if mounted.status_code == 202:  # not mountable: the registry opened an upload
                location = str(mounted.url.join(mounted.headers["Location"]))
                separator = "&" if "?" in location else "?"
                done = self.client.put(
                    f"{location}{separator}digest={quote(digest, safe='')}",
                    content=data,
                    headers={"Content-Type": "application/octet-stream"},
                )
                if done.status_code != 201:
                    raise RegistryHTTPError(done, (201,))
                return blob
        return self.push_blob(repo, data, media_type)

    def push(self, repo: str, tag: str, image: _Image, mount_from: str | None) -> str:
        """Push an image the way docker does; the digest, once the registry accepted it."""
        blobs = [self.ensure_blob(repo, d, LAYER, mount_from) for d in image.layers]
        config = self.ensure_blob(repo, image.config, CONFIG, None)
        time.sleep(self.pause * self.rng.random())  # a slow client: other layers uploading
        doc = {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": config.descriptor(),
            "layers": [Blob(b.digest, b.size, LAYER).descriptor() for b in blobs],
        }
        return self.put_manifest(repo, tag, canonical_json(doc), MANIFEST)


@dataclass(frozen=True)
class _Image:
    layers: tuple[bytes, ...]
    config: bytes


@dataclass
class _Pusher:
    """One pusher thread: its own repositories, so it knows what each of its tags holds."""

    url: str
    index: int
    repos: list[str]
    everywhere: list[str]
    pool: list[bytes]
    lock: threading.Lock
    result: SoakResult
    pause: float
    pushed: dict[tuple[str, str], tuple[str, _Image]] = field(default_factory=dict)
    deleted: list[tuple[str, str, _Image]] = field(default_factory=list)

    def run(self, stop: threading.Event, errors: list[BaseException]) -> None:
        rng = random.Random(self.index)
        try:
            with _Client(self.url, rng, self.pause) as client:
                n = 0
                while not stop.is_set():
                    n += 1
                    self.step(client, rng, n)
        except BaseException as exc:
            errors.append(exc)
        with self.lock:
            self.result.expected.update({k: d for k, (d, _) in self.pushed.items()})

    def step(self, client: _Client, rng: random.Random, n: int) -> None:
        action = rng.random()
        if action < 0.15 and self.pushed:  # delete a manifest: its blobs become garbage
            (repo, tag), (digest, image) = rng.choice(sorted(self.pushed.items()))
            try:
                client.delete_manifest(repo, digest)
            except RegistryHTTPError as exc:
                if exc.status != 404:
                    raise
                with self.lock:
                    self.result.deletes_missed += 1
                return
            for key in [k for k, (d, _) in self.pushed.items() if k[0] == repo and d == digest]:
                del self.pushed[key]
            self.deleted.append((repo, tag, image))
            with self.lock:
                self.result.deletes += 1
            return
        if action < 0.30 and self.deleted:  # the very same image again: every blob "exists"
            repo, tag, image = self.deleted.pop(rng.randrange(len(self.deleted)))
        elif action < 0.45 and self.pushed:  # an old tag again, new config, same layers
            (repo, tag), (_, old) = rng.choice(sorted(self.pushed.items()))
            image = _Image(old.layers, os.urandom(64))
        else:  # a new image: a fresh layer and one from the shared pool
            repo, tag = rng.choice(self.repos), f"t{self.index}-{n}"
            with self.lock:
                reused = rng.choice(self.pool) if self.pool else os.urandom(512)
                fresh = os.urandom(512)
                self.pool.append(fresh)
            image = _Image((reused, fresh), os.urandom(64))
        mount_from = rng.choice(self.everywhere) if rng.random() < 0.5 else None
        self.pushed[(repo, tag)] = (self.push(client, repo, tag, image, mount_from), image)

    def push(
        self, client: _Client, repo: str, tag: str, image: _Image, mount_from: str | None
    ) -> str:
        """Push, and push again when the registry refuses (as a user re-runs docker push)."""
        for attempt in range(RETRIES):
            try:
                digest = client.push(repo, tag, image, mount_from if attempt == 0 else None)
            except RegistryHTTPError as exc:
                if exc.status != 400 or "BLOB_UNKNOWN" not in exc.body:
                    raise
                with self.lock:
                    self.result.refused += 1
                continue
            with self.lock:
                self.result.pushes += 1
            return digest
        raise RuntimeError(f"{repo}:{tag} refused {RETRIES} times")


def soak(
    registry: RegistryServer,
    seconds: float,
    work: Path,
    *,
    pushers: int = 3,
    pause: float = 0.2,
    grace: timedelta = timedelta(0),
) -> SoakResult:
    """Push for ``seconds`` while collecting in a loop; then check every tag pulls."""
    result = SoakResult()
    stop, lock = threading.Event(), threading.Lock()
    pool: list[bytes] = []
    everywhere = [f"soak{i}/app{k}" for i in range(pushers) for k in range(3)]
    errors: list[BaseException] = []
    threads = [
        threading.Thread(
            target=_Pusher(
                registry.url,
                i,
                everywhere[3 * i : 3 * i + 3],
                everywhere,
                pool,
                lock,
                result,
                pause,
            ).run,
            args=(stop, errors),
            name=f"pusher-{i}",
        )
        for i in range(pushers)
    ]
    for thread in threads:
        thread.start()
    store = LocalStore(registry.root)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and not errors:
            if not (registry.root / "docker" / "registry" / "v2").is_dir():
                time.sleep(0.05)  # the registry makes its tree at the first push
                continue
            now = datetime.now(UTC)
            result.collections.append(collect_native(store, now=now, grace=grace, workers=4))
    except BaseException as exc:  # stop the pushers before reporting
        errors.append(exc)
    stop.set()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    result.collections.append(collect_native(store, now=datetime.now(UTC), grace=grace))
    for (repo, tag), digest in sorted(result.expected.items()):
        current = registry.root / "docker/registry/v2/repositories" / repo / "_manifests/tags"
        link = current / tag / "current" / "link"
        if not link.is_file() or link.read_text() != digest:
            result.broken.append(f"{repo}:{tag} does not point at {digest}")
        elif not pulls(registry.host, repo, tag, work):
            result.broken.append(f"{repo}:{tag} does not pull")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--pushers", type=int, default=3)
    parser.add_argument("--pause", type=float, default=0.2, help="max seconds HEAD -> PUT")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak-gc-") as tmp:
        work = Path(tmp)
        with RegistryServer.create(work / "registry", extra_config=CACHED) as registry:
            started = time.monotonic()
            result = soak(registry, args.seconds, work, pushers=args.pushers, pause=args.pause)
            elapsed = time.monotonic() - started
    for key, value in result.totals().items():
        print(f"{key}: {value}")
    print(f"seconds: {elapsed:.0f}")
    for line in result.broken:
        print(f"BROKEN {line}")
    sys.exit(1 if result.broken else 0)


if __name__ == "__main__":
    main()
