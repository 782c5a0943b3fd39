"""Random registries and policies, cleaned end to end on the real registry (hypothesis).

Each example pushes a small random registry (tests/support/random_registry.py) under its
own repository prefix, then ``regsweep plan`` and ``regsweep run`` with a random policy, in
storage mode with the registry's GC, in storage mode with regsweep's own collector
(``--gc native``), or in API mode. Then, every time:

- every deleted tag and manifest was an action of the plan, with a reason, and the run
  did exactly the plan's actions (its journal);
- no tag the policy's rules keep was deleted (an oracle independent of regsweep), and every
  tag left points where it did;
- ``regsweep verify`` finds every blob of every kept image, and skopeo pulls (``--all``) every
  kept index and at least one tag per repository;
- a second plan finds nothing to do.

Some examples (storage modes) first have one kind of damage written into one repository
(the registry fixture's damage step, tests/support/damage.py). Then the run skips exactly
that repository and leaves it untouched (exit 1), or, where the registry's collector would
stop on it, changes nothing at all (exit 2); everything else holds for the rest, and every
kept tag the damage itself did not break still pulls, but for a tag no client can name (a
repository copied under an invalid name): storage must still hold every blob it needs.

The CI runs a few examples; ``REGSWEEP_HYPOTHESIS_PROFILE=long`` (or
``benchmarks/soak_random_e2e.py``) runs hundreds. ``REGSWEEP_E2E_STATS=FILE`` appends one
JSON line of figures per example.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings

from tests.support.cli import clean_env, local_gc, regsweep
from tests.support.damage import SKIPS, Injected, missing_blobs, snapshot
from tests.support.images import Pusher
from tests.support.random_registry import (
    Built,
    DamageSpec,
    ImageSpec,
    PolicySpec,
    RegistrySpec,
    RepoSpec,
    build,
    must_keep,
    registry_specs,
)
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls
from tests.support.storage import blob_digests, registry_state

LONG = os.environ.get("REGSWEEP_HYPOTHESIS_PROFILE") == "long"
EXAMPLES = int(os.environ.get("REGSWEEP_E2E_EXAMPLES", "300" if LONG else "5"))
#: A fresh registry after this many examples: API-mode verification reads every repository.
EXAMPLES_PER_REGISTRY = 25
#: Tags pulled with skopeo per example, besides every index and one tag per repository.
EXTRA_PULLS = 2
#: Damage that keeps ``verify`` from checking a repository or a tag (a symlink, an invalid
#: name): listed as not verified, exit 1.
UNCHECKABLE = frozenset({"tag-symlink", "revision-symlink", "repository-symlink", "invalid-name"})


class Registries:
    """One running registry shared by examples (each under its own prefix), renewed now and
    then so that it does not grow without end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.counter = itertools.count(1)
        self.used = 0
        self.server: RegistryServer | None = None

    def next(self, *, alone: bool = False) -> tuple[RegistryServer, str]:
        """A registry and the prefix of the next example; ``alone``: a registry of its own,
        used by no later example (damage stays where it was written)."""
        number = next(self.counter)
        if self.server is None or self.used >= EXAMPLES_PER_REGISTRY or alone:
            self.close()
            self.server = RegistryServer.create(self.folder / f"registry-{number}")
            self.server.start()
            self.used = 0
        self.used = EXAMPLES_PER_REGISTRY if alone else self.used + 1
        return self.server, f"e{number}"

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registries]:
    pool = Registries(tmp_path_factory.mktemp("random-e2e"))
    yield pool
    pool.close()


#: A repository copied under an invalid name (``app/Copy_Of_It``) whose original's images
#: all expire: no client can name the copy, so its tags are checked in storage, where the
#: collector must keep what they need (the test once pulled the copy's tags, which skopeo
#: refuses before any request: "repository name must be lowercase").
NAMELESS_COPY = RegistrySpec(
    repos=(
        RepoSpec(
            "app",
            (
                ImageSpec("docker", 45, (("build-3", 45),), True, False, False, 0),
                ImageSpec("oci-index", 45, (("feature-a", 45),), False, True, False, 1),
            ),
        ),
        RepoSpec("web", (ImageSpec("docker", 45, (("latest", 0),), False, False, False, 0),)),
    ),
    policy=PolicySpec(max_age=7, keep_last=0, exclude=None, grace_zero=True),
    mode="native",
    damage=DamageSpec("invalid-name", 0),
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=registry_specs())
@example(spec=NAMELESS_COPY)
def test_a_random_registry_is_cleaned_as_planned_and_everything_kept_pulls(
    registries: Registries, spec: RegistrySpec
) -> None:
    started = time.monotonic()
    damaged = spec.damage is not None and spec.mode != "api"
    registry, prefix = registries.next(alone=damaged)
    with tempfile.TemporaryDirectory(dir=registries.folder) as scratch:
        work = Path(scratch)
        with Pusher(registry.url) as pusher:
            built = build(spec, pusher, registry.root, prefix)
        injected = None
        if damaged:
            assert spec.damage is not None
            target = spec.repos[spec.damage.repo % len(spec.repos)].name
            injected = registry.damage(f"{prefix}/{target}", spec.damage.kind)
        figures = check_example(spec, built, registry, prefix, work, injected)
    figures.update(mode=spec.mode, seconds=round(time.monotonic() - started, 2))
    if stats := os.environ.get("REGSWEEP_E2E_STATS"):
        with open(stats, "a", encoding="utf-8") as out:
            out.write(json.dumps(figures) + "\n")


def check_example(
    spec: RegistrySpec,
    built: Built,
    registry: RegistryServer,
    prefix: str,
    work: Path,
    injected: Injected | None = None,
) -> dict[str, Any]:
    env = clean_env(work)
    scope = ["--repositories", f"{prefix}/.*", *spec.policy.flags()]
    where = ["--registry-url", registry.url]
    if spec.mode != "api":
        where += ["--registry-dir", str(registry.root)]
    mine = lambda entries: {e for e in entries if e.startswith(f"{prefix}/")}  # noqa: E731
    before = [mine(part) for part in registry_state(registry.root)[:2]]
    untouched = snapshot(registry.root, injected) if injected else None
    blobs_before = blob_digests(registry.root)
    figures: dict[str, Any] = {
        "defect": injected.kind if injected else None,
        "skipped": 0,
        "broken_by_damage": len(injected.broken) if injected else 0,
    }

    plan = json_of(regsweep("plan", *where, *scope, "--output", "json", env=env))
    journal = work / "journal.jsonl"
    # native: nothing pushes meanwhile, so the collector may sweep at once (GC_OFFLINE)
    collect = {"storage": local_gc(registry), "native": ["--gc", "native", "--no-restart"]}
    run = regsweep(
        "run",
        *where,
        *scope,
        *collect.get(spec.mode, []),
        "--force",
        f"--journal={journal}",
        env={**env, "GC_OFFLINE": "true"},
    )
    after = [mine(part) for part in registry_state(registry.root)[:2]]
    figures["blobs_freed"] = len(blobs_before - blob_digests(registry.root))
    if injected is not None and injected.stops_registry_gc and spec.mode == "storage":
        # the registry's collector would stop on it: nothing changed, and it is said
        assert run.returncode == 2 and "--gc native" in run.stderr, run.stderr
        assert after == before and figures["blobs_freed"] == 0
        return {**figures, "manifests": built.manifests, "tags": len(before[0]), "pulls": 0}
    skipped = [s["repository"] for s in plan.get("skipped", [])]
    figures["skipped"] = len(skipped)
    if injected is not None and injected.kind in SKIPS:
        assert run.returncode == 1 and skipped == [injected.repository], (skipped, run.stderr)
        assert snapshot(registry.root, injected) == untouched
    elif injected is not None:  # a garbage layer link hides nothing: nothing is skipped
        assert skipped == []
        assert run.returncode in (0, 1), run.stderr  # 1 when a kept tag needs its blob
    else:
        assert run.returncode == 0, run.stderr

    # every deletion was planned, with a reason, and the run did exactly the plan
    planned = {action_key(a): a for a in plan["actions"]}
    assert all(a["reason"] for a in planned.values())
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    done = {(r["action"], r["target"]) for r in records if r["event"] == "action"}
    assert done == set(planned)
    assert all(
        r["outcome"] in ("deleted", "already_gone") for r in records if r["event"] == "action"
    )
    tags_before, revisions_before = before
    tags_after, revisions_after = after
    for entry in tags_before - tags_after:
        assert ("untag", entry.partition("@")[0]) in planned, entry
    for entry in revisions_before - revisions_after:
        assert ("delete_manifest", entry) in planned, entry
    assert tags_after <= tags_before  # nothing re-pointed, nothing new
    damaged = injected.untouched if injected else frozenset()
    for entry in tags_after:  # read from storage: even a tag the API hides must resolve
        name, _, digest = entry.partition("@")
        if name.partition(":")[0] in damaged:
            continue  # left as the damage made it
        assert f"{name.partition(':')[0]}@{digest}" in revisions_after, f"{entry} dangles"

    # the rules keep what they must; the tags left pull, every index among them
    names_before = {t.partition("@")[0] for t in tags_before}
    names_after = {t.partition("@")[0] for t in tags_after}
    assert must_keep(spec, built, names_before) <= names_after
    verify = regsweep("verify", *where, env=env)
    # only what the damage itself broke is broken (BROKEN repo:tag: why)
    lines = verify.stdout.splitlines()
    broken = {line.split()[1].rstrip(":") for line in lines if line.startswith("BROKEN")}
    assert broken <= (injected.broken if injected else set()), verify.stdout
    unchecked = injected is not None and injected.kind in UNCHECKABLE
    assert verify.returncode == (1 if broken or unchecked else 0), verify.stdout
    if injected is not None and injected.kind == "layer-link-garbage":
        assert run.returncode == (1 if broken else 0), run.stderr
    # no client can name these (an invalid repository name): what they need stays stored
    nameless = injected.unaddressable if injected else frozenset()
    for entry in tags_after:
        name, _, digest = entry.partition("@")
        if name in nameless:
            assert not missing_blobs(registry.root, digest), f"{entry} lost blobs"
    intact = {t for t in tags_after if t.partition("@")[0] not in broken | nameless}
    pulled = pull_sample(registry, built, intact, work)

    # a second plan has nothing left to do
    again = json_of(regsweep("plan", *where, *scope, "--output", "json", env=env))
    assert again["actions"] == [], again["actions"]
    return {
        **figures,
        "manifests": built.manifests,
        "tags": len(tags_before),
        "untags": sum(1 for a in planned.values() if a["action"] == "untag"),
        "manifest_deletes": sum(1 for a in planned.values() if a["action"] == "delete_manifest"),
        "pulls": pulled,
    }


def action_key(action: dict[str, Any]) -> tuple[str, str]:
    if action["action"] == "untag":
        return "untag", f"{action['repository']}:{action['tag']}"
    return "delete_manifest", f"{action['repository']}@{action['digest']}"


def json_of(done: Any) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def pull_sample(registry: RegistryServer, built: Built, tags: set[str], work: Path) -> int:
    """Pull every tagged index, one tag per repository and a few more; how many."""
    chosen: dict[str, str] = {}
    for entry in sorted(tags):
        name, _, digest = entry.partition("@")
        repo = name.partition(":")[0]
        if digest in built.indexes or repo not in {n.partition(":")[0] for n in chosen}:
            chosen[name] = digest
    rest = sorted({t.partition("@")[0] for t in tags} - chosen.keys())
    chosen.update(
        dict.fromkeys(random.Random(len(tags)).sample(rest, min(EXTRA_PULLS, len(rest))), "")
    )
    for name in chosen:
        repo, _, tag = name.partition(":")
        assert_pulls(registry.host, repo, tag, work / "pulls")
    return len(chosen)
