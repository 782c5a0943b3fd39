"""Time and peak memory of plan, du and the native GC at registry scale, against a bare walk.

For each size a registry is synthesised straight to disk (``benchmarks.synth``: 5 tags per
repository on 4 tagged builds, 2 untagged builds, 9 layers per image so about 10 blobs per
manifest) and a sample of its tags is pulled through the real registry with skopeo. Then,
each in a child process of its own, forked by a small launcher so that its peak RSS is its
own (``os.wait4`` returns the child's ``rusage``, the figure
``resource.getrusage(RUSAGE_CHILDREN)`` sums):

- ``bare walk``: ``synth.bare_walk`` of the tree, the floor (in this process, best of the
  rounds, each round right before a round of plan (library));
- ``plan (library)``: ``discover_storage`` + ``build_plan`` timed inside the child, which
  imports nothing else: the figure compared with the walk;
- ``plan``, ``du``: the CLI commands as a user runs them (``--keep-last 4``: half the
  manifests, the untagged builds and the oldest tagged one, go), JSON output kept;
- the plan applied on disk as storage deletes do it (tag folders and revision links
  removed), so half the manifests are garbage; then ``gc --offline --dry-run`` and ``gc
  --offline`` (native collector), and the set of blobs left.

``--memory-limit SIZE`` (e.g. ``64MiB``) runs plan, du and ``gc --dry-run`` a second time
with that limit (this checkout only) right after each one without it, prints their seconds
and peak RSS in the same table, says which structures spilled (``-v``) and checks that
their JSON (ages masked) is that of the run without the limit.

``--baseline-src DIR`` runs every step a second time, on an identical second tree, with the
``src`` folder of another checkout (``git worktree add /tmp/base perf/api-budget``) first on
``PYTHONPATH``: ratios then come from one run, and the plan JSON, du JSON and the set of
blobs the GC leaves are compared byte for byte (sha256 printed). ``--src DIR`` measures
another ``src`` than this checkout's (a copy, to keep editing while it runs).

Each size is synthesised once into ``<work>/<size>/pristine`` (described beside it in
``pristine.json``); the steps run on copies of it made of hard links. With ``--keep
--work DIR`` it stays, and the next run given the same ``DIR`` reuses it instead of
synthesising again (minutes at ``1m``).

    .venv/bin/python -m benchmarks.bench_scale [--sizes 100k,1m] [--work DIR]
        [--baseline-src DIR] [--src DIR] [--rounds 3] [--keep] [--cold] [--memory-limit 64MiB]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_gc import settle
from benchmarks.synth import Sample, bare_walk, pull, serve_registry, synthesize

#: Push times of the synthetic trees: fixed, so two trees of a size are identical.
NOW = 1_780_000_000.0
#: (blobs, manifests) per size name.
SIZES = {
    "10k": (10_000, 1_000),
    "100k": (100_000, 10_000),
    "300k": (300_000, 30_000),
    "1m": (1_000_000, 100_000),
}
#: 4 tagged builds (5 tags: latest shares the newest) and 2 untagged builds per repository:
#: 6 manifests; 9 layers (one a shared base) + config + manifest: 10 blobs per manifest.
SHAPE = {
    "tags_per_repository": 5,
    "untagged_per_repository": 2,
    "layers_per_image": 9,
    "index_every": 0,
    "uniform": True,
    "seed": 7,
    "now": NOW,
}
MANIFESTS_PER_REPOSITORY = 6
#: The ages in the plan's reasons ("pushed 280d ago") are counted from the moment each run
#: starts: a manifest pushed near a day boundary is a day older in the second run. With
#: these masked, what is left must be identical.
AGE = re.compile(rb"\b\d+[a-z]+ ago\b")
#: Keeps the 3 newest builds' tags: the untagged builds and the oldest tagged one go.
POLICY = ["--keep-last", "4"]

_PLAN_LIBRARY = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from regsweep.plan.planner import build_plan
from regsweep.policy.rules import Policy
from regsweep.sources.storage.discovery import discover_storage
from regsweep.sources.storage.local import LocalStore
started = time.perf_counter()
inventory = discover_storage(LocalStore(Path(sys.argv[1])))
plan = build_plan(inventory, Policy(keep_last=4), datetime.now(UTC))
print(time.perf_counter() - started, plan.summary.manifests_to_delete)
"""

_IMPORTS_ONLY = "import regsweep.cli.plan, regsweep.cli.du, regsweep.cli.gc"
_LIBRARY_IMPORTS = (
    "import regsweep.plan.planner, regsweep.policy.rules, "
    "regsweep.sources.storage.discovery, regsweep.sources.storage.local"
)


#: Runs a command and writes its peak RSS (KiB) to the file named by its first argument.
#: The measured process is forked from this small one: a process started straight from
#: the benchmark would report the benchmark's own RSS when that is larger (Linux keeps
#: the high-water mark of the process that forked it across ``exec``).
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass
class Child:
    """One child process: wall seconds, peak RSS (bytes), its stdout."""

    seconds: float
    peak: int
    stdout: bytes
    stderr: bytes = b""


def run_child(argv: list[str], src: Path | None) -> Child:
    """Run ``argv`` to its end under the launcher; its own peak RSS from ``wait4``."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    with tempfile.TemporaryDirectory() as tmp:
        rss = Path(tmp, "rss")
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(rss), *argv],
            capture_output=True,
            env=env,
            check=False,
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{argv[2:5]} exited {done.returncode}: {done.stderr[-2000:]!r}")
        return Child(seconds, int(rss.read_text()) * 1024, done.stdout, done.stderr)


def regsweep(*args: str) -> list[str]:
    return [sys.executable, "-m", "regsweep", *args]


@dataclass
class Variant:
    """One source tree (this checkout's, or the baseline's) on its own copy of the registry,
    and every figure measured of it."""

    label: str
    root: Path
    src: Path | None
    figures: dict[str, Child] = field(default_factory=dict)
    library_seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)  # sha256 of what must not change
    #: runs under ``--memory-limit``: what spilled, and whether the answer is the same
    limited: list[str] = field(default_factory=list)

    def run(self, step: str, argv: list[str], cold: bool) -> Child:
        settle(cold)
        child = run_child(argv, self.src)
        self.figures[step] = child
        return child


#: a structure spilled with its entries, or (the manifests) before the first of them
_SPILLED = re.compile(
    rb"memory limit: (.+?) spilled to disk (with (\d+) entries|before the first of (\d+))"
)


def run_limited(
    variant: Variant, step: str, argv: list[str], limit: str, unlimited: bytes, cold: bool
) -> None:
    """``argv`` again under ``--memory-limit``: its figures, what spilled, and whether its
    JSON (ages masked, phases and seconds left out) is the unlimited run's."""
    child = variant.run(f"{step} --memory-limit {limit}", [*argv, "--memory-limit", limit], cold)
    spilled = ", ".join(
        f"{name.decode()} ({int(entries):,})" if entries else f"{name.decode()} (from the first)"
        for name, _, entries, _ in _SPILLED.findall(child.stderr)
    )
    same = _comparable(child.stdout) == _comparable(unlimited)
    variant.limited.append(
        f"{step} --memory-limit {limit}: {'same answer' if same else 'DIFFERENT answer'}; "
        f"spilled: {spilled or 'nothing'}"
    )


def _comparable(stdout: bytes) -> bytes:
    document = json.loads(AGE.sub(b"(age) ago", stdout))
    if isinstance(document, dict):
        document.pop("phases", None)
        document.pop("seconds", None)
    return json.dumps(document, sort_keys=True).encode()


def measure(variants: list[Variant], cold: bool, rounds: int, limit: str | None = None) -> float:
    """Plan, du, the plan applied on disk, GC dry and real, on each variant's tree (changed
    for good). Step by step, the variants one after the other, so a change of the machine's
    load mid-run weighs on both alike; each round of plan (library) runs after a bare walk.
    Returns the best walk."""
    for v in variants:
        v.run("imports", [sys.executable, "-c", _IMPORTS_ONLY], cold)
        v.run("library imports", [sys.executable, "-c", _LIBRARY_IMPORTS], cold)
    runs: dict[str, list[tuple[float, Child]]] = {v.label: [] for v in variants}
    walks = []
    for _ in range(rounds):
        settle(cold)
        started = time.perf_counter()
        bare_walk(variants[0].root)
        walks.append(time.perf_counter() - started)
        for v in variants:
            settle(cold)
            child = run_child([sys.executable, "-c", _PLAN_LIBRARY, str(v.root)], v.src)
            seconds, deleted = child.stdout.split()
            runs[v.label].append((float(seconds), child))
            v.outputs["manifests the plan deletes"] = deleted.decode()
    for v in variants:
        v.library_seconds = min(seconds for seconds, _ in runs[v.label])
        peak = max(child.peak for _, child in runs[v.label])
        v.figures["plan (library)"] = Child(v.library_seconds, peak, b"")
    plans = {}
    for n, v in enumerate(variants):
        tree = str(v.root)
        argv = regsweep("plan", "--registry-dir", tree, *POLICY, "--output", "json")
        plan = v.run("plan", argv, cold)
        if limit and n == 0:
            run_limited(v, "plan", [*argv[:3], "-v", *argv[3:]], limit, plan.stdout, cold)
        plans[v.label] = json.loads(plan.stdout)
        v.outputs["plan actions"] = str(len(plans[v.label]["actions"]))
        v.outputs["plan JSON"] = keep(v, "plan.json", plan.stdout)
        masked = AGE.sub(b"(age) ago", plan.stdout)
        v.outputs["plan JSON, ages masked"] = hashlib.sha256(masked).hexdigest()
    for n, v in enumerate(variants):
        argv = regsweep("du", "--registry-dir", str(v.root), *POLICY, "--output", "json")
        du = v.run("du", argv, cold)
        if limit and n == 0:
            run_limited(v, "du", [*argv[:3], "-v", *argv[3:]], limit, du.stdout, cold)
        v.outputs["du JSON"] = keep(v, "du.json", du.stdout)
    for v in variants:
        apply_on_disk(v.root, plans[v.label])
    for step, extra in (("gc dry", ["--dry-run"]), ("gc", [])):
        for n, v in enumerate(variants):
            gc = ["gc", "--registry-dir", str(v.root), "--offline", "--no-restart"]
            child = v.run(step, regsweep(*gc, "--output", "json", *extra), cold)
            if limit and n == 0 and extra:
                limited = regsweep("-v", *gc, "--output", "json", *extra)
                run_limited(v, step, limited, limit, child.stdout, cold)
            report = json.loads(child.stdout)
            counts = {k: x for k, x in report.items() if k not in ("phases", "seconds")}
            counted = json.dumps(counts, sort_keys=True, indent=1).encode()
            v.outputs[f"{step} counts"] = keep(v, f"{step.replace(' ', '-')}.json", counted)
    for v in variants:
        left = "\n".join(sorted(blob_names(v.root))).encode()
        v.outputs["blobs left"] = keep(v, "blobs-left.txt", left)
    return min(walks)


def keep(variant: Variant, name: str, content: bytes) -> str:
    """Write an output beside the variant's tree, for a diff; return its sha256."""
    (variant.root.parent / f"{variant.root.name}-{name}").write_bytes(content)
    return hashlib.sha256(content).hexdigest()


def apply_on_disk(root: Path, plan: dict[str, list[dict[str, str]]]) -> None:
    """Apply the plan the way storage deletes do: a tag's folder goes, a manifest's revision
    link goes (its folder stays); what the plan frees is then garbage for the GC."""
    repositories = root / "docker" / "registry" / "v2" / "repositories"
    for action in plan["actions"]:
        manifests = repositories / action["repository"] / "_manifests"
        if action["action"] == "untag":
            shutil.rmtree(manifests / "tags" / action["tag"])
        else:
            (manifests / "revisions" / "sha256" / action["digest"][7:] / "link").unlink()


def blob_names(root: Path) -> list[str]:
    base = root / "docker" / "registry" / "v2" / "blobs" / "sha256"
    return [
        entry.name
        for prefix in os.scandir(base)
        for entry in os.scandir(prefix.path)
        if os.path.exists(os.path.join(entry.path, "data"))
    ]


def synthesise(root: Path, manifests: int) -> tuple[int, int, int, list[Sample]]:
    """(blobs, manifests, entries, samples) of a fresh tree at ``root``."""
    repositories = max(1, round(manifests / MANIFESTS_PER_REPOSITORY))
    stats = synthesize(root, repositories=repositories, **SHAPE)  # type: ignore[arg-type]
    return stats.blobs, stats.manifests, stats.files + stats.directories, stats.samples


def pristine_tree(work: Path, name: str) -> tuple[Path, int, int, int, list[Sample]]:
    """The untouched tree of size ``name`` in ``work`` and what it holds: synthesised once
    (at 1,000,000 blobs that takes minutes), then reused by every run given the same
    ``--work``, since each run changes only its own copies (:func:`copy_tree`)."""
    root, described = work / name / "pristine", work / name / "pristine.json"
    if described.exists():
        held = json.loads(described.read_text())
        samples = [Sample(**sample) for sample in held["samples"]]
        print(f"[{name}] reusing the tree synthesised in {root}", flush=True)
        return root, held["blobs"], held["manifests"], held["entries"], samples
    shutil.rmtree(root, ignore_errors=True)  # a synthesis stopped part way
    started = time.perf_counter()
    blobs, manifests, entries, samples = synthesise(root, SIZES[name][1])
    print(
        f"[{name}] synthesised {blobs:,} blobs, {manifests:,} manifests, {entries:,} entries "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    held = {"blobs": blobs, "manifests": manifests, "entries": entries}
    described.write_text(json.dumps({**held, "samples": [s._asdict() for s in samples]}))
    return root, blobs, manifests, entries, samples


def copy_tree(pristine: Path, root: Path) -> None:
    """``root`` made a copy of ``pristine`` of hard links (``cp -al``), in seconds where a
    synthesis takes minutes: the plan applied on disk and the GC only remove and rename
    files, and write only files of their own (the lock), so the pristine tree is left as
    it was."""
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run(["cp", "-al", str(pristine), str(root)], check=True)


def check_pulls(root: Path, samples: list[Sample], work: Path) -> int:
    """Pull a few sample tags with skopeo through the real registry serving ``root``."""
    picked = samples[:4] + samples[-1:]
    with serve_registry(root, work) as (host, _):
        for n, sample in enumerate(picked):
            pull(host, sample, work / f"pull-{n}")
    return len(picked)


def run_size(
    name: str,
    work: Path,
    src: Path | None,
    baseline: Path | None,
    cold: bool,
    rounds: int,
    limit: str | None,
) -> None:
    pristine, blobs, manifests, entries, samples = pristine_tree(work, name)
    ours = work / name / "regsweep"
    copy_tree(pristine, ours)
    pulled = check_pulls(ours, samples, work / name)
    print(f"[{name}] {pulled} sample tags pulled through the real registry", flush=True)
    variants = [Variant(f"src {src}" if src else "this checkout", ours, src)]
    if baseline is not None:
        theirs = work / name / "baseline"
        copy_tree(pristine, theirs)
        variants.append(Variant(f"baseline {baseline}", theirs, baseline))
    load = os.getloadavg()
    walk_seconds = measure(variants, cold, rounds, limit)
    report(name, blobs, manifests, entries, walk_seconds, variants, load)


def report(
    name: str,
    blobs: int,
    manifests: int,
    entries: int,
    walk_seconds: float,
    variants: list[Variant],
    load: tuple[float, float, float],
) -> None:
    mib = 2**20
    print(
        f"\n## {name}: {blobs:,} blobs, {manifests:,} manifests, {entries:,} entries; "
        f"bare walk {walk_seconds:.2f} s; load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
    )
    print(
        "| source | step | seconds | / walk | peak RSS MiB | above imports MiB "
        "| B/manifest | B/blob |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for variant in variants:
        for step, child in variant.figures.items():
            seconds = child.seconds
            base = variant.figures["library imports" if "library" in step else "imports"].peak
            above = max(0, child.peak - base)
            print(
                f"| {variant.label} | {step} | {seconds:.2f} | {seconds / walk_seconds:.2f}x "
                f"| {child.peak / mib:.1f} | {above / mib:.1f} | {above / manifests:.0f} "
                f"| {above / blobs:.0f} |"
            )
    print(
        "\n(plan (library): discover + plan seconds inside the child, best of the rounds, and "
        "the highest peak; the others: the child's wall, one run)"
    )
    for key in variants[0].outputs:
        hashes = [v.outputs[key] for v in variants]  # sha256 digests, or a count
        verdict = ("identical" if len(set(hashes)) == 1 else "DIFFERENT") if len(hashes) > 1 else ""
        print(f"{key}: {' '.join(h[:16] for h in hashes)} {verdict}")
    for line in variants[0].limited:
        print(line)
    if len(variants) == 2:
        ours, theirs = variants
        # the steps under --memory-limit run on this checkout only: the baseline may not
        # have the flag
        for step in [s for s in ours.figures if s in theirs.figures]:
            a, b = ours.figures[step], theirs.figures[step]
            ratio = a.seconds / b.seconds
            print(f"{step}: peak {a.peak / b.peak:.2f}x of baseline, time {ratio:.2f}x")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k", help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--work", type=Path, help="synthesise here (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="leave the trees behind")
    parser.add_argument("--baseline-src", type=Path, help="another checkout's src folder")
    parser.add_argument("--rounds", type=int, default=3, help="plan (library) runs, best kept")
    parser.add_argument(
        "--src", type=Path, help="the src folder measured (default: this checkout's)"
    )
    parser.add_argument(
        "--cold", action="store_true", help="drop the kernel's caches before each timed run (root)"
    )
    parser.add_argument(
        "--memory-limit", help="also run plan, du and gc --dry-run under this limit (64MiB)"
    )
    args = parser.parse_args()
    sizes = args.sizes.split(",")
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {', '.join(SIZES)}")
    work = args.work or Path(tempfile.mkdtemp(prefix="regsweep-bench-scale-"))
    try:
        print(f"{os.cpu_count()} CPUs; {'cold' if args.cold else 'warm'} cache", flush=True)
        for name in sizes:
            run_size(
                name, work, args.src, args.baseline_src, args.cold, args.rounds, args.memory_limit
            )
            if not args.keep:
                shutil.rmtree(work / name, ignore_errors=True)
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
