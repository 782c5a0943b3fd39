"""``regsweep run`` end to end on the real registry, proven with skopeo."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from regsweep.sources.storage.discovery import discover_storage
from regsweep.sources.storage.local import LocalStore
from regsweep.verify import verify_inventory
from tests.support.cli import clean_env, local_gc, regsweep, regsweep_json
from tests.support.fake_docker import fake_docker_env, install_fake_docker
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.scenario import Scenario, build_scenario
from tests.support.skopeo import assert_pulls, pulls
from tests.support.storage import blob_digests, revision_exists, tag_exists, tree_fingerprint

REPO_ROOT = Path(__file__).resolve().parents[2]


def assert_outcome(registry: RegistryServer, scenario: Scenario, tmp_path: Path) -> None:
    """Every kept tag pulls with every platform; every deleted one and its blobs are gone."""
    for repo, tag in sorted(scenario.kept_tags):
        assert_pulls(registry.host, repo, tag, tmp_path / "pulls")
    for repo, tag in scenario.deleted_tags:
        assert not tag_exists(registry.root, repo, tag), f"{repo}:{tag} still there"
    for repo, digest in scenario.deleted_manifests:
        assert not revision_exists(registry.root, repo, digest)
    assert not scenario.doomed_blobs & blob_digests(registry.root)


def test_run_deletes_what_the_policy_expires_and_every_kept_tag_pulls(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    scenario = build_scenario(pusher, registry.root)
    journal = tmp_path / "journal.jsonl"

    result = regsweep_json(
        "run",
        "--registry-dir",
        str(registry.root),
        "--registry-url",
        registry.url,
        "--journal",
        str(journal),
        *local_gc(registry),
        env=clean_env(tmp_path),
    )
    registry.restart()  # what --restart-command does in production

    assert result["apply"]["tags_deleted"] == len(scenario.deleted_tags)
    assert result["apply"]["manifests_deleted"] == len(scenario.deleted_manifests)
    assert result["apply"]["failed"] == 0
    assert result["gc"]["blobs_deleted"] == len(scenario.doomed_blobs)
    freed = result["storage_bytes_before"] - result["storage_bytes_after"]
    assert freed == result["plan"]["bytes_reclaimable"] > 0
    assert result["verify"]["problems"] == []
    assert_outcome(registry, scenario, tmp_path)
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    events = [r["event"] for r in records]
    assert (events[0], events[-1]) == ("start", "end")
    assert sum(r["event"] == "action" for r in records) == len(scenario.deleted_tags) + len(
        scenario.deleted_manifests
    )

    again = regsweep_json(
        "run",
        "--registry-dir",
        str(registry.root),
        *local_gc(registry),
        "--journal",
        str(journal),
        env=clean_env(tmp_path),
    )
    assert again["plan"]["tags_to_delete"] == again["plan"]["manifests_to_delete"] == 0


def test_dry_run_changes_nothing_byte_for_byte(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    build_scenario(pusher, registry.root)
    before = tree_fingerprint(registry.root)

    done = regsweep(
        "run",
        "--dry-run",
        "--registry-dir",
        str(registry.root),
        "--registry-url",
        registry.url,
        *local_gc(registry),
        env=clean_env(tmp_path),
    )

    assert done.returncode == 0, done.stderr
    assert "feature-login" in done.stdout  # the plan is printed
    # what a real run would collect with; no collector ran, not even with --dry-run
    gc = f"garbage collection: docker-registry garbage-collect {registry.config_path}"
    assert gc in done.stderr.splitlines()
    assert "would delete" not in done.stderr and "warning" not in done.stderr
    assert tree_fingerprint(registry.root) == before
    assert not (tmp_path / "regsweep").exists()  # no journal either


def test_the_seeds_environment_variables_alone_do_the_seeds_job(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    """Dry run, then real run, through `docker exec` and `docker restart` (stand-in docker)."""
    scenario = build_scenario(pusher, registry.root)
    install_fake_docker(tmp_path / "bin", REPO_ROOT)
    env = clean_env(tmp_path, fake_docker_env(tmp_path / "bin", registry.tmp_dir, registry.url))
    env.update(
        REGISTRY_URL=registry.url,
        REGISTRY_DIR=str(registry.root),
        MAX_AGE_SECONDS=str(30 * 86400),
        EXCLUDE_TAGS=r"^(latest|develop|master|main|\d+\.\d+\.\d+)$",
        DOCKER_REGISTRY_NAME="registry",
        DOCKER_REGISTRY_CONFIG=str(registry.config_path),
        DRY_RUN="true",
    )
    before = tree_fingerprint(registry.root)
    dry = regsweep("run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert tree_fingerprint(registry.root) == before

    env["DRY_RUN"] = "false"
    pid_before = registry.pid_file.read_text()
    real = regsweep("run", env=env)

    assert real.returncode == 0, real.stderr
    calls = (registry.tmp_dir / "docker-calls.log").read_text().splitlines()
    config = str(registry.config_path)
    inspect = "inspect -f {{.State.Running}} registry"
    assert calls == [
        inspect,  # the dry run checks what a real run needs, and runs no collector
        inspect,  # the real run's pre-flight
        f"exec -i registry /bin/registry garbage-collect {config}",
        "restart registry",
    ]
    assert registry.pid_file.read_text() != pid_before
    assert "registry restarted" in real.stderr
    assert_outcome(registry, scenario, tmp_path)


def test_delete_disabled_registry_stops_the_run_before_anything_changes(
    registry_factory: object, tmp_path: Path
) -> None:
    make = registry_factory
    registry = make({"storage": {"delete": {"enabled": False}}})  # type: ignore[operator]
    with Pusher(registry.url) as pusher:
        build_scenario(pusher, registry.root)
    before = tree_fingerprint(registry.root)

    done = regsweep(
        "run",
        "--registry-dir",
        str(registry.root),
        "--registry-url",
        registry.url,
        *local_gc(registry),
        env=clean_env(tmp_path),
    )

    assert done.returncode == 2, done.stderr
    assert "delete: enabled: true" in done.stderr
    assert tree_fingerprint(registry.root) == before


@pytest.mark.parametrize("crash_after", [1, 4, 9])
def test_a_run_killed_part_way_and_run_again_ends_like_an_uninterrupted_run(
    registry_factory: object, tmp_path: Path, crash_after: int
) -> None:
    """SIGKILL once the journal shows ``crash_after`` actions, then rerun to the end."""
    make = registry_factory
    registry = make()  # type: ignore[operator]
    with Pusher(registry.url) as pusher:
        scenario = build_scenario(pusher, registry.root)
    reference = make(start=False)  # type: ignore[operator]
    shutil.rmtree(reference.root)
    shutil.copytree(registry.root, reference.root, symlinks=True)
    reference.start()

    # the uninterrupted reference
    reference_run = regsweep(
        "run",
        "--registry-dir",
        str(reference.root),
        *local_gc(reference),
        "--journal",
        str(tmp_path / "reference.jsonl"),
        env=clean_env(tmp_path),
    )
    assert reference_run.returncode == 0, reference_run.stderr

    journal = tmp_path / "journal.jsonl"
    args = [
        sys.executable,
        "-m",
        "regsweep",
        "run",
        "--registry-dir",
        str(registry.root),
        "--registry-url",
        registry.url,
        *local_gc(registry),
        "--journal",
        str(journal),
        "--concurrency",
        "1",
    ]
    process = subprocess.Popen(
        args, env=clean_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        lines = journal.read_text().count('"event": "action"') if journal.exists() else 0
        if lines >= crash_after:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    process.wait()

    # the crash left no kept tag broken
    broken = verify_inventory(discover_storage(LocalStore(registry.root)))
    assert broken.problems == []
    rerun = regsweep(
        "run",
        "--registry-dir",
        str(registry.root),
        "--registry-url",
        registry.url,
        *local_gc(registry),
        "--journal",
        str(journal),
        env=clean_env(tmp_path),
    )
    assert rerun.returncode == 0, rerun.stderr
    registry.restart()

    state, expected = _state(registry.root), _state(reference.root)
    assert state[0] - expected[0] == set(), (scenario, rerun.stdout, rerun.stderr)
    assert expected[0] - state[0] == set()
    assert state[1] ^ expected[1] == set()
    assert_outcome(registry, scenario, tmp_path)


def _state(root: Path) -> tuple[set[str], set[str]]:
    """Tags (repo:tag@digest) and blobs left: the end state two runs must agree on."""
    inventory = discover_storage(LocalStore(root))
    tags = {
        f"{t.repository}:{t.name}@{t.digest}"
        for r in inventory.repositories.values()
        for t in r.tags.values()
    }
    revisions = {f"{r.name}@{d}" for r in inventory.repositories.values() for d in r.revisions}
    return tags | revisions, blob_digests(root)


def test_verify_lists_a_tag_whose_layer_is_missing(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    good = pusher.push_image("app", "good")
    bad = pusher.push_image("app", "bad")
    layer = next(d.digest for d in bad.layers)
    shutil.rmtree(registry.root / "docker/registry/v2/blobs/sha256" / layer[7:9] / layer[7:])

    done = regsweep("verify", "--registry-dir", str(registry.root), env=clean_env(tmp_path))

    assert done.returncode == 1
    assert f"app:bad: blob {layer} is missing from storage" in done.stdout
    assert "app:good" not in done.stdout
    assert pulls(registry.host, "app", "good", tmp_path / "p") and good


def test_run_with_the_native_collector_frees_the_same_blobs_and_every_kept_tag_pulls(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    scenario = build_scenario(pusher, registry.root)
    env = clean_env(tmp_path, {"GC_OFFLINE": "true"})  # the test stops nothing: no pushes

    result = regsweep_json(
        "run",
        "--registry-dir",
        str(registry.root),
        "--registry-url",
        registry.url,
        "--gc",
        "native",
        "--no-restart",
        "--journal",
        str(tmp_path / "journal.jsonl"),
        env=env,
    )
    registry.restart()

    freed = result["storage_bytes_before"] - result["storage_bytes_after"]
    assert freed == result["plan"]["bytes_reclaimable"] > 0
    assert result["verify"]["problems"] == []
    assert_outcome(registry, scenario, tmp_path)
