"""regsweep's garbage collector against ``docker-registry garbage-collect`` on S3 (moto).

One registry is synthesised on disk (``benchmarks.synth``, the shape of ``bench_gc``), a
third of its manifests deleted as the API would, and the tree uploaded into two buckets
of one moto server on 127.0.0.1: identical content. Then, in the same run, the registry's
collector (its own S3 driver) works on the first bucket and ``collect_native(offline=True)``
on the second, each as a dry run and then for real. The blobs left must be the same set,
and sample tags must still pull with skopeo from the second bucket through the registry.
S3 requests are counted per bucket from moto's access log.

    .venv/bin/python -m benchmarks.bench_s3_gc [--blobs 2500,5000] [--work DIR]

The registry's requests cost moto more the bigger the bucket (a LIST filters every key),
so the speed-up grows with the size; both sizes are shown by default.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import obstore
from obstore.store import S3Store as ObstoreS3

from benchmarks.bench_gc import _SUMMARY, BLOBS_PER_REPOSITORY, NOW, SHAPE, delete_manifests
from benchmarks.synth import Sample, pull, synthesize
from regsweep.collect.native import GcReport, collect_native
from regsweep.sources.storage import layout
from regsweep.sources.storage.s3 import S3Location, S3Options, S3Store
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


def blobs_in(moto: MotoServer, bucket: str) -> set[str]:
    prefix = f"{layout.BLOBS}/sha256/"
    return {
        key.split("/")[-2]
        for page in obstore.list(moto.store(bucket), prefix, chunk_size=1000)
        for key in (meta["path"] for meta in page)
        if key.endswith("/data")
    }


def registry_gc(server: RegistryServer, *, dry_run: bool) -> tuple[float, int]:
    """``docker-registry garbage-collect`` on its S3 bucket; (seconds, blobs eligible)."""
    started = time.perf_counter()
    done = server.garbage_collect(dry_run=dry_run, timeout=3600)
    seconds = time.perf_counter() - started
    match = _SUMMARY.search(done.stdout + done.stderr)
    assert match, (done.stdout + done.stderr)[-2000:]
    return seconds, int(match.group(2))


def regsweep_gc(store: S3Store, *, dry_run: bool) -> tuple[float, GcReport]:
    started = time.perf_counter()
    report = collect_native(
        store, offline=True, dry_run=dry_run, now=datetime.fromtimestamp(NOW, UTC)
    )
    return time.perf_counter() - started, report


def counted(moto: MotoServer, bucket: str, since: Counter[str]) -> Counter[str]:
    """Requests to ``bucket`` since the counts ``since`` were taken."""
    now = moto.requests(bucket)
    now.subtract(since)
    return +now


def run(target: int, work: Path, moto: MotoServer) -> dict[str, Any]:
    repositories = max(1, round(target / BLOBS_PER_REPOSITORY))
    work = work / str(target)
    tree = work / "tree"
    stats = synthesize(tree, repositories=repositories, **SHAPE)  # type: ignore[arg-type]
    deleted = delete_manifests(tree)
    theirs, ours = f"registry-gc-{target}", f"regsweep-gc-{target}"
    print(f"{stats.blobs} blobs, {deleted} manifests deleted; uploading twice", flush=True)
    for bucket in (theirs, ours):
        moto.create_bucket(bucket)
        started = time.perf_counter()
        objects = upload(tree, moto.store(bucket))
        print(f"  {bucket}: {objects} objects in {time.perf_counter() - started:.1f}s", flush=True)
    config = {"storage": {"redirect": {"disable": True}}}
    their_server = RegistryServer.create(
        work / theirs, storage_driver=s3_driver(moto, theirs), extra_config=config
    )
    our_server = RegistryServer.create(
        work / ours, storage_driver=s3_driver(moto, ours), extra_config=config
    )
    store = S3Store(S3Location(ours, ROOT), S3Options(endpoint=moto.endpoint))
    row: dict[str, Any] = {"blobs": stats.blobs, "objects": objects}
    row["load"] = os.getloadavg()[0]
    for dry_run, label in ((True, "dry"), (False, "gc")):
        print(f"{label}: registry", flush=True)
        before = moto.requests(theirs)
        row[f"registry_{label}"], eligible = registry_gc(their_server, dry_run=dry_run)
        row[f"registry_{label}_requests"] = counted(moto, theirs, before)
        print(f"{label}: regsweep", flush=True)
        before = moto.requests(ours)
        row[f"regsweep_{label}"], report = regsweep_gc(store, dry_run=dry_run)
        row[f"regsweep_{label}_requests"] = counted(moto, ours, before)
        assert (report.deleted.count, label) == (eligible, label), (report.deleted.count, eligible)
        row["swept"], row["phases"] = report.deleted.count, report.phases
    left = blobs_in(moto, ours)
    assert left == blobs_in(moto, theirs), "different blobs left"
    assert len(left) == stats.blobs - row["swept"]
    keys = {m["path"] for page in obstore.list(moto.store(ours), chunk_size=1000) for m in page}
    samples = [s for s in stats.samples if _tag_key(s) in keys]
    with our_server:
        for n, sample in enumerate(samples):
            pull(our_server.host, sample, work / f"pull-{n}")
    row["pulled"] = len(samples)
    return row


def _tag_key(sample: Sample) -> str:
    return layout.tag_current_link(sample.repository, sample.tag)


def _requests(counts: Counter[str]) -> str:
    detail = " ".join(f"{method} {n}" for method, n in sorted(counts.items()))
    return f"{sum(counts.values()):,} ({detail})"


def report(rows: list[dict[str, Any]]) -> None:
    """The table (markdown), seconds of one run each; load is the 1-minute load average."""
    print(f"\n{os.cpu_count()} CPUs; moto on 127.0.0.1; seconds, one run each\n")
    print(
        "| blobs | run | registry s | regsweep s | speed-up | registry requests "
        "| regsweep requests | load |"
    )
    print("|---:|---|---:|---:|---:|---|---|---:|")
    for row in rows:
        for label in ("dry", "gc"):
            theirs, ours = row[f"registry_{label}"], row[f"regsweep_{label}"]
            print(
                f"| {row['blobs']:,} | {'dry run' if label == 'dry' else 'real run'} "
                f"| {theirs:.2f} | {ours:.2f} | {theirs / ours:.1f}x "
                f"| {_requests(row[f'registry_{label}_requests'])} "
                f"| {_requests(row[f'regsweep_{label}_requests'])} | {row['load']:.1f} |"
            )
    for row in rows:
        phases = ", ".join(f"{k} {v:.2f}s" for k, v in row["phases"].items())
        print(
            f"{row['blobs']:,} blobs ({row['objects']:,} objects per bucket): both removed "
            f"{row['swept']:,} blobs, the same set; regsweep phases: {phases}; "
            f"{row['pulled']} sample tags pulled through the registry afterwards"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blobs", default="2500,5000", help="target sizes, comma-separated")
    parser.add_argument("--work", type=Path, help="folder for the work files (default: temp)")
    args = parser.parse_args()
    os.environ.update(aws_env())
    work = Path(tempfile.mkdtemp(prefix="bench-s3-gc-", dir=args.work))
    rows: list[dict[str, Any]] = []
    try:
        with MotoServer(work / "moto.log") as moto:
            for target in (int(t) for t in args.blobs.split(",")):
                rows.append(run(target, work, moto))
                report(rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
