"""Pull store speed: events per second ``regsweep listen`` stores, and what ``pulled_within``
costs a 100k-tag plan.

1. The listener runs as its own process on loopback (as in production: ``regsweep listen``),
   with a fresh store; several client threads, each on one keep-alive connection as the
   registry holds one, post envelopes of 1 and of 10 pull events, each answered only once
   committed. Printed: events stored per second, the answer time (median, p99), and the
   baseline measured in the same run: durable commits per second on this disk (one fsync
   each), i.e. what a listener committing each request alone could at most store.
2. A 100k-tag inventory built in memory (1,000 repositories x 100 tags): the plan of the
   default policy, against the same policy with ``pulled_within: 30d`` over a store that
   recorded a pull for half the tags, each longer ago than 30 days, so that both plans
   decide the same and the difference is the rule's cost alone (reading the store,
   attaching it to the tags, planning). Printed: medians and their ratio.

    .venv/bin/python benchmarks/bench_pulls.py [--clients 8] [--posts 600] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from regsweep.core import mediatypes
from regsweep.core.model import Descriptor, Digest, Inventory, Manifest, Repository, Tag
from regsweep.core.pulls import Action, Event, Span, with_activity
from regsweep.plan.planner import build_plan
from regsweep.policy.rules import Policy
from regsweep.sources.events.listener import NotificationListener
from regsweep.state.pulls import PullStore

NOW = datetime.now(UTC)
DAY = timedelta(days=1)


def digest(text: str) -> Digest:
    return Digest("sha256:" + hashlib.sha256(text.encode()).hexdigest())


# -- 1. the listener ------------------------------------------------------------------------


def envelope(client: int, post: int, events: int) -> bytes:
    """An envelope of ``events`` manifest pulls by tag, pretty-printed as the registry does."""
    return json.dumps(
        {
            "events": [
                {
                    "id": secrets.token_hex(16),
                    "timestamp": datetime.now(UTC).isoformat(),
                    "action": "pull",
                    "target": {
                        "mediaType": mediatypes.OCI_MANIFEST,
                        "size": 585,
                        "digest": digest(f"{client}-{post}-{n}"),
                        "length": 585,
                        "repository": f"team/app-{client}",
                        "url": f"http://127.0.0.1:5000/v2/team/app-{client}/manifests/x",
                        "tag": f"t{events}-{post}-{n}",
                    },
                    "request": {"method": "GET", "useragent": "containerd/1.7.0"},
                    "actor": {},
                    "source": {"addr": "registry:5000"},
                }
                for n in range(events)
            ]
        },
        indent=3,
    ).encode()


def start_listener(work: Path, token: str) -> tuple[subprocess.Popen[bytes], str]:
    token_file = work / "token"
    token_file.write_text(token)
    log = (work / "listen.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "regsweep",
            "listen",
            "--address",
            "127.0.0.1:0",
            "--token-file",
            str(token_file),
            "--pulls-db",
            str(work / "pulls.sqlite"),
        ],
        stdout=log,
        stderr=log,
        env={**os.environ, "XDG_STATE_HOME": str(work / "state")},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"listening on (\S+/events)", (work / "listen.log").read_text())
        if found:
            return process, found.group(1)
        time.sleep(0.05)
    process.kill()
    raise RuntimeError((work / "listen.log").read_text())


def post_all(
    url: str, token: str, clients: int, posts: int, events: int
) -> tuple[float, list[float]]:
    """Every client posts ``posts`` envelopes on its own connection; (seconds, answer times)."""
    bodies = [[envelope(c, p, events) for p in range(posts)] for c in range(clients)]
    answers: list[float] = []
    lock = threading.Lock()
    go = threading.Barrier(clients + 1)

    where = urlsplit(url)

    def client(number: int) -> None:
        """The standard library's client: light enough that the listener, not the client
        threads sharing this process's interpreter, sets the pace."""
        timings = []
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        http = HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=30)
        go.wait()
        for body in bodies[number]:
            start = time.perf_counter()
            http.request("POST", where.path, body=body, headers=headers)
            answer = http.getresponse()
            answer.read()
            timings.append(time.perf_counter() - start)
            assert answer.status == 200, answer.status
        http.close()
        with lock:
            answers.extend(timings)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    go.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, answers


def fsync_commits_per_second(work: Path, commits: int = 300) -> float:
    """The baseline: durable one-row commits per second, as the store makes them."""
    with PullStore.create(work / "baseline.sqlite") as store:
        start = time.perf_counter()
        for n in range(commits):
            with store.transaction():
                store.record([Event(Action.PULL, "app", f"t{n}", NOW)], "baseline")
        return commits / (time.perf_counter() - start)


class _StoresNothing:
    """A sink that records nothing: the HTTP layer alone."""

    alive = True

    def submit(self, events: object) -> None:
        """Accept at once."""

    def refused(self) -> None:
        """Nothing to end."""


def http_layer_posts_per_second(clients: int, posts: int) -> float:
    """Baseline: the same endpoint in this process with a sink that stores nothing (it
    shares this interpreter with the clients, so it is a ceiling of the HTTP layer here,
    not of a listener process)."""
    server = NotificationListener(
        ("127.0.0.1", 0), _StoresNothing(), token="t", report=lambda _line: None
    )
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        seconds, _ = post_all(server.url, "t", clients, posts, 1)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
    return clients * posts / seconds


def bench_listener(work: Path, clients: int, posts: int) -> None:
    baseline = fsync_commits_per_second(work)
    print(f"baseline: {baseline:,.0f} durable commits/s on this disk (synchronous=FULL)")
    ceiling = http_layer_posts_per_second(clients, posts)
    print(f"baseline: {ceiling:,.0f} posts/s through the HTTP layer storing nothing (in-process)")
    token = secrets.token_hex(16)
    process, url = start_listener(work, token)
    try:
        httpx.post(url, content=envelope(999, 0, 1), headers={"Authorization": f"Bearer {token}"})
        for events in (1, 10):
            seconds, answers = post_all(url, token, clients, posts, events)
            stored = clients * posts * events
            rate = stored / seconds
            answers.sort()
            p99 = answers[int(len(answers) * 0.99)]
            print(
                f"listener, {clients} clients x {posts} posts of {events:>2} event(s): "
                f"{rate:>8,.0f} events/s stored ({clients * posts / seconds:,.0f} posts/s), "
                f"answer median {statistics.median(answers) * 1000:.1f} ms, "
                f"p99 {p99 * 1000:.1f} ms; {rate / baseline:.1f}x the durable commits/s, "
                f"{clients * posts / seconds / ceiling:.2f}x the HTTP layer's posts/s"
            )
    finally:
        process.terminate()
        process.wait(30)
    with sqlite3.connect(work / "pulls.sqlite") as db:
        rows = db.execute("SELECT count(*) FROM facts").fetchone()[0]
    expected = clients * posts * (1 + 10) + 1
    verdict = "all there" if rows == expected else "MISSING SOME"
    print(f"store holds {rows:,} facts, expected {expected:,}: {verdict}")


# -- 2. the planner -------------------------------------------------------------------------


def inventory(repositories: int, tags: int) -> Inventory:
    """Every tag its own image (config and one layer), pushed 40 to 139 days ago."""
    repos: dict[str, Repository] = {}
    manifests: dict[Digest, Manifest] = {}
    sizes: dict[Digest, int] = {}
    for r in range(repositories):
        name = f"team/app-{r}"
        tag_map, revisions = {}, {}
        for t in range(tags):
            d, config, layer = (digest(f"{name}:{t}:{part}") for part in ("m", "c", "l"))
            manifests[d] = Manifest(
                d,
                mediatypes.OCI_MANIFEST,
                500,
                config=Descriptor(mediatypes.OCI_CONFIG, config, 100),
                layers=(Descriptor("layer", layer, 1000),),
            )
            sizes.update({d: 500, config: 100, layer: 1000})
            pushed = NOW - (40 + t) * DAY
            tag_map[f"build-{t}"] = Tag(name, f"build-{t}", d, pushed)
            revisions[d] = pushed
        repos[name] = Repository(name, tag_map, revisions)
    return Inventory(repos, manifests, sizes)


def fill_store(path: Path, inv: Inventory) -> None:
    """A store that saw a year, with a pull of every other tag, 31 to 80 days ago."""
    events = [
        Event(Action.PULL, tag.repository, tag.name, NOW - (31 + n % 50) * DAY, tag.digest)
        for repo in inv.repositories.values()
        for n, tag in enumerate(repo.tags.values())
        if n % 2 == 0
    ]
    with PullStore.create(path) as store, store.transaction():
        store.record(events, "notifications")
        store.cover("notifications", Span(NOW - 365 * DAY, NOW))


def bench_planner(work: Path, rounds: int) -> None:
    inv = inventory(1000, 100)
    path = work / "plan-pulls.sqlite"
    fill_store(path, inv)
    plain, pulled = Policy(), Policy(pulled_within=30 * DAY)
    base_times, read_times, attach_times, plan_times = [], [], [], []
    deleted = (0, 0)
    for _ in range(rounds):
        start = time.perf_counter()
        base = build_plan(inv, plain, NOW)
        base_times.append(time.perf_counter() - start)

        start = time.perf_counter()
        with PullStore.open_existing(path) as store:
            history = store.history()
        read_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        attached = with_activity(inv, history, age_by_push=False)
        attach_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        with_rule = build_plan(attached, pulled, NOW)
        plan_times.append(time.perf_counter() - start)
        deleted = (base.summary.tags_to_delete, with_rule.summary.tags_to_delete)
    base_median = statistics.median(base_times)
    parts = {
        "read the store": statistics.median(read_times),
        "attach to the tags": statistics.median(attach_times),
        "plan with pulled_within": statistics.median(plan_times),
    }
    total = sum(parts.values())
    print(
        f"\nplan of {inv.tag_count:,} tags: default policy deletes {deleted[0]:,}, with "
        f"pulled_within 30d {deleted[1]:,} (half the tags pulled 31-80 days ago)"
    )
    runs = [round(t, 2) for t in base_times]
    print(f"{'plan, default policy (baseline)':<36}{base_median:>8.2f} s  runs {runs}")
    for label, seconds in parts.items():
        print(f"{label:<36}{seconds:>8.2f} s")
    print(
        f"ratio with pulled_within / without: {total / base_median:.2f}x (plan alone "
        f"{parts['plan with pulled_within'] / base_median:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--posts", type=int, default=600, help="envelopes per client and size")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="regsweep-bench-pulls-"))
    try:
        bench_listener(work, args.clients, args.posts)
        bench_planner(work, args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
