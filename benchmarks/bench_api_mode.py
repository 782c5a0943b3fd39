"""API mode side by side: ``regsweep run --registry-url`` against the popular scripts' way.

Both clean identical copies of one registry (distribution 2.8.2 on 127.0.0.1, synthesised:
R repositories of T single-arch tags ``build-1``... plus ``latest`` on the newest build),
keeping ``latest`` and the ``--keep`` newest builds of each repository:

- regsweep: ``python -m regsweep run --registry-url URL --exclude-tags '^latest$'
  --keep-last KEEP+1 --pushed-within 0`` (``latest`` is one of the KEEP+1 most recent);
- the baseline, a minimal client written here as the popular cleanup scripts work: list
  the repositories and their tags, HEAD each tag for its digest, rank tags by their build
  number, DELETE the digests of the expired ones that no kept tag shares, waiting for each
  answer in turn.

Each round copies the pristine tree, serves it with a registry of its own, runs one
client (the order alternates from round to round) and then checks that exactly the same
tags are left; after the last round of each client and latency, every kept tag is pulled
(``skopeo sync`` of each repository; ``--pull-every-round`` after every round). Requests
are counted by kind from the registry's own access log, and regsweep's count (its JSON
report) must agree with it. Each client's CPU seconds (user + system, its start included)
are printed beside its wall time, per request too: on loopback, where the client and the
registry share the machine's cores, that is what the wall time follows, and it moves far
less than wall time with what else runs on the machine. regsweep's requests are also set
beside the floor its budget states (``regsweep.sources.api.budget``), computed here from
the tree itself.

``--latency-ms 20`` puts a relay that delays every request by that much in front of the
registry (``benchmarks/delay_proxy.py``), as a registry across a WAN would be.

    .venv/bin/python benchmarks/bench_api_mode.py [--repositories 200] [--tags 25]
        [--keep 4] [--rounds 3] [--latency-ms 0 20]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.delay_proxy import delayed
from benchmarks.synth import serve_registry, synthesize
from regsweep.core.mediatypes import MANIFEST_ACCEPT
from regsweep.sources.api.budget import RequestKind, request_kind

#: A combined-log line of the registry's access log: method, path, status.
_ACCESS = re.compile(r'"(GET|HEAD|DELETE|PUT|POST|PATCH) (\S+) HTTP/[\d.]+" (\d{3}) ')
_BUILD = re.compile(r"build-(\d+)")
REPOSITORIES = Path("docker/registry/v2/repositories")
BLOBS = Path("docker/registry/v2/blobs/sha256")
CLIENTS = ("baseline", "regsweep")


# --------------------------------------------------------------------------- the baseline


def baseline(url: str, keep: int) -> dict[str, object]:
    """List, HEAD each tag, DELETE the expired digests: one request at a time."""
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=60) as http:

        def send(method: str, path: str, **kwargs: object) -> httpx.Response:
            counts[request_kind(method, path).value] += 1
            return http.request(method, path, **kwargs)  # type: ignore[arg-type]

        repositories = send("GET", "/v2/_catalog", params={"n": "1000"}).json()["repositories"]
        for repository in repositories:
            tags = send("GET", f"/v2/{repository}/tags/list").json()["tags"] or []
            digests = {
                tag: send(
                    "HEAD", f"/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT}
                ).headers["Docker-Content-Digest"]
                for tag in tags
            }
            kept = kept_tags(tags, keep)
            spared = {digests[tag] for tag in kept}
            for digest in sorted({digests[t] for t in tags if t not in kept} - spared):
                send("DELETE", f"/v2/{repository}/manifests/{digest}")
    return {"requests": dict(counts), "seconds": time.perf_counter() - started}


def kept_tags(tags: list[str], keep: int) -> set[str]:
    """``latest`` and the ``keep`` highest build numbers."""
    builds = sorted((int(m.group(1)), tag) for tag in tags if (m := _BUILD.fullmatch(tag)))
    return {"latest", *(tag for _, tag in builds[-keep:])} & set(tags)


# --------------------------------------------------------------------------- the registry


@dataclass
class Tree:
    """What the pristine tree holds, read from storage: enough to state the floor."""

    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # repo -> tag -> digest
    manifests: dict[str, dict[str, object]] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path) -> Tree:
        tree = cls()
        base = root / REPOSITORIES
        for tags_dir in sorted(base.glob("**/_manifests/tags")):
            name = str(tags_dir.parent.parent.relative_to(base))
            tree.tags[name] = {
                t.name: (t / "current/link").read_text() for t in sorted(tags_dir.iterdir())
            }
        for digests in tree.tags.values():
            for digest in digests.values():
                hexd = digest.removeprefix("sha256:")
                tree.manifests[digest] = json.loads(
                    (root / BLOBS / hexd[:2] / hexd / "data").read_bytes()
                )
        return tree

    def blobs(self, digest: str) -> list[str]:
        manifest = self.manifests[digest]
        config = manifest["config"]
        layers = manifest["layers"]
        assert isinstance(config, dict) and isinstance(layers, list)
        return [config["digest"], *(layer["digest"] for layer in layers)]

    def annotated(self, digest: str) -> bool:
        annotations = self.manifests[digest].get("annotations") or {}
        assert isinstance(annotations, dict)
        return "org.opencontainers.image.created" in annotations

    def expected(self, keep: int) -> dict[str, set[str]]:
        return {repo: kept_tags(list(tags), keep) for repo, tags in self.tags.items()}

    def floor(self, keep: int) -> Counter[str]:
        """regsweep's floor as its budget states it, for this tree and policy."""
        k = RequestKind
        floor: Counter[str] = Counter()
        floor[k.OTHER] += 3  # GET /v2/ for discovery, the pre-flight check, verification
        floor[k.CATALOG] += math.ceil(len(self.tags) / 1000)
        floor[k.REFERRERS] += 1  # distribution 2.8 has no referrers API: asked once
        floor[k.DELETE] += 1  # the probe that deletes are enabled
        # the untag method's probe on distribution 2.x: DELETE probe, POST + PUT of the
        # throw-away config, two PUTs of the throw-away manifest, a refused tag DELETE,
        # the DELETEs of the manifest and of its config
        floor[k.DELETE] += 4
        floor[k.OTHER] += 1
        floor[k.PUT] += 3
        configs = {
            self.blobs(d)[0]
            for tags in self.tags.values()
            for d in tags.values()
            if not self.annotated(d)
        }  # keep-last ranks every tag: every age is needed
        floor[k.BLOB_GET] += len(configs)
        for tags in self.tags.values():
            kept = kept_tags(list(tags), keep)
            doomed = {tags[t] for t in tags if t not in kept} - {tags[t] for t in kept}
            floor[k.TAGS_LIST] += 1  # discovery
            floor[k.MANIFEST_GET] += len(tags)  # discovery
            if doomed:
                floor[k.TAGS_LIST] += 2  # apply's re-check, verification
                floor[k.MANIFEST_HEAD] += len(tags)  # apply's re-check
                floor[k.DELETE] += len(doomed)
                floor[k.MANIFEST_HEAD] += len(kept)  # verification (no collection: no blob)
        return floor


def tags_left(root: Path) -> dict[str, set[str]]:
    base = root / REPOSITORIES
    return {
        str(d.parent.parent.relative_to(base)): {
            t.name for t in d.iterdir() if (t / "current/link").exists()
        }
        for d in sorted(base.glob("**/_manifests/tags"))
    }


def access_counts(log: Path, start: int, end: int) -> Counter[str]:
    with log.open("rb") as f:
        f.seek(start)
        text = f.read(end - start).decode(errors="replace")
    return Counter(request_kind(m[1], m[2].split("?")[0]).value for m in _ACCESS.finditer(text))


def pulls(host: str, repositories: list[str], scratch: Path) -> int:
    """``skopeo sync`` every repository (every tag in it); the number of tags pulled."""

    def sync(repository: str) -> int:
        out = scratch / "pulls" / repository.replace("/", "_")
        out.mkdir(parents=True)
        done = subprocess.run(
            [
                "skopeo", "--insecure-policy", "sync", "--all", "--src", "docker",
                "--dest", "dir", "--src-tls-verify=false", f"{host}/{repository}", str(out),
            ],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"{repository} does not pull: {done.stderr[-2000:]}")
        return sum(1 for _ in out.glob("**/manifest.json"))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return sum(pool.map(sync, repositories))


# --------------------------------------------------------------------------- one round


@dataclass
class Round:
    client: str
    latency_ms: float
    seconds: float
    requests: Counter[str]
    reported: Counter[str]
    #: the client process's CPU seconds (user + system), its start included: far less
    #: moved than wall time by what else runs on the machine
    cpu: float


def run_round(
    client: str,
    pristine: Path,
    scratch: Path,
    keep: int,
    latency_ms: float,
    expected: dict[str, set[str]],
    *,
    pull: bool,
) -> Round:
    work = scratch / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(scratch / "pulls", ignore_errors=True)
    subprocess.run(["cp", "-a", str(pristine), str(work)], check=True)
    served = scratch / "served"
    shutil.rmtree(served, ignore_errors=True)
    served.mkdir()
    log = served / "registry.log"
    with serve_registry(work, served) as (host, _config):
        with delayed(host, latency_ms) if latency_ms else _direct(host) as target:
            start_offset = log.stat().st_size
            started = time.perf_counter()
            reported, cpu = _run_client(client, f"http://{target}", keep, scratch)
            seconds = time.perf_counter() - started
            time.sleep(0.2)  # the access log is written as each answer goes out
            requests = access_counts(log, start_offset, log.stat().st_size)
        left = tags_left(work)
        if left != expected:
            wrong = sorted(r for r in expected if left.get(r) != expected[r])
            raise SystemExit(f"{client} left other tags than expected in {wrong[:5]}")
        pulled = pulls(host, sorted(left), scratch) if pull else None
        if pulled is not None and pulled != sum(len(t) for t in left.values()):
            raise SystemExit(
                f"after {client}: {pulled} tags pulled of {sum(map(len, left.values()))}"
            )
    return Round(client, latency_ms, seconds, requests, reported, cpu)


class _direct:
    def __init__(self, host: str) -> None:
        self.host = host

    def __enter__(self) -> str:
        return self.host

    def __exit__(self, *exc: object) -> None:
        return None


def _run_client(client: str, url: str, keep: int, scratch: Path) -> tuple[Counter[str], float]:
    """Run one client; what it says it sent, and its CPU seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env["XDG_STATE_HOME"] = str(scratch / "state")
    if client == "baseline":
        command = [sys.executable, __file__, "--baseline", url, "--keep", str(keep)]
    else:
        command = [
            sys.executable, "-m", "regsweep", "run", "--registry-url", url,
            "--exclude-tags", "^latest$", "--keep-last", str(keep + 1), "--pushed-within", "0",
            "--force", "--output", "json", "--journal", str(scratch / "journal.jsonl"),
        ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"{client} exited {done.returncode}: {done.stderr[-3000:]}")
    report = json.loads(done.stdout)
    if client == "baseline":
        return Counter(report["requests"]), cpu
    total = report["requests"]["total"]
    return Counter({k.value: total[k.value] for k in RequestKind if total[k.value]}), cpu


# --------------------------------------------------------------------------- the report


def show(rounds: list[Round], floor: Counter[str], latency_ms: float) -> None:
    mine = [r for r in rounds if r.latency_ms == latency_ms]
    print(f"\n-- {'loopback' if not latency_ms else f'{latency_ms:g} ms added to every request'}")
    kinds = [k.value for k in RequestKind]
    header = (
        f"{'':<10}{'wall s (each round)':<34}{'median':>8}{'requests':>10}{'req/s':>8}"
        f"{'cpu s (each round)':>24}{'cpu ms/req':>12}"
    )
    print(header)
    medians: dict[str, float] = {}
    for client in CLIENTS:
        runs = [r for r in mine if r.client == client]
        medians[client] = statistics.median(r.seconds for r in runs)
        requests = runs[-1].requests
        each = " ".join(f"{r.seconds:.1f}" for r in runs)
        total = sum(requests.values())
        cpus = " ".join(f"{r.cpu:.1f}" for r in runs)
        cpu = statistics.median(r.cpu for r in runs)
        print(
            f"{client:<10}{each:<34}{medians[client]:>8.1f}{total:>10}"
            f"{total / medians[client]:>8.0f}{cpus:>24}{1000 * cpu / total:>12.2f}"
        )
    print(f"{'kind':<16}{'baseline':>10}{'regsweep':>10}{'floor':>10}")
    last = {c: [r for r in mine if r.client == c][-1].requests for c in CLIENTS}
    for kind in kinds:
        if any(last[c][kind] for c in CLIENTS) or floor[kind]:
            print(
                f"{kind:<16}{last['baseline'][kind]:>10}{last['regsweep'][kind]:>10}{floor[kind]:>10}"
            )
    ours = sum(last["regsweep"].values())
    print(
        f"regsweep / floor: {ours / sum(floor.values()):.3f} requests; "
        f"regsweep / baseline: {medians['regsweep'] / medians['baseline']:.2f} wall time "
        f"({medians['baseline'] / medians['regsweep']:.2f}x the baseline's speed)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=200)
    parser.add_argument("--tags", type=int, default=25)
    parser.add_argument("--keep", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 20.0])
    parser.add_argument("--pull-every-round", action="store_true")
    parser.add_argument("--baseline", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        print(json.dumps(baseline(args.baseline, args.keep)))
        return
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-api-mode-") as scratch_dir:
        scratch = Path(scratch_dir)
        pristine = scratch / "pristine"
        stats = synthesize(
            pristine,
            repositories=args.repositories,
            tags_per_repository=args.tags,
            uniform=True,
            seed=0,
            now=time.time(),
        )
        tree = Tree.read(pristine)
        floor = tree.floor(args.keep)
        expected = tree.expected(args.keep)
        print(
            f"registry: {stats.repositories} repositories, {stats.tags} tags, "
            f"{stats.manifests} manifests; keep latest and the {args.keep} newest builds"
        )
        rounds: list[Round] = []
        for latency in args.latency_ms:
            for n in range(args.rounds):
                order = CLIENTS if n % 2 == 0 else CLIENTS[::-1]
                for client in order:
                    pull = args.pull_every_round or n == args.rounds - 1
                    done = run_round(
                        client, pristine, scratch, args.keep, latency, expected, pull=pull
                    )
                    if client == "regsweep" and done.reported != done.requests:
                        raise SystemExit(
                            f"regsweep counted {dict(done.reported)}, the registry logged "
                            f"{dict(done.requests)}"
                        )
                    rounds.append(done)
                    print(
                        f"round {n + 1} {client:<9} {latency:g} ms: {done.seconds:6.1f} s, "
                        f"{sum(done.requests.values())} requests, {done.cpu:.1f} s of CPU "
                        f"({1000 * done.cpu / sum(done.requests.values()):.2f} ms a request)"
                        + (", every kept tag pulled" if pull else ""),
                        flush=True,
                    )
            show(rounds, floor, latency)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
