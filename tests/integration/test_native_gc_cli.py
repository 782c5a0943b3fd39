"""``regsweep gc`` as a user runs it: exit codes, output, the lock, restore, the restart."""

from __future__ import annotations

import json
import os
from pathlib import Path

from regsweep.state.lock import LOCK
from tests.support import storage
from tests.support.cli import clean_env, regsweep, regsweep_json
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.skopeo import assert_pulls


def garbage(pusher: Pusher) -> set[str]:
    """Push two images, delete one: its four blobs are garbage."""
    pusher.push_image("app", "kept")
    dropped = pusher.push_image("team/app", "dropped", layers=[os.urandom(64), os.urandom(64)])
    pusher.delete_manifest("team/app", dropped.digest)
    return {dropped.digest, *dropped.blobs}


def test_dry_run_lists_then_offline_deletes_and_restarts(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    gone = garbage(pusher)
    env = clean_env(tmp_path)
    before = storage.tree_fingerprint(registry.root)
    root = str(registry.root)

    dry = regsweep("gc", "--registry-dir", root, "--offline", "--dry-run", env=env)

    assert dry.returncode == 0, dry.stderr
    assert storage.tree_fingerprint(registry.root) == before
    listed = {line.split()[1] for line in dry.stdout.splitlines() if line.startswith("delete ")}
    assert listed == gone
    assert "would be deleted: 4" in dry.stdout

    marker = tmp_path / "restarted"
    done = regsweep_json(
        "gc", "--registry-dir", root, "--offline", "--restart-command", f"touch {marker}", env=env
    )

    assert done["deleted"]["count"] == 4 and done["needs_restart"]
    assert {entry["digest"] for entry in done["swept"]} == gone
    assert not gone & storage.blob_digests(registry.root)
    assert marker.exists()
    registry.restart()
    assert_pulls(registry.host, "app", "kept", tmp_path)

    marker.unlink()
    again = regsweep_json(
        "gc", "--registry-dir", root, "--offline", "--restart-command", f"touch {marker}", env=env
    )
    assert again["deleted"]["count"] == 0 and not marker.exists()  # nothing went: no restart


def test_live_then_restore(registry: RegistryServer, pusher: Pusher, tmp_path: Path) -> None:
    gone = garbage(pusher)
    env = clean_env(tmp_path)
    root = str(registry.root)
    before = storage.blob_digests(registry.root)

    live = regsweep_json("gc", "--registry-dir", root, "--grace", "0", "--no-restart", env=env)
    assert live["mode"] == "live" and live["quarantined"]["count"] == 4
    assert storage.blob_digests(registry.root) == before - gone

    restored = regsweep_json("gc", "--registry-dir", root, "--restore", env=env)
    assert restored["mode"] == "restore" and restored["restored"]["count"] == 4
    assert storage.blob_digests(registry.root) == before


def test_lock_held_exits_1_and_bad_duration_exits_2(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    garbage(pusher)
    env = clean_env(tmp_path)
    root = str(registry.root)
    lock = registry.root / LOCK
    lock.parent.mkdir()
    lock.write_text(json.dumps({"pid": 1, "host": "elsewhere", "since": "then"}))
    before = storage.tree_fingerprint(registry.root)

    locked = regsweep("gc", "--registry-dir", root, "--offline", "--no-restart", env=env)
    assert locked.returncode == 1
    assert "another regsweep is working on" in locked.stderr and "elsewhere" in locked.stderr

    bad = regsweep("gc", "--registry-dir", root, "--grace", "soon", env=env)
    assert bad.returncode == 2 and "gc_grace" in bad.stderr

    no_name = regsweep("gc", "--registry-dir", root, "--offline", env=env)
    assert no_name.returncode == 2 and "DOCKER_REGISTRY_NAME" in no_name.stderr
    assert storage.tree_fingerprint(registry.root) == before
