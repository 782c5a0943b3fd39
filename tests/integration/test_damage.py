"""Damaged registries on the real registry: clean what can be read, leave the rest untouched.

Six repositories, one damaged the way years of operation damage storage (written into its
tree, tests/support/damage.py), then ``regsweep run`` with the registry's collector and
with regsweep's own. Every time: the five others are cleaned (their expired tag and old
manifests deleted, their blobs freed unless the collector cannot tell what is in use), the
damaged repository is left exactly as it was, the run says so and ends with exit 1, and
every kept tag still pulls with skopeo (``--all``), those of a symlinked repository too.
Where the registry's collector would stop on the damage, the run changes nothing at all and
says so in one line, naming the file and ``--gc native``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import RegistryFactory
from tests.support.cli import clean_env, local_gc, regsweep
from tests.support.damage import KINDS, SKIPS, STOPS_REGISTRY_GC, Injected, snapshot
from tests.support.images import PushedManifest, Pusher
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls
from tests.support.storage import (
    blob_digests,
    revision_exists,
    set_manifest_time,
    set_push_time,
    tag_exists,
    tree_fingerprint,
)

DAY = 86400.0
OLD = time.time() - 60 * DAY
DAMAGED = "damaged"
REPOSITORIES = ("web", "api", "worker", "tools/ci", "team/app", DAMAGED)
#: Kept by the default policy: a release and ``latest`` (the same image).
KEPT = ("1.0.0", "latest")
EXPIRED = "feature-old"
COLLECTORS = {
    "registry": lambda registry: local_gc(registry),
    "native": lambda registry: ["--gc", "native", "--no-restart"],
}


@dataclass
class Repo:
    """What was pushed into one repository of the template."""

    release: PushedManifest
    expired: PushedManifest
    untagged: PushedManifest
    index: PushedManifest | None = None

    def doomed(self) -> set[str]:
        """Blobs only the expired and untagged images use: freed by a cleanup."""
        doomed = {self.expired.digest, *self.expired.blobs, self.untagged.digest}
        return doomed | set(self.untagged.blobs)


@dataclass
class Template:
    root: Path
    repos: dict[str, Repo] = field(default_factory=dict)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    folder = tmp_path_factory.mktemp("damage-template")
    with RegistryServer.create(folder) as server, Pusher(server.url) as pusher:
        found = Template(server.root)
        base = os.urandom(2048)  # a base layer every kept image shares
        for name in REPOSITORIES:
            release = pusher.push_image(name, KEPT[0], layers=[base, os.urandom(1024)])
            pusher.tag(name, KEPT[1], release)
            expired = pusher.push_image(name, EXPIRED)
            untagged = pusher.push_image(name)
            repo = Repo(release, expired, untagged)
            if name == "api":  # a kept multi-arch image too
                children = [
                    pusher.push_image(name, oci=True, platform=platform)
                    for platform in (("linux", "amd64"), ("linux", "arm64", "v8"))
                ]
                repo.index = pusher.push_index(name, "2.0.0", children)
                for part in (repo.index, *children):
                    set_manifest_time(server.root, name, part.digest, OLD)
                set_push_time(server.root, name, "2.0.0", OLD)
            for image in (release, expired, untagged):
                set_manifest_time(server.root, name, image.digest, OLD)
            for tag in (*KEPT, EXPIRED):
                set_push_time(server.root, name, tag, OLD)
            found.repos[name] = repo
        yield found


@dataclass
class Case:
    registry: RegistryServer
    env: dict[str, str]
    work: Path


@pytest.fixture
def case(template: Template, registry_factory: RegistryFactory, tmp_path: Path) -> Case:
    registry = registry_factory(start=False)
    shutil.copytree(template.root, registry.root, symlinks=True, dirs_exist_ok=True)
    registry.start()
    return Case(registry, clean_env(tmp_path), tmp_path)


def _damage(case: Case, template: Template, kind: str) -> Injected:
    # a garbage layer link: the one of the expired image's own layer, which the cleanup frees
    layer = template.repos[DAMAGED].expired.layers[0].digest
    injected = case.registry.damage(DAMAGED, kind, layer=layer)
    assert injected is not None
    return injected


def _run(case: Case, collector: str, *extra: str) -> tuple[int, dict[str, object], str]:
    journal = case.work / "journal.jsonl"
    done = regsweep(
        "run",
        "--registry-dir",
        str(case.registry.root),
        *COLLECTORS[collector](case.registry),
        f"--journal={journal}",
        "--output",
        "json",
        *extra,
        env={**case.env, "GC_OFFLINE": "true"},  # nothing pushes meanwhile
    )
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, report, done.stderr


def _kept_tags_pull(case: Case, template: Template, injected: Injected) -> int:
    """Every kept tag pulls (all platforms), but those the damage itself broke; how many."""
    pulled = 0
    for name, repo in template.repos.items():
        tags = [*KEPT, *(["2.0.0"] if repo.index else [])]
        for tag in tags:
            if f"{name}:{tag}" in injected.broken:
                continue
            assert_pulls(case.registry.host, name, tag, case.work / "pulls")
            pulled += 1
    return pulled


@pytest.mark.parametrize("collector", COLLECTORS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_repository_is_left_alone_and_every_other_one_is_cleaned(
    case: Case, template: Template, kind: str, collector: str
) -> None:
    root = case.registry.root
    injected = _damage(case, template, kind)
    untouched = snapshot(root, injected)

    if collector == "registry" and kind in STOPS_REGISTRY_GC:
        before = tree_fingerprint(root)
        code, report, stderr = _run(case, collector)
        errors = [line for line in stderr.splitlines() if line.startswith("regsweep: error")]
        assert code == 2, stderr
        assert len(errors) == 1 and injected.path.split("/")[-1] in errors[0], stderr
        assert "--gc native" in errors[0] and "nothing was changed" in errors[0]
        assert tree_fingerprint(root) == before
        return

    blobs_before = blob_digests(root)
    code, report, stderr = _run(case, collector)

    skipped = [s["repository"] for s in report.get("skipped", [])]  # type: ignore[union-attr]
    if kind in SKIPS:
        assert code == 1, stderr
        assert skipped == [injected.repository], report
        assert "done except the repositories listed" in stderr
        records = [
            json.loads(line) for line in (case.work / "journal.jsonl").read_text().splitlines()
        ]
        assert [r["repository"] for r in records if r["event"] == "skipped"] == skipped
    else:  # a garbage layer link hides no manifest: reported, nothing skipped
        assert code == 0, stderr
        assert skipped == []
    assert snapshot(root, injected) == untouched

    cleaned = set(template.repos) - injected.untouched
    for name in cleaned:
        repo = template.repos[name]
        assert not tag_exists(root, name, EXPIRED), name
        assert not revision_exists(root, name, repo.expired.digest), name
        assert not revision_exists(root, name, repo.untagged.digest), name
        assert all(tag_exists(root, name, tag) for tag in KEPT), name
    freed = blobs_before - blob_digests(root)
    doomed = set().union(*(template.repos[name].doomed() for name in cleaned))
    blind = collector == "native" and kind in ("repository-symlink", "revision-symlink")
    if blind:  # what the symlink hides may need any blob: none is swept, and it is said
        assert freed == set()
        assert "swept no blob" in stderr or report["gc"]["sweep_skipped"]  # type: ignore[index]
    elif kind == "invalid-name":  # the copy named its blobs: kept, with native
        assert freed == doomed - template.repos[DAMAGED].doomed()
    elif kind == "manifest-missing" and collector == "registry":
        # the registry's own collector skips such a revision and sweeps what it needed
        # (regsweep's keeps it, so the image can be repaired by pushing its manifest)
        release = template.repos[DAMAGED].release
        assert freed == doomed | {release.config.digest, release.layers[1].digest}  # type: ignore[union-attr]
    else:
        assert freed == doomed
    if kind == "layer-link-garbage":
        link = root / injected.path
        assert link.exists() == (collector == "registry")  # native removes it, its blob gone
    kept = len(REPOSITORIES) * len(KEPT) + 1  # and api's index
    broken_kept = {t for t in injected.broken if t.partition(":")[2] != EXPIRED}
    assert _kept_tags_pull(case, template, injected) == kept - len(broken_kept)


def test_scoping_the_damaged_repository_out_scopes_its_damage_out(
    case: Case, template: Template
) -> None:
    injected = _damage(case, template, "tag-link-empty")
    untouched = snapshot(case.registry.root, injected)

    code, report, stderr = _run(case, "native", "--exclude-repositories", f"^{DAMAGED}$")

    assert code == 0, stderr
    assert "skipped" not in report
    assert snapshot(case.registry.root, injected) == untouched
    assert not tag_exists(case.registry.root, "web", EXPIRED)
    # the run did not break it, and says so
    assert f"still broken, by damage found before the run: {DAMAGED}:1.0.0" in stderr


def test_damage_that_stops_the_registry_gc_refuses_it_even_out_of_scope(
    case: Case, template: Template
) -> None:
    """The registry's collector reads every repository, whatever the run's scope."""
    _damage(case, template, "revision-link-empty")
    before = tree_fingerprint(case.registry.root)

    code, _, stderr = _run(case, "registry", "--exclude-repositories", f"^{DAMAGED}$")

    assert code == 2 and "--gc native" in stderr
    assert tree_fingerprint(case.registry.root) == before


def test_a_dry_run_lists_the_skipped_repository_and_changes_nothing(
    case: Case, template: Template
) -> None:
    injected = _damage(case, template, "tag-link-empty")
    before = tree_fingerprint(case.registry.root)

    done = regsweep(
        "run",
        "--registry-dir",
        str(case.registry.root),
        "--gc",
        "none",
        env={**case.env, "DRY_RUN": "true"},
    )

    assert done.returncode == 1, done.stderr
    assert "skipped: damaged repositories" in done.stdout
    assert injected.path in done.stdout.replace("\n", "")
    assert "done except the repositories listed" in done.stderr
    assert tree_fingerprint(case.registry.root) == before


def test_strict_refuses_the_whole_registry(case: Case, template: Template) -> None:
    injected = _damage(case, template, "tag-symlink")
    before = tree_fingerprint(case.registry.root)

    code, _, stderr = _run(case, "native", "--strict")

    assert code == 2 and injected.path in stderr and "without --strict" in stderr
    assert tree_fingerprint(case.registry.root) == before


@pytest.mark.parametrize("kind", ["revision-link-empty", "manifest-truncated", "manifest-missing"])
def test_verify_reports_what_the_registry_cannot_serve_naming_the_file(
    case: Case, template: Template, kind: str
) -> None:
    injected = _damage(case, template, kind)
    answer = httpx.get(
        f"{case.registry.url}/v2/{DAMAGED}/manifests/latest",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert answer.status_code in (404, 500)

    done = regsweep("verify", "--registry-dir", str(case.registry.root), env=case.env)

    assert done.returncode == 1
    broken = [line for line in done.stdout.splitlines() if line.startswith("BROKEN")]
    assert {line.split()[1].partition(":")[0] for line in broken} == {DAMAGED}
    assert {f"{DAMAGED}:{tag}" for tag in KEPT} == injected.broken
    assert all(injected.path in line for line in broken)
    plan = regsweep("plan", "--registry-dir", str(case.registry.root), env=case.env)
    assert injected.path in plan.stdout.replace("\n", "") + plan.stderr


def test_explain_says_a_damaged_repository_is_skipped_never_what_it_would_delete(
    case: Case, template: Template
) -> None:
    """The empty tag link hides the release's tag: planned alone, its manifest would look
    untagged and expired. ``explain`` follows the run, which deletes nothing there."""
    injected = _damage(case, template, "tag-link-empty")
    where = ("--registry-dir", str(case.registry.root))
    before = tree_fingerprint(case.registry.root)

    text = regsweep("explain", DAMAGED, *where, env=case.env)
    data = json.loads(regsweep("explain", DAMAGED, *where, "--output", "json", env=case.env).stdout)
    healthy = regsweep("explain", f"web:{EXPIRED}", *where, env=case.env)

    assert text.returncode == 0, text.stderr
    assert "DELETE" not in text.stdout and "skipped:" in text.stdout
    assert "--exclude-repositories" in text.stdout
    assert injected.path in text.stdout.replace("\n", "")
    assert data["decision"].startswith("skipped:")
    assert [p["location"] for p in data["problems"]] == [injected.path]
    assert "decision: DELETE the tag" in healthy.stdout
    assert tree_fingerprint(case.registry.root) == before
