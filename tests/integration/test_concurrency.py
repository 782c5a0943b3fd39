"""Two regsweeps on one registry at once: the second refuses (exit 1), changing nothing.

The first run is held inside its garbage collection by a GC command that waits for a file,
so the second starts while the first certainly holds the lock; then the first is let go
and finishes, and the second, run again, finds nothing left to do.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from regsweep.state.lock import LOCK
from tests.support.cli import clean_env, regsweep
from tests.support.images import Pusher
from tests.support.lock_holders import live_process, this_machine
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls
from tests.support.storage import set_manifest_time, set_push_time, tag_exists, tree_fingerprint

OLD = time.time() - 90 * 86400
#: A policy whose plan deletes every tag, latest too: what the second run must NOT do.
DELETE_EVERYTHING = ["--max-age", "0", "--exclude-tags", "", "--force", "--gc", "none"]


def push_expired(pusher: Pusher, root: Path) -> None:
    """``app:latest`` kept, ``app:feature-a`` and ``team/app:feature-b`` expired."""
    pusher.push_image("app", "latest")
    for repo, tag in (("app", "feature-a"), ("team/app", "feature-b")):
        image = pusher.push_image(repo, tag)
        set_push_time(root, repo, tag, OLD)
        set_manifest_time(root, repo, image.digest, OLD)


def gc_waiting_for(go: Path, registry: RegistryServer) -> list[str]:
    """A GC command that says it started (``go`` + ".waiting"), then waits (at most a
    minute) for ``go`` to exist before collecting."""
    script = (
        f"touch {go}.waiting; i=0; "
        f"while [ ! -e {go} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; "
        'exec "$@"'
    )
    return [
        "--gc-command",
        f"sh -c '{script}' gc docker-registry garbage-collect {{config}}",
        "--docker-registry-config",
        str(registry.config_path),
        "--no-restart",
        "--force",  # past the safety brake: these tiny registries lose most of their tags
    ]


@contextmanager
def holding_the_lock(args: list[str], env: dict[str, str], go: Path) -> Iterator[Path]:
    """Start ``regsweep ARGS`` and yield its journal once it sits in its GC, holding the
    lock; on exit, let it go and check it finished cleanly."""
    journal = go.parent / "first.jsonl"
    first = subprocess.Popen(
        [sys.executable, "-m", "regsweep", *args, "--journal", str(journal)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    waiting = Path(f"{go}.waiting")
    try:
        deadline = time.monotonic() + 60
        while not waiting.exists():
            assert first.poll() is None, first.communicate()[1]
            assert time.monotonic() < deadline, "the first run never reached its GC"
            time.sleep(0.05)
        yield journal
    finally:
        go.touch()
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in _text(path).splitlines()]


def test_a_second_run_and_a_collector_refuse_while_a_run_holds_the_storage(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    push_expired(pusher, registry.root)
    env = clean_env(tmp_path)
    go = tmp_path / "go"
    storage = ["--registry-dir", str(registry.root)]
    first = ["run", *storage, "--registry-url", registry.url, *gc_waiting_for(go, registry)]

    with holding_the_lock(first, env, go) as journal:
        assert (registry.root / LOCK).is_file()
        before = tree_fingerprint(registry.root)
        second = regsweep(
            "run",
            *storage,
            *DELETE_EVERYTHING,
            "--journal",
            str(tmp_path / "second.jsonl"),
            env=env,
        )
        collector = regsweep("gc", *storage, "--offline", "--no-restart", env=env)
        assert tree_fingerprint(registry.root) == before
        assert "event" not in _text(tmp_path / "second.jsonl")  # not even a start record
        holder = json.loads((registry.root / LOCK).read_text())
    for refused in (second, collector):
        assert refused.returncode == 1, refused.stderr
        (line,) = [x for x in refused.stderr.splitlines() if x.startswith("regsweep: error:")]
        assert f"another regsweep is working on {registry.root}" in line
        assert f"regsweep run, pid {holder['pid']} on {holder['host']}" in line

    untagged = {r["target"] for r in _records(journal) if r.get("action") == "untag"}
    assert untagged == {"app:feature-a", "team/app:feature-b"}
    assert not (registry.root / "regsweep").exists()  # released, no trace
    assert not tag_exists(registry.root, "app", "feature-a")
    registry.restart()
    assert_pulls(registry.host, "app", "latest", tmp_path / "pulls")
    again = regsweep("run", *storage, "--gc", "none", "--output", "json", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["plan"]["tags_to_delete"] == 0


def test_api_mode_a_second_run_on_the_same_url_refuses(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    pusher.push_image("app", "latest")
    pusher.push_image("app", "feature-a", created="2020-01-01T00:00:00Z")
    env = clean_env(tmp_path)
    go = tmp_path / "go"
    api = ["--registry-url", registry.url, "--exclude-tags", "^latest$"]

    with holding_the_lock(["run", *api, *gc_waiting_for(go, registry)], env, go):
        (lock,) = (tmp_path / "regsweep" / "locks").iterdir()
        assert lock.stat().st_mode & 0o022 == 0
        before = tree_fingerprint(registry.root)
        second = regsweep("run", "--registry-url", registry.url, *DELETE_EVERYTHING, env=env)
        assert tree_fingerprint(registry.root) == before
    assert second.returncode == 1, second.stderr
    assert f"another regsweep is working on {registry.url} " in second.stderr
    assert not lock.exists()
    assert not tag_exists(registry.root, "app", "feature-a")


def test_a_lock_left_by_a_killed_run_is_taken_over_and_a_live_collectors_is_not(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    push_expired(pusher, registry.root)
    env = clean_env(tmp_path)
    storage = ["--registry-dir", str(registry.root), "--gc", "none", "--force"]
    lock = registry.root / LOCK
    lock.parent.mkdir()
    with live_process() as collector:
        holder = {"pid": collector, "command": "gc", "since": "t", **this_machine()}
        lock.write_text(json.dumps(holder))
        before = tree_fingerprint(registry.root)
        refused = regsweep("run", *storage, env=env)
        assert tree_fingerprint(registry.root) == before
    assert refused.returncode == 1
    assert f"regsweep gc, pid {collector}" in refused.stderr

    # the collector is gone now (killed): its lock is stale, and the run takes it over
    done = regsweep("run", *storage, env=env)
    assert done.returncode == 0, done.stderr
    assert "taking over the lock of a regsweep that is gone" in done.stderr
    assert not tag_exists(registry.root, "app", "feature-a")
    assert not lock.exists()
