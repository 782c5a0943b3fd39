"""Deleting half the tags of a 200 x 25 registry: regsweep vs a plain one-by-one API loop.

Both contenders work on identical copies of one synthesised storage tree, each served by its
own real registry on 127.0.0.1, and delete the same tags:

- baseline: the seed's approach over the API, sequentially: for each expired tag, HEAD the
  manifest (all four Accept types) for its digest, then DELETE that digest;
- regsweep: the whole ``regsweep run --gc none`` command (discovery, plan, untag on storage,
  manifest deletes through the API with re-checks, journal, verify), as a subprocess.

Afterwards both registries must hold the same tags. Prints times and the ratio.

    .venv/bin/python benchmarks/bench_apply.py [--repositories 200] [--tags 25]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synth import synthesize
from regsweep.core.mediatypes import MANIFEST_ACCEPT
from regsweep.sources.storage.discovery import discover_storage
from regsweep.sources.storage.local import LocalStore
from tests.support.cli import clean_env
from tests.support.registry import RegistryServer

DAY = 86400


def tags_of(root: Path) -> set[str]:
    inventory = discover_storage(LocalStore(root))
    return {f"{r.name}:{t}" for r in inventory.repositories.values() for t in r.tags}


def baseline(registry: RegistryServer, expired: list[tuple[str, str]]) -> float:
    start = time.perf_counter()
    with httpx.Client(base_url=registry.url, trust_env=False, timeout=60) as client:
        for repo, tag in expired:
            head = client.head(f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT})
            if head.status_code == 404:
                continue  # its digest was deleted with another tag already
            digest = head.headers["Docker-Content-Digest"]
            client.delete(f"/v2/{repo}/manifests/{digest}").raise_for_status()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=200)
    parser.add_argument("--tags", type=int, default=25)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="regsweep-bench-apply-"))
    try:
        ours = RegistryServer.create(work / "regsweep")
        theirs = RegistryServer.create(work / "baseline")
        shutil.rmtree(ours.root)
        stats = synthesize(
            ours.root,
            repositories=args.repositories,
            tags_per_repository=args.tags,
            age_spread_days=90,
        )
        shutil.rmtree(theirs.root)
        shutil.copytree(ours.root, theirs.root, symlinks=True)
        print(f"synthesised {stats.repositories} repositories, {stats.tags} tags")
        # Expire every tag older than 45 days, except latest (its digest is kept anyway);
        # tags sharing a digest with a kept tag are left out of the baseline's list, since a
        # digest DELETE would take the kept tag with it.
        policy = ["--max-age", "45d", "--exclude-tags", "^latest$", "--untagged-grace", "0"]
        env = clean_env(work)
        ours.start()
        theirs.start()
        try:
            plan = json.loads(
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "regsweep",
                        "plan",
                        "--registry-dir",
                        str(ours.root),
                        *policy,
                        "--output",
                        "json",
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            deleted = {
                (a["repository"], a["digest"])
                for a in plan["actions"]
                if a["action"] == "delete_manifest"
            }
            expired = [
                (a["repository"], a["tag"])
                for a in plan["actions"]
                if a["action"] == "untag" and (a["repository"], a["digest"]) in deleted
            ]
            print(
                f"plan: untag {plan['summary']['tags_to_delete']} of {plan['summary']['tags']} "
                f"tags, delete {plan['summary']['manifests_to_delete']} manifests; the baseline "
                f"deletes the {len(expired)} expired tags whose manifest goes"
            )
            loop = baseline(theirs, expired)
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "regsweep",
                    "run",
                    "--registry-dir",
                    str(ours.root),
                    "--registry-url",
                    ours.url,
                    "--gc",
                    "none",
                    "--journal",
                    str(work / "journal.jsonl"),
                    *policy,
                    "--output",
                    "json",
                    "--force",  # about half the tags go: the 50% brake would stop the run
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            sweep = time.perf_counter() - start
        finally:
            ours.stop()
            theirs.stop()
        ours_left, theirs_left = tags_of(ours.root), tags_of(theirs.root)
        print(f"{'contender':<44}{'seconds':>9}")
        print(f"{'plain loop: HEAD + DELETE per tag, sequential':<44}{loop:>9.2f}")
        print(f"{'regsweep run --gc none (whole command)':<44}{sweep:>9.2f}")
        print(f"ratio baseline / regsweep: {loop / sweep:.1f}x")
        print(f"tags left: regsweep {len(ours_left)}, loop {len(theirs_left)}")
        print(f"  kept by regsweep but deleted by the loop: {len(ours_left - theirs_left)}")
        print(
            f"  untagged by regsweep only (they share a digest with a kept tag, which a "
            f"digest DELETE would take along): {len(theirs_left - ours_left)}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
