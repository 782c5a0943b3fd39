"""Every figure and word a run prints is true when printed: an edited plan is called
edited."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import clean_env, regsweep
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.scenario import build_scenario
from tests.support.storage import tree_fingerprint


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
