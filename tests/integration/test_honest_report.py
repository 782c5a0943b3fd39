"""Every figure and word a run prints is true when printed: quarantined bytes are not
called freed, build times are not called push times, an edited plan is called edited."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.filesize import decimal

from tests.support.cli import clean_env, regsweep, regsweep_json
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.scenario import build_scenario
from tests.support.storage import tree_fingerprint


def data_bytes(root: Path) -> int:
    """The bytes of every blob on the disk, in the content store or in the quarantine:
    what ``du`` sees of them."""
    return sum(path.stat().st_size for path in root.rglob("data") if path.is_file())


def test_a_live_native_collection_says_quarantined_and_frees_on_the_purge(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    build_scenario(pusher, registry.root)
    args = ["run", "--registry-dir", str(registry.root), "--gc", "native", "--no-restart"]
    env = clean_env(tmp_path, {"GC_GRACE": "0"})  # the scenario's blobs were pushed just now
    on_disk = data_bytes(registry.root)

    first = regsweep(*args, env=env)

    assert first.returncode == 0, first.stderr
    quarantine = registry.root / "regsweep" / "quarantine"
    held = data_bytes(quarantine)
    assert held > 0 and data_bytes(registry.root) == on_disk  # du: nothing freed yet
    summary = first.stdout.strip().splitlines()[-1]
    match = re.search(
        r"registry blobs .* \(freed 0 bytes; quarantined (.+), freed on the first collection "
        r"after (\S+ \S+) UTC\)",
        summary,
    )
    assert match is not None, summary
    assert match.group(1) == decimal(held)
    purge_after = datetime.strptime(match.group(2), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert abs(purge_after - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=5)

    time.sleep(1.1)  # a later collection: the quarantine is kept by the second it was filled
    second = regsweep_json(*args, env={**env, "QUARANTINE_DELAY": "0"})

    assert second["storage_bytes_freed"] == held
    assert data_bytes(registry.root) == on_disk - held
    assert "storage_bytes_quarantined" not in second  # this one quarantined nothing


def test_api_mode_calls_build_times_build_times(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    built = (datetime.now(UTC) - timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pusher.push_image("app", "feature-old", created=built)
    pusher.push_image("app", "reproducible", created="1970-01-01T00:00:00Z")
    env = clean_env(tmp_path)
    where = ["--registry-url", registry.url, "--exclude-tags", "^latest$"]

    plan = regsweep_json("plan", *where, env=env)
    explained = regsweep("explain", "app", *where, env=env)

    (untag,) = [a for a in plan["actions"] if a["action"] == "untag"]
    assert untag["reason"].startswith("built 60d ago; kept by no rule of policy default")
    assert not [a for a in plan["actions"] if re.search(r"pushed \d", a["reason"])]
    assert explained.returncode == 0, explained.stderr
    assert "tag feature-old -> " in explained.stdout
    assert "(built 60d ago)" in explained.stdout
    assert "(build time unknown)" in explained.stdout
    # the rules keep their names ("pushed within 30d", the setting's); no figure is a push
    assert not re.search(r"pushed \d+d ago|\(push time unknown\)", explained.stdout)


def test_an_edited_plan_is_refused_as_edited_before_any_setting_is_asked_for(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    build_scenario(pusher, registry.root)
    env = clean_env(tmp_path, {"REGISTRY_DIR": str(registry.root)})  # no GC settings at all
    plan_file = tmp_path / "plan.json"
    assert regsweep("plan", "--out", str(plan_file), env=env).returncode == 0
    document = json.loads(plan_file.read_text())
    document["actions"] = document["actions"][1:]  # one deletion less, by hand
    plan_file.write_text(json.dumps(document))
    before = tree_fingerprint(registry.root)

    done = regsweep("apply", str(plan_file), env=env)

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"regsweep: error: plan file {plan_file}: checksum mismatch: the file was edited "
        "after it was written; make a new plan instead of editing one"
    ]
    assert tree_fingerprint(registry.root) == before
