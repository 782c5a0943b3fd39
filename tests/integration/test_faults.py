"""Faults between regsweep and the registry, and collectors killed part way.

A fault-injecting proxy (tests/support/fault_proxy.py) sits between regsweep and the real
registry: resets, timeouts, error answers with and without the work done, 429/503 with
``Retry-After``, truncated bodies. regsweep runs through it until a run succeeds; the end
state must then equal that of an undisturbed run on an identical copy, every tag left must
pull with skopeo (straight from the registry), and the journals must account for every
deletion. Then ``regsweep gc`` is killed (SIGKILL) at points of its work and run again:
the tree must end as after an undisturbed collection, verified and pulling.
``REGSWEEP_HYPOTHESIS_PROFILE=long`` runs many more schedules and kill points.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.bench_gc import delete_manifests
from benchmarks.synth import Sample, synthesize
from regsweep.apply.untag import Untagger, UntagMethod
from regsweep.core.errors import RegistryAPIError
from regsweep.core.model import Digest
from regsweep.sources.api.client import RegistryClient
from regsweep.state.lock import LOCK
from tests.conftest import RegistryFactory
from tests.support.cli import clean_env, local_gc, regsweep
from tests.support.fault_proxy import FaultProxy, FaultSchedule
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls
from tests.support.storage import (
    registry_state,
    set_manifest_time,
    set_push_time,
    tag_exists,
)

OLD_BUILD = "2020-03-01T00:00:00Z"
OLD_PUSH = time.time() - 90 * 86400
#: gentle: every request gets through within its retries (a request is tried 5 times);
#: harsh and hostile: some run out of them, so runs fail part way and are run again.
#: Hostile is for storage mode, which sends the registry only its manifest deletes.
SCHEDULES = {
    "gentle": {"rate": 0.15, "max_in_row": 2},
    "harsh": {"rate": 0.3, "max_in_row": 6},
    "hostile": {"rate": 0.7, "max_in_row": 6},
}
#: The CI runs one schedule per mode; ``REGSWEEP_HYPOTHESIS_PROFILE=long`` runs two per
#: mode on ten seeds (``REGSWEEP_FAULT_SEEDS=1,2,...`` chooses the seeds).
LONG = os.environ.get("REGSWEEP_HYPOTHESIS_PROFILE") == "long"
SEEDS = [
    int(s)
    for s in os.environ.get("REGSWEEP_FAULT_SEEDS", "1,2,3,4,5,6,7,8,9,10" if LONG else "1").split(
        ","
    )
]
COMBINATIONS = [
    (mode, schedule, seed)
    for mode, schedules in (("storage", ("hostile", "gentle")), ("api", ("gentle", "harsh")))
    for schedule in (schedules if LONG else schedules[:1])
    for seed in SEEDS
]
MAX_RUNS = 8
PING_FAILED = r"regsweep: error: (no answer from|cannot connect to|http://\S+: GET /v2/ answered)"


def populate(pusher: Pusher, root: Path) -> None:
    """A registry both modes clean alike: what is old is old by push time (storage) and by
    build time (API). A kept version tag shares its digest with an expired tag (untagged
    over the API with a throw-away manifest), an expired multi-arch index, a kept one, and
    an expired image with its cosign signature."""

    def push(repo: str, tag: str | None, *, old: bool, **kw: object) -> str:
        image = pusher.push_image(repo, tag, created=OLD_BUILD if old else "now", **kw)  # type: ignore[arg-type]
        if old:
            set_manifest_time(root, repo, image.digest, OLD_PUSH)
            if tag is not None:
                set_push_time(root, repo, tag, OLD_PUSH)
        return image.digest

    push("app", "latest", old=False)
    push("app", "feature-1", old=True)
    push("app", "feature-2", old=True)
    release = pusher.push_image("app", "1.0.0", created=OLD_BUILD)
    pusher.tag("app", "feature-old", release)
    set_manifest_time(root, "app", release.digest, OLD_PUSH)
    for tag in ("1.0.0", "feature-old"):
        set_push_time(root, "app", tag, OLD_PUSH)
    for tag in ("pr-7", "2.0.0"):
        children = [
            pusher.push_image("multi", None, oci=True, created=OLD_BUILD, platform=platform)
            for platform in (("linux", "amd64"), ("linux", "arm64", "v8"))
        ]
        index = pusher.push_index("multi", tag, children)
        for manifest in (index, *children):
            set_manifest_time(root, "multi", manifest.digest, OLD_PUSH)
        set_push_time(root, "multi", tag, OLD_PUSH)
    push("team/svc", "main", old=False)
    doomed = pusher.push_image("team/svc", "feature-x", created=OLD_BUILD)
    signature = pusher.push_image(
        "team/svc", f"sha256-{doomed.digest[7:]}.sig", oci=True, created=OLD_BUILD
    )
    for image in (doomed, signature):
        set_manifest_time(root, "team/svc", image.digest, OLD_PUSH)
        set_push_time(root, "team/svc", image.tag or "", OLD_PUSH)


def twin(registry_factory: RegistryFactory, original: RegistryServer) -> RegistryServer:
    """A started registry on a byte-for-byte copy of ``original``'s storage."""
    copy = registry_factory(start=False)
    shutil.rmtree(copy.root)
    shutil.copytree(original.root, copy.root, symlinks=True)
    copy.start()
    return copy


def journal_records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def done_targets(records: list[dict[str, object]]) -> set[str]:
    return {
        str(r["target"])
        for r in records
        if r["event"] == "action" and r["outcome"] in ("deleted", "already_gone")
    }


@pytest.mark.parametrize(("mode", "schedule", "seed"), COMBINATIONS)
def test_runs_through_faults_end_like_an_undisturbed_run(
    registry_factory: RegistryFactory, tmp_path: Path, mode: str, schedule: str, seed: int
) -> None:
    registry = registry_factory()
    with Pusher(registry.url) as pusher:
        populate(pusher, registry.root)
    reference = twin(registry_factory, registry)
    env = clean_env(tmp_path, {"REGISTRY_TIMEOUT": "1"})

    def args(target: RegistryServer, url: str, journal: Path) -> list[str]:
        common = ["run", "--force", "--journal", str(journal), "--registry-url", url]
        if mode == "api":
            return common
        return [*common, "--registry-dir", str(target.root), *local_gc(target)]

    undisturbed = regsweep(*args(reference, reference.url, tmp_path / "ref.jsonl"), env=env)
    assert undisturbed.returncode == 0, undisturbed.stderr
    expected = done_targets(journal_records(tmp_path / "ref.jsonl"))
    assert expected  # the scenario deletes something in both modes

    faults = FaultSchedule(seed=seed, stall=1.2, first="503", **SCHEDULES[schedule])  # type: ignore[arg-type]
    journals: list[Path] = []
    retried: list[str] = []
    with FaultProxy(registry.url, faults) as proxy:
        for attempt in range(MAX_RUNS):
            journals.append(tmp_path / f"faulty-{attempt}.jsonl")
            before = registry_state(registry.root)
            run = regsweep(*args(registry, proxy.url, journals[-1]), env=env)
            assert "Traceback" not in run.stderr, run.stderr
            assert "stamina.retry_scheduled" not in run.stderr  # retries say what they retry
            retried.extend(x for x in run.stderr.splitlines() if "retrying" in x)
            records = journal_records(journals[-1])
            if run.returncode == 0:
                break
            if run.returncode == 2:  # the registry failed its ping: "unreachable"
                assert re.search(PING_FAILED, run.stderr), run.stderr
                assert registry_state(registry.root) == before  # so nothing was deleted
                assert not records or records[-1]["event"] == "end", records
                continue
            assert run.returncode == 1, run.stderr
            if records:  # stopped while applying: the journal says where and why
                assert records[-1]["event"] == "end", (run.stderr, records[-3:])
                assert records[-1]["failed"] is True
                failed = [r for r in records if r.get("outcome") == "failed"]
                assert all(r["detail"] for r in failed), failed
        else:
            pytest.fail(f"no run got through {MAX_RUNS} attempts: {proxy.faults()}")
        injected = proxy.faults()
    assert sum(injected.values()) > 0
    print(f"FAULTS {mode} {schedule} {seed}: {len(journals)} runs, {dict(injected)}")
    assert retried or mode == "storage", injected

    if mode == "api":  # collect the garbage the API deletes left, as in storage mode
        for target in (registry, reference):
            target.garbage_collect()
    assert registry_state(registry.root) == registry_state(reference.root), injected
    # every deletion of the undisturbed run was attempted and journalled; a deletion the
    # registry did while its answer was lost is journalled failed, and the next run
    # (which no longer sees the manifest) has nothing to add
    records = [r for path in journals for r in journal_records(path)]
    attempted = {str(r["target"]) for r in records if r["event"] == "action"}
    assert done_targets(records) <= expected <= attempted
    assert not [r for r in records if r.get("outcome") == "skipped"]
    registry.restart()
    tags, _, _ = registry_state(registry.root)
    for entry in sorted(tags):
        repo, _, rest = entry.partition(":")
        assert_pulls(registry.host, repo, rest.split("@")[0], tmp_path / "pulls")


class _DeletesFail(RegistryClient):
    """A registry that accepts the throw-away PUT and then fails every DELETE."""

    async def delete_manifest(self, repository: str, digest: Digest) -> bool:
        raise RegistryAPIError("DELETE: registry answered 500", status=500)


def test_a_throwaway_left_by_an_interrupted_untag_is_removed_by_the_next_run(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """Regression: when the DELETE after the throw-away PUT failed, the tag was left on the
    throw-away, dated now: the next run kept it for the whole retention period."""
    release = pusher.push_image("app", "1.0.0", created=OLD_BUILD)
    pusher.tag("app", "feature-old", release)

    async def interrupted() -> None:
        async with _DeletesFail(registry.url) as client:
            untagger = Untagger(client, UntagMethod.THROWAWAY)
            await untagger.untag("app", "feature-old", Digest(release.digest))

    with pytest.raises(RegistryAPIError):
        asyncio.run(interrupted())
    assert tag_exists(registry.root, "app", "feature-old")  # now on the throw-away

    again = regsweep("run", "--registry-url", registry.url, env=clean_env(tmp_path))

    assert again.returncode == 0, again.stderr
    assert not tag_exists(registry.root, "app", "feature-old")
    assert_pulls(registry.host, "app", "1.0.0", tmp_path / "pulls")


def test_an_upload_whose_answer_was_lost_counts_as_done(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """Regression: the registry completed the upload of the throw-away's config but the
    answer was lost; the retried PUT found the upload gone (404 BLOB_UPLOAD_UNKNOWN), read
    as "accepts no throw-away", and tags sharing a kept digest were skipped, exit 0."""
    faults = FaultSchedule(
        seed=0, rate=1.0, kinds=("reset_after",), max_in_row=1, methods=frozenset({"PUT"})
    )
    done, injected = _untag_shared_digest_through(registry, pusher, faults, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["apply"]["skipped"] == 0
    assert not tag_exists(registry.root, "app", "feature-old")
    assert injected["reset_after"] >= 3  # the upload's PUT and both probe tags' PUTs
    assert_pulls(registry.host, "app", "1.0.0", tmp_path / "pulls")


def test_a_transient_error_while_probing_how_to_untag_fails_the_run_instead_of_skipping(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """Regression: a 500 on the probe's upload was read as "this registry accepts no
    throw-away manifest", and tags sharing a kept digest were skipped, exit 0."""
    faults = FaultSchedule(
        seed=0, rate=1.0, kinds=("500",), max_in_row=1, methods=frozenset({"POST"})
    )
    first, _ = _untag_shared_digest_through(registry, pusher, faults, tmp_path)
    assert first.returncode == 1, first.stderr
    assert json.loads(first.stdout)["apply"]["skipped"] == 0

    again = regsweep("run", "--registry-url", registry.url, "--force", env=clean_env(tmp_path))
    assert again.returncode == 0, again.stderr
    assert not tag_exists(registry.root, "app", "feature-old")


def _untag_shared_digest_through(
    registry: RegistryServer, pusher: Pusher, faults: FaultSchedule, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], Counter[str]]:
    """Push a release tagged ``1.0.0`` (kept) and ``feature-old`` (to go: an untag of a
    digest that stays), and run regsweep through a proxy injecting ``faults``."""
    release = pusher.push_image("app", "1.0.0", created=OLD_BUILD)
    pusher.tag("app", "feature-old", release)
    with FaultProxy(registry.url, faults) as proxy:
        done = regsweep(
            "run",
            "--registry-url",
            proxy.url,
            "--force",
            "--output",
            "json",
            env=clean_env(tmp_path),
        )
        return done, proxy.faults()


# -- the collector killed part way ----------------------------------------------------------

#: Seconds between the collector taking its lock and SIGKILL: the mark, the sweep, the
#: cleanup (a whole collection of this tree takes about a quarter of a second here).
KILL_AFTER = (
    [round(random.Random(n).uniform(0.0, 0.4), 3) for n in range(12)] if LONG else [0.02, 0.12]
)


@pytest.fixture(scope="module")
def garbage_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Sample]]:
    """A synthesised registry (nested names, indexes, untagged children, shared layers)
    after API-style deletes left garbage, and a few of its tags to pull."""
    root = tmp_path_factory.mktemp("gc") / "tree"
    stats = synthesize(
        root, repositories=40, tags_per_repository=12, index_every=4, untagged_per_repository=2
    )
    assert delete_manifests(root) > 0
    return root, [s for s in stats.samples if tag_exists(root, s.repository, s.tag)]


GC_FLAGS = {"offline": ["--offline"], "live": ["--grace", "0"]}


@pytest.fixture(scope="module")
def collected(
    garbage_tree: tuple[Path, list[Sample]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]]:
    """The state an undisturbed collection leaves, per mode."""
    states = {}
    for mode, flags in GC_FLAGS.items():
        copy = tmp_path_factory.mktemp("collected") / mode
        shutil.copytree(garbage_tree[0], copy, symlinks=True)
        env = clean_env(copy.parent)
        done = regsweep("gc", "--registry-dir", str(copy), *flags, "--no-restart", env=env)
        assert done.returncode == 0, done.stderr
        states[mode] = registry_state(copy)
    return states


@pytest.mark.parametrize("after", KILL_AFTER)
@pytest.mark.parametrize("mode", GC_FLAGS)
def test_a_collector_killed_part_way_and_run_again_breaks_nothing(
    garbage_tree: tuple[Path, list[Sample]],
    collected: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]],
    registry_factory: RegistryFactory,
    tmp_path: Path,
    mode: str,
    after: float,
) -> None:
    tree, samples = garbage_tree
    env = clean_env(tmp_path)
    flags = GC_FLAGS[mode]
    victim = tmp_path / "victim"
    shutil.copytree(tree, victim, symlinks=True)

    collector = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "regsweep",
            "gc",
            "--registry-dir",
            str(victim),
            *flags,
            "--no-restart",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not (victim / LOCK).exists() and collector.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.002)
    time.sleep(after)
    collector.send_signal(signal.SIGKILL)
    assert collector.wait() in (-signal.SIGKILL, 0)  # killed, or done already

    left = (victim / LOCK).exists()  # else it was killed after its work, on its way out
    again = regsweep("gc", "--registry-dir", str(victim), *flags, "--no-restart", env=env)
    assert again.returncode == 0, again.stderr
    assert ("taking over the lock of a regsweep that is gone" in again.stderr) == left
    print(f"KILLED {mode} after {after}s: exit {collector.returncode}")
    assert registry_state(victim) == collected[mode]
    verified = regsweep("verify", "--registry-dir", str(victim), env=env)
    assert verified.returncode == 0, verified.stdout
    if after == KILL_AFTER[-1]:  # the registry itself serves it: pull some tags
        served = registry_factory(start=False)
        shutil.rmtree(served.root)
        shutil.move(victim, served.root)
        served.start()
        assert len(samples) >= 8
        for sample in samples[::3]:
            assert_pulls(served.host, sample.repository, sample.tag, tmp_path / "pulls")
