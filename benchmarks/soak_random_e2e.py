"""Run the randomized end-to-end property test long, and print its figures.

    python -m benchmarks.soak_random_e2e [--examples 300] [--faults]

Runs tests/integration/test_random_e2e.py with ``--examples`` random registries and
policies (storage mode with the registry's GC, with regsweep's own collector, and API mode;
some with one kind of damage written into one repository), then prints how many examples
ran, the actions applied, the pulls skopeo verified, the blobs freed, the defects injected
and the repositories skipped for them, and the failures. ``--faults`` also runs the long
profile of tests/integration/test_faults.py (ten fault schedules per mode, twelve kill
points per collector mode).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--faults", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="soak-e2e-") as scratch:
        stats = Path(scratch) / "stats.jsonl"
        env = dict(
            os.environ,
            REGSWEEP_HYPOTHESIS_PROFILE="long",
            REGSWEEP_E2E_EXAMPLES=str(args.examples),
            REGSWEEP_E2E_STATS=str(stats),
        )
        started = time.monotonic()
        tests = ["tests/integration/test_random_e2e.py"]
        if args.faults:
            tests.append("tests/integration/test_faults.py")
        done = subprocess.run(
            [sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider", "-s"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.monotonic() - started
        rows = (
            [json.loads(line) for line in stats.read_text().splitlines()] if stats.exists() else []
        )
    log = ROOT / "bench-out" / "soak_random_e2e.log"
    log.parent.mkdir(exist_ok=True)
    log.write_text(done.stdout + done.stderr)
    print(f"{done.stdout.splitlines()[-1] if done.stdout else 'no output'} (full output: {log})")
    modes = ", ".join(f"{m} {n}" for m, n in sorted(Counter(r["mode"] for r in rows).items()))
    print(f"random end-to-end examples: {len(rows)} ({modes})")
    for key in ("manifests", "tags", "untags", "manifest_deletes", "pulls", "blobs_freed"):
        print(f"  {key}: {sum(row.get(key, 0) for row in rows)}")
    defects = Counter(row["defect"] for row in rows if row.get("defect"))
    print(
        f"defects injected: {sum(defects.values())} ("
        + ", ".join(f"{kind} {n}" for kind, n in sorted(defects.items()))
        + ")"
    )
    print(f"  repositories skipped: {sum(row.get('skipped', 0) for row in rows)}")
    print(
        f"  tags broken by the damage itself: {sum(row.get('broken_by_damage', 0) for row in rows)}"
    )
    # every example pulls its kept tags with skopeo and fails on the first that does not
    print(f"  kept tags broken by regsweep: {'0' if done.returncode == 0 else 'see the failure'}")
    # pytest's progress dots come first on the line: ".FAULTS api harsh 3 ..."
    faults = [line.lstrip(".") for line in done.stdout.splitlines()]
    faults = [line for line in faults if line.startswith(("FAULTS", "KILLED"))]
    if faults:
        runs = [
            int(line.split(": ")[1].split(" runs")[0])
            for line in faults
            if line.startswith("FAULTS")
        ]
        print(
            f"fault schedules: {len(runs)}, runs needed: {sum(runs)} (max {max(runs, default=0)})"
        )
        print(f"collectors killed: {sum(1 for line in faults if 'exit -9' in line)}")
    print(f"failures: {0 if done.returncode == 0 else 'see above'}; {seconds:.0f} s in all")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
