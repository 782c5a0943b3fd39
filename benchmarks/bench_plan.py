"""Discovery + planning speed against a bare ``os.scandir`` walk of the same tree.

Synthesises a registry storage tree on disk (default 1,000 repositories x 100 tags), then
times, alternating, (a) ``benchmarks.synth.bare_walk`` (every entry visited, every file
lstat-ed, nothing read) and (b) regsweep's ``discover_storage`` + ``build_plan`` (which also
reads every tag link and parses every manifest). Prints the medians and their ratio.
Memory: peak Python allocations (tracemalloc) of discovery + planning at two sizes, per
manifest, to show it grows linearly.

    .venv/bin/python benchmarks/bench_plan.py [--repositories 1000] [--tags 100] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synth import bare_walk, synthesize
from regsweep.plan.planner import Plan, build_plan
from regsweep.policy.rules import Policy
from regsweep.sources.storage.discovery import discover_storage
from regsweep.sources.storage.local import LocalStore


def plan_tree(root: Path) -> Plan:
    inventory = discover_storage(LocalStore(root))
    return build_plan(inventory, Policy(), datetime.now(UTC))


def timed(fn: object, root: Path) -> float:
    start = time.perf_counter()
    fn(root)  # type: ignore[operator]
    return time.perf_counter() - start


def peak_memory(root: Path) -> tuple[int, int]:
    """(peak bytes allocated while discovering and planning, manifests planned)."""
    tracemalloc.start()
    plan = plan_tree(root)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, plan.summary.manifests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=1000)
    parser.add_argument("--tags", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="synthesise here and keep it (reused if present)")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="regsweep-bench-plan-"))
    big = work / "big"
    small = work / "small"
    try:
        for root, repos in ((big, args.repositories), (small, max(1, args.repositories // 4))):
            if not (root / "docker").exists():
                stats = synthesize(
                    root,
                    repositories=repos,
                    tags_per_repository=args.tags,
                    index_every=10,
                    untagged_per_repository=2,
                )
                print(
                    f"synthesised {root.name}: {stats.repositories} repositories, {stats.tags} "
                    f"tags, {stats.manifests} manifests, {stats.blobs} blobs, "
                    f"{stats.files + stats.directories} entries in {stats.seconds:.0f}s",
                    flush=True,
                )
        walk_times, plan_times = [], []
        bare_walk(big)  # warm the page cache for both contenders alike
        summary = None
        for _ in range(args.rounds):
            walk_times.append(timed(bare_walk, big))
            start = time.perf_counter()
            summary = plan_tree(big).summary
            plan_times.append(time.perf_counter() - start)
        assert summary is not None
        walk, plan = statistics.median(walk_times), statistics.median(plan_times)
        print(
            f"\ntree: {summary.repositories} repositories, {summary.tags} tags, "
            f"{summary.manifests} manifests; plan deletes {summary.tags_to_delete} tags, "
            f"{summary.manifests_to_delete} manifests, frees {summary.bytes_reclaimable} bytes"
        )
        for label, median, runs in (
            ("bare os.scandir walk", walk, walk_times),
            ("regsweep discover + plan", plan, plan_times),
        ):
            print(f"{label:<36}{median:>10.2f}  runs {[round(t, 2) for t in runs]}")
        print(f"ratio discover+plan / bare walk: {plan / walk:.2f}x (target <= 3x)")

        small_peak, small_n = peak_memory(small)
        big_peak, big_n = peak_memory(big)
        print(
            f"\npeak memory: {small_n} manifests {small_peak / 2**20:.1f} MiB "
            f"({small_peak / small_n:.0f} B/manifest); {big_n} manifests "
            f"{big_peak / 2**20:.1f} MiB ({big_peak / big_n:.0f} B/manifest)"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
