"""regsweep's offline garbage collector against ``docker-registry garbage-collect``.

For each size, two identical registries are synthesised on disk (``benchmarks.synth``, same
seed and time), the first is checked through the real registry (sample tags pull with
skopeo, ``garbage-collect --dry-run`` finds nothing unreferenced), and the same manifests
are then deleted from both as the API would (revision link removed, its folder left, every
tag pointing at it gone). Then, on the two copies: dry runs, then real runs, of the
registry's collector on one and ``collect_native(offline=True)`` on the other; the blobs
left must be the same set, and sample tags still pull from regsweep's copy. A bare
``os.scandir`` walk of the tree (``synth.bare_walk``) is the floor both are compared with.

    .venv/bin/python -m benchmarks.bench_gc [--blobs 10000,100000] [--work DIR] [--keep] [--cold]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synth import (
    Sample,
    bare_walk,
    check,
    pull,
    serve_registry,
    synthesize,
    write_config,
)
from regsweep.collect.native import GcReport, collect_native
from regsweep.sources.storage.local import LocalStore
from tests.support.storage import blob_digests

NOW = 1_780_000_000.0
#: Blobs per repository with the shape below (100 tags, 2 layers, an index every 10th
#: build, 5 untagged builds): measured, used to pick the number of repositories.
BLOBS_PER_REPOSITORY = 287
SHAPE = {
    "tags_per_repository": 100,
    "layers_per_image": 2,
    "index_every": 10,
    "untagged_per_repository": 5,
    "seed": 1,
    "now": NOW,
}
_SUMMARY = re.compile(r"(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible")


def delete_manifests(root: Path, *, every: int = 3) -> int:
    """Delete every ``every``-th manifest (by digest) of each repository, as an API DELETE
    does: the revision's link goes (its folder stays), and so does every tag pointing at it.
    Manifests tagged ``latest`` stay. Deterministic; returns how many were deleted."""
    repositories = root / "docker" / "registry" / "v2" / "repositories"
    deleted = 0
    for tags_dir in sorted(repositories.glob("**/_manifests/tags")):
        targets: dict[str, list[Path]] = {}
        for entry in os.scandir(tags_dir):
            digest = Path(entry.path, "current", "link").read_text()
            targets.setdefault(digest, []).append(Path(entry.path))
        revisions = tags_dir.parent / "revisions" / "sha256"
        for n, (digest, tags) in enumerate(sorted(targets.items())):
            if n % every or any(t.name == "latest" for t in tags):
                continue
            (revisions / digest.removeprefix("sha256:") / "link").unlink()
            for tag in tags:
                shutil.rmtree(tag)
            deleted += 1
    return deleted


def registry_gc(config: Path, work: Path, *, dry_run: bool) -> tuple[float, int]:
    """Run ``docker-registry garbage-collect``; (seconds, blobs eligible)."""
    argv = [shutil.which("docker-registry") or "docker-registry", "garbage-collect", str(config)]
    if dry_run:
        argv.append("--dry-run")
    out = work / "gc.log"
    started = time.perf_counter()
    with out.open("wb") as sink:
        subprocess.run(argv, stdout=sink, stderr=subprocess.STDOUT, check=True, timeout=3600)
    seconds = time.perf_counter() - started
    match = _SUMMARY.search(out.read_text(errors="replace"))
    assert match, out.read_text(errors="replace")[-2000:]
    return seconds, int(match.group(2))


def regsweep_gc(root: Path, *, dry_run: bool) -> tuple[float, GcReport]:
    started = time.perf_counter()
    report = collect_native(
        LocalStore(root), offline=True, dry_run=dry_run, now=datetime.fromtimestamp(NOW, UTC)
    )
    return time.perf_counter() - started, report


def walk(root: Path, *, cold: bool) -> float:
    """Best of three bare walks (the first warms the cache as the collectors' runs were),
    or one walk from a cold cache."""
    best = float("inf")
    for _ in range(1 if cold else 3):
        settle(cold)
        started = time.perf_counter()
        bare_walk(root)
        best = min(best, time.perf_counter() - started)
    return best


def settle(cold: bool) -> None:
    """``--cold``: write back and drop the page, dentry and inode caches (root only), so the
    next timed run reads the tree from disk, as a collector on a big idle registry does."""
    if cold:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


def run_size(target: int, work: Path, *, cold: bool = False) -> dict[str, float | int | str]:
    repositories = max(1, round(target / BLOBS_PER_REPOSITORY))
    theirs, ours = work / f"{target}-registry", work / f"{target}-regsweep"
    print(f"[{target}] synthesising {repositories} repositories twice", flush=True)
    stats = synthesize(theirs / "storage", repositories=repositories, **SHAPE)  # type: ignore[arg-type]
    synthesize(ours / "storage", repositories=repositories, **SHAPE)  # type: ignore[arg-type]
    print(f"[{target}] {stats.blobs} blobs; checking through the real registry", flush=True)
    check(theirs / "storage", stats.samples, expected_blobs=stats.blobs)
    deleted = delete_manifests(theirs / "storage")
    assert delete_manifests(ours / "storage") == deleted
    config = write_config(theirs / "storage", theirs, 5000)  # never served: GC reads it only
    walk_s = walk(ours / "storage", cold=cold)
    print(f"[{target}] {deleted} manifests deleted; dry runs", flush=True)
    settle(cold)
    their_dry, eligible = registry_gc(config, theirs, dry_run=True)
    settle(cold)
    our_dry, dry = regsweep_gc(ours / "storage", dry_run=True)
    assert dry.deleted.count == eligible, (dry.deleted.count, eligible)
    print(f"[{target}] real runs", flush=True)
    load = os.getloadavg()[0]
    settle(cold)
    their_real, _ = registry_gc(config, theirs, dry_run=False)
    settle(cold)
    our_real, report = regsweep_gc(ours / "storage", dry_run=False)
    left = blob_digests(ours / "storage")
    assert left == blob_digests(theirs / "storage"), "different blobs left"
    samples = [s for s in stats.samples if _tag_exists(ours / "storage", s)]
    with serve_registry(ours / "storage", ours) as (host, _):
        for n, sample in enumerate(samples):
            pull(host, sample, ours / f"pull-{n}")
    return {
        "blobs": stats.blobs,
        "entries": stats.files + stats.directories,
        "deleted": report.deleted.count,
        "links": report.layer_links_removed,
        "folders": report.folders_removed,
        "pulled": len(samples),
        "walk": walk_s,
        "registry_dry": their_dry,
        "regsweep_dry": our_dry,
        "registry_gc": their_real,
        "regsweep_gc": our_real,
        "phases": ", ".join(f"{k} {v:.1f}" for k, v in report.phases.items()),
        "load": load,
    }


def _tag_exists(root: Path, sample: Sample) -> bool:
    tag = root / "docker/registry/v2/repositories" / sample.repository / "_manifests/tags"
    return (tag / sample.tag / "current" / "link").is_file()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blobs", default="10000,100000", help="target sizes, comma-separated")
    parser.add_argument("--work", type=Path, help="folder for the trees (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the trees afterwards")
    parser.add_argument(
        "--cold", action="store_true", help="drop the kernel's caches before each timed run (root)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-gc-", dir=args.work))
    rows = []
    try:
        for target in (int(t) for t in args.blobs.split(",")):
            rows.append(run_size(target, work, cold=args.cold))
            report(rows, cold=args.cold)
            if not args.keep:  # deleting the trees takes minutes on a slow disk
                for tree in work.iterdir():
                    shutil.rmtree(tree, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def report(rows: list[dict[str, float | int | str]], *, cold: bool) -> None:
    """The table (markdown), seconds of one run each; load is the 1-minute load average."""
    cache = "cold cache (dropped before each run)" if cold else "warm cache"
    print(f"\n{os.cpu_count()} CPUs, {cache}; seconds, one run each\n")
    print(
        "| blobs | tree entries | swept | bare walk | registry dry | regsweep dry | dry speed-up "
        "| registry gc | regsweep gc | gc speed-up | regsweep gc / walk | load |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        f = {k: float(v) for k, v in r.items() if isinstance(v, int | float)}
        print(
            f"| {r['blobs']:,} | {r['entries']:,} | {r['deleted']:,} | {f['walk']:.2f} "
            f"| {f['registry_dry']:.2f} | {f['regsweep_dry']:.2f} "
            f"| {f['registry_dry'] / f['regsweep_dry']:.1f}x "
            f"| {f['registry_gc']:.2f} | {f['regsweep_gc']:.2f} "
            f"| {f['registry_gc'] / f['regsweep_gc']:.1f}x | {f['regsweep_gc'] / f['walk']:.2f} "
            f"| {f['load']:.1f} |"
        )
    for r in rows:
        print(
            f"{r['blobs']:,} blobs: regsweep removed {r['deleted']:,} blobs, {r['links']:,} "
            f"layer links, {r['folders']:,} folders; phases {r['phases']}; "
            f"{r['pulled']} sample tags pulled afterwards"
        )


if __name__ == "__main__":
    main()
