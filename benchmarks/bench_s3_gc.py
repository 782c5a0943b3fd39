"""regsweep's garbage collector on S3 (moto), behind a relay adding a WAN round trip.

moto's S3 server runs on 127.0.0.1 behind ``benchmarks.delay_proxy``, which delays every
request by ``--delay-ms`` (20 ms by default), as a region's round trip does; every client
measured (the registry's S3 driver, regsweep) goes through the relay. Two comparisons, each
on buckets of identical content (a registry synthesised on disk by ``benchmarks.synth``,
the shape of ``bench_gc``, a third of its manifests deleted as the API would, uploaded
straight to moto):

- **registry** (``--registry-blobs``, ~5,000 by default): ``docker-registry
  garbage-collect`` (its own S3 driver) on one bucket, regsweep's ``collect_native(offline)``
  on the other; dry runs, then real runs;
- **listing** (``--listing-blobs``, 20,000 by default): regsweep with one listing at a
  time (``listings=1``: ``repositories/`` then ``blobs/``, each one flat listing) on one
  bucket, regsweep as it runs by default (runs of folders, listed at once on its readers'
  pool) on the other; dry runs, then real runs.

Each pair must find the same answer: the same blobs swept, the same bytes, the same blobs
left; sample tags must still pull with skopeo through the real registry from regsweep's
bucket. Requests are counted per bucket from moto's access log (by S3 operation: ``list``
pages, ``get``, ``head``, ``put`` (copies too), ``delete`` = DeleteObjects), beside the
counts regsweep keeps itself and the floor (``regsweep.sources.storage.s3_listing``): one
LIST per 1,000 keys of ``repositories/`` and of ``blobs/sha256/`` (what one flat listing of
each costs), one GET per manifest, one DeleteObjects per 1,000 keys deleted.

    .venv/bin/python -m benchmarks.bench_s3_gc [--registry-blobs 5000] [--listing-blobs 20000]
        [--delay-ms 20] [--indexed-moto] [--work DIR] [--keep]

``--walk-blobs N`` adds the listing alone (what the listing comparison changes, without
the manifest reads both modes share), on one bucket of that size. A size of 0 skips that
comparison. ``--indexed-moto`` serves moto's listings from a sorted
index of the keys (``benchmarks/moto_index``): moto itself sorts the whole bucket for every
page, so that a listing costs moto's CPU, not the round trips it costs on S3; writes each
ListObjectsV2 page's XML itself (with moto's generic serializer a page of 1,000 keys took
332 ms to serve to one client, 36 ms without it); and takes away the lock every request
of moto's took while moto listed its own package folder (one request served at a time, 161
GETs a second from one client thread; 339 without).
``tests/integration/test_moto_index.py`` compares its answers with moto's own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import obstore
from obstore.store import S3Store as ObstoreS3

from benchmarks.bench_gc import _SUMMARY, BLOBS_PER_REPOSITORY, NOW, SHAPE, delete_manifests
from benchmarks.delay_proxy import delayed
from benchmarks.synth import SynthStats, pull, synthesize
from regsweep.collect.native import GcReport, collect_native
from regsweep.collect.native.collector import DEFAULT_WORKERS
from regsweep.sources.storage import layout
from regsweep.sources.storage.listing import parts_of, run_parts
from regsweep.sources.storage.s3 import S3Location, S3Options, S3Store
from regsweep.sources.storage.s3_listing import delete_floor, list_floor
from tests.support.moto import ROOT, MotoServer, aws_env, s3_driver
from tests.support.registry import RegistryServer

#: Uploads in flight at once (moto serves them one by one anyway).
UPLOADS = 32


def upload(tree: Path, store: ObstoreS3) -> int:
    """Put every file below ``tree`` under the same relative key; how many."""
    files = [
        (os.path.relpath(os.path.join(folder, name), tree), os.path.join(folder, name))
        for folder, _, names in os.walk(tree)
        for name in names
    ]

    async def put_all() -> None:
        slots = asyncio.Semaphore(UPLOADS)

        async def put(key: str, path: str) -> None:
            async with slots:
                await obstore.put_async(store, key, Path(path).read_bytes())

        await asyncio.gather(*(put(key, path) for key, path in files))

    asyncio.run(put_all())
    return len(files)


def keys_in(moto: MotoServer, bucket: str) -> list[str]:
    """Every key below the registry's root, straight from moto (not through the relay)."""
    return sorted(
        meta["path"] for page in obstore.list(moto.store(bucket), chunk_size=1000) for meta in page
    )


def blobs_in(keys: list[str]) -> set[str]:
    prefix = f"{layout.SHA256_BLOBS}/"
    return {k.split("/")[-2] for k in keys if k.startswith(prefix) and k.endswith("/data")}


def list_floor_of(keys: list[str]) -> int:
    """The fewest LISTs for a walk of ``repositories/`` and ``blobs/sha256``: one per 1,000
    keys of each, as one flat listing of each costs. Listed in runs at once, regsweep
    pays the delimiter listings and up to one request per run above it."""
    return list_floor(
        sum(1 for k in keys if k.startswith(f"{prefix}/"))
        for prefix in (layout.REPOSITORIES, layout.SHA256_BLOBS)
    )


@dataclass
class Run:
    """One collection: its seconds, the server's counts, regsweep's own, the floor."""

    seconds: float
    seen: Counter[str]
    sent: Counter[str] = field(default_factory=Counter)
    floor: int = 0
    report: GcReport | None = None


def requests_since(moto: MotoServer, bucket: str, before: Counter[str]) -> Counter[str]:
    now = moto.requests(bucket)
    now.subtract(before)
    return +now


def regsweep_gc(
    moto: MotoServer, bucket: str, endpoint: str, *, dry_run: bool, listings: int | None
) -> Run:
    keys = keys_in(moto, bucket)
    store = S3Store(S3Location(bucket, ROOT), S3Options(endpoint=endpoint))
    before = moto.requests(bucket)
    started = time.perf_counter()
    report = collect_native(
        store,
        offline=True,
        dry_run=dry_run,
        now=datetime.fromtimestamp(NOW, UTC),
        listings=listings,
    )
    seconds = time.perf_counter() - started
    assert report.requests is not None
    floor = list_floor_of(keys)
    floor += report.manifests
    if not dry_run:
        floor += delete_floor(report.deleted.count) + delete_floor(report.layer_links_removed)
    sent = Counter({kind.value: n for kind, n in report.requests.by_kind.items() if n})
    return Run(seconds, requests_since(moto, bucket, before), sent, floor, report)


def registry_gc(moto: MotoServer, bucket: str, server: RegistryServer, *, dry_run: bool) -> Run:
    before = moto.requests(bucket)
    started = time.perf_counter()
    done = server.garbage_collect(dry_run=dry_run, timeout=7200)
    seconds = time.perf_counter() - started
    match = _SUMMARY.search(done.stdout + done.stderr)
    assert match, (done.stdout + done.stderr)[-2000:]
    return Run(seconds, requests_since(moto, bucket, before), Counter({"eligible": int(match[2])}))


def prepare(work: Path, moto: MotoServer, target: int, buckets: tuple[str, ...]) -> SynthStats:
    """Synthesise, delete a third of the manifests, upload into each bucket."""
    repositories = max(1, round(target / BLOBS_PER_REPOSITORY))
    tree = work / "tree"
    stats = synthesize(tree, repositories=repositories, **SHAPE)  # type: ignore[arg-type]
    deleted = delete_manifests(tree)
    print(f"{stats.blobs:,} blobs, {deleted:,} manifests deleted; uploading", flush=True)
    for bucket in buckets:
        moto.create_bucket(bucket)
        started = time.perf_counter()
        objects = upload(tree, moto.store(bucket))
        print(f"  {bucket}: {objects:,} objects in {time.perf_counter() - started:.0f}s")
    shutil.rmtree(tree)
    return stats


def check_pulls(work: Path, moto: MotoServer, bucket: str, endpoint: str, stats: SynthStats) -> int:
    """Pull the sample tags still in the bucket through the real registry on it."""
    server = RegistryServer.create(
        work / f"registry-{bucket}",
        storage_driver=_driver(moto, bucket, endpoint),
        extra_config={"storage": {"redirect": {"disable": True}}},
    )
    keys = set(keys_in(moto, bucket))
    samples = [s for s in stats.samples if layout.tag_current_link(s.repository, s.tag) in keys]
    with server:
        for n, sample in enumerate(samples):
            pull(server.host, sample, work / f"pull-{bucket}-{n}")
    return len(samples)


def _driver(moto: MotoServer, bucket: str, endpoint: str) -> dict[str, Any]:
    driver = s3_driver(moto, bucket)
    driver["s3"]["regionendpoint"] = endpoint
    return driver


def compare(
    label: str,
    pair: tuple[str, str],
    runs: tuple[Callable[[bool], Run], Callable[[bool], Run]],
    moto: MotoServer,
) -> dict[str, tuple[Run, Run]]:
    """Dry runs, then real runs, of both; the same answer from both is asserted."""
    found: dict[str, tuple[Run, Run]] = {}
    for dry_run in (True, False):
        step = "dry" if dry_run else "real"
        print(f"{label} {step}: {pair[0]}", flush=True)
        theirs = runs[0](dry_run)
        print(f"{label} {step}: {pair[1]}", flush=True)
        ours = runs[1](dry_run)
        found[step] = (theirs, ours)
        assert ours.report is not None
        if theirs.report is not None:
            assert theirs.report.swept == ours.report.swept, "different blobs swept"
            assert theirs.report.deleted.bytes == ours.report.deleted.bytes
        else:
            assert theirs.sent["eligible"] == ours.report.deleted.count
    left = [blobs_in(keys_in(moto, bucket)) for bucket in pair]
    assert left[0] == left[1], "different blobs left"
    return found


def _requests(counts: Counter[str]) -> str:
    detail = " ".join(f"{kind} {n:,}" for kind, n in sorted(counts.items()))
    return f"{sum(counts.values()):,} ({detail})"


def table(title: str, names: tuple[str, str], found: dict[str, tuple[Run, Run]]) -> None:
    print(f"\n{title}\n")
    print(
        f"| run | {names[0]} s | {names[1]} s | speed-up | {names[0]} requests (server) "
        f"| {names[1]} requests (server) | {names[1]} counted | floor | over floor |"
    )
    print("|---|---:|---:|---:|---|---|---:|---:|---:|")
    for step, (theirs, ours) in found.items():
        total = sum(ours.seen.values())
        print(
            f"| {step} | {theirs.seconds:.2f} | {ours.seconds:.2f} "
            f"| {theirs.seconds / ours.seconds:.1f}x | {_requests(theirs.seen)} "
            f"| {_requests(ours.seen)} | {_requests(ours.sent)} | {ours.floor:,} "
            f"| {100 * (total - ours.floor) / ours.floor:+.1f}% |"
        )
    for step, (_, ours) in found.items():
        assert ours.report is not None
        phases = ", ".join(f"{k} {v:.2f}s" for k, v in ours.report.phases.items())
        print(
            f"{step}: {ours.report.deleted.count:,} blobs ({ours.report.deleted.bytes:,} bytes) "
            f"swept by both, the same set; {ours.report.manifests:,} manifests; "
            f"{names[1]} phases: {phases}"
        )


def registry_comparison(work: Path, moto: MotoServer, endpoint: str, target: int) -> None:
    pair = (f"registry-{target}", f"regsweep-{target}")
    stats = prepare(work / "registry", moto, target, pair)
    server = RegistryServer.create(
        work / "registry" / "server",
        storage_driver=_driver(moto, pair[0], endpoint),
        extra_config={"storage": {"redirect": {"disable": True}}},
    )
    load = os.getloadavg()[0]
    found = compare(
        "registry",
        pair,
        (
            lambda dry: registry_gc(moto, pair[0], server, dry_run=dry),
            lambda dry: regsweep_gc(moto, pair[1], endpoint, dry_run=dry, listings=None),
        ),
        moto,
    )
    pulled = check_pulls(work / "registry", moto, pair[1], endpoint, stats)
    table(
        f"{stats.blobs:,} blobs: docker-registry garbage-collect against regsweep "
        f"(load {load:.1f} at the start)",
        ("registry", "regsweep"),
        found,
    )
    print(f"{pulled} sample tags pulled through the registry from regsweep's bucket afterwards")


def listing_comparison(work: Path, moto: MotoServer, endpoint: str, target: int) -> None:
    pair = (f"one-listing-{target}", f"at-once-{target}")
    stats = prepare(work / "listing", moto, target, pair)
    load = os.getloadavg()[0]
    found = compare(
        "listing",
        pair,
        (
            lambda dry: regsweep_gc(moto, pair[0], endpoint, dry_run=dry, listings=1),
            lambda dry: regsweep_gc(moto, pair[1], endpoint, dry_run=dry, listings=None),
        ),
        moto,
    )
    pulled = check_pulls(work / "listing", moto, pair[1], endpoint, stats)
    table(
        f"{stats.blobs:,} blobs: regsweep one listing at a time against listings at once "
        f"(load {load:.1f} at the start)",
        ("one at a time", "at once"),
        found,
    )
    print(f"{pulled} sample tags pulled through the registry from the at-once bucket afterwards")


def walk(store: S3Store, listings: int) -> int:
    """List ``repositories/`` and ``blobs/sha256`` as the collector does, without reading
    anything: ``listings`` at once on a pool of the collector's readers; how many keys."""
    parts = [
        partial(lambda listing: sum(1 for _ in listing()), listing)
        for prefix in (layout.REPOSITORIES, layout.SHA256_BLOBS)
        for listing in parts_of(store, prefix, listings)
    ]
    with ThreadPoolExecutor(max_workers=min(DEFAULT_WORKERS, store.readers)) as pool:
        return sum(run_parts(pool, parts, window=listings))


def listing_only(work: Path, moto: MotoServer, endpoint: str, target: int) -> None:
    """The listing alone, on one bucket: one listing at a time against listings at once,
    three rounds each, alternated; the best of each."""
    bucket = f"walk-{target}"
    stats = prepare(work / "walk", moto, target, (bucket,))
    keys = keys_in(moto, bucket)
    load = os.getloadavg()[0]
    found: dict[int, Run] = {}
    for _ in range(3):
        for listings in (1, min(DEFAULT_WORKERS, S3Store.readers)):
            store = S3Store(S3Location(bucket, ROOT), S3Options(endpoint=endpoint))
            before = moto.requests(bucket)
            started = time.perf_counter()
            listed = walk(store, listings)
            seconds = time.perf_counter() - started
            assert listed == len(keys) - sum(
                1 for k in keys if not k.startswith((layout.REPOSITORIES, layout.SHA256_BLOBS))
            )
            run = Run(seconds, requests_since(moto, bucket, before))
            run.floor = list_floor_of(keys)
            if listings not in found or seconds < found[listings].seconds:
                found[listings] = run
    print(f"\n{stats.blobs:,} blobs, {len(keys):,} keys: the listing alone (load {load:.1f})\n")
    print("| listings at once | seconds, best of 3 | requests (server) | floor |")
    print("|---:|---:|---|---:|")
    for listings, run in found.items():
        print(f"| {listings} | {run.seconds:.2f} | {_requests(run.seen)} | {run.floor:,} |")
    one, many = found.values()
    print(f"speed-up: {one.seconds / many.seconds:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry-blobs", type=int, default=5000)
    parser.add_argument("--listing-blobs", type=int, default=20000)
    parser.add_argument("--walk-blobs", type=int, default=0, help="the listing alone, this size")
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--work", type=Path, help="folder for the work files (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the work files (moto's log)")
    parser.add_argument(
        "--indexed-moto",
        action="store_true",
        help="serve moto's listings from a sorted index of the keys (benchmarks/moto_index)",
    )
    args = parser.parse_args()
    os.environ.update(aws_env())
    work = Path(tempfile.mkdtemp(prefix="bench-s3-gc-", dir=args.work))
    listings = "listings from a sorted index" if args.indexed_moto else "moto's own listings"
    print(
        f"{os.cpu_count()} CPUs; moto on 127.0.0.1 ({listings}) behind a {args.delay_ms:g} ms relay"
    )
    if args.indexed_moto:  # moto_server is the only process started with it
        os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parent / "moto_index")
    try:
        with MotoServer(work / "moto.log") as moto:
            os.environ.pop("PYTHONPATH", None)
            with delayed(f"127.0.0.1:{moto.port}", args.delay_ms) as relay:
                endpoint = f"http://{relay}"
                if args.registry_blobs:
                    registry_comparison(work, moto, endpoint, args.registry_blobs)
                if args.listing_blobs:
                    listing_comparison(work, moto, endpoint, args.listing_blobs)
                if args.walk_blobs:
                    listing_only(work, moto, endpoint, args.walk_blobs)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
