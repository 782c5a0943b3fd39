"""The garbage collector and the restart run without regsweep's settings in their
environment, and with everything the user set for the registry itself."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from tests.support.cli import clean_env, regsweep
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.scenario import build_scenario

#: A command that writes the environment it was given, then (as the GC) runs the real
#: ``docker-registry`` with the rest of its arguments, keeping its stderr.
RECORDER = """#!{python}
import json, os, pathlib, subprocess, sys
out, role = pathlib.Path(sys.argv[1]), sys.argv[2]
(out / (role + ".env.json")).write_text(json.dumps(dict(os.environ)))
if role == "gc":
    done = subprocess.run(["docker-registry", *sys.argv[3:]], capture_output=True, text=True)
    (out / "gc.stderr").write_text(done.stderr)
    sys.stdout.write(done.stdout)
    sys.exit(done.returncode)
"""

#: regsweep's own settings as a seed's cron job or CI sets them.
SETTINGS = {
    "MAX_AGE_SECONDS": str(30 * 86400),
    "EXCLUDE_TAGS": "^latest$",
    "REGISTRY_USERNAME": "ci",
    "REGISTRY_PASSWORD": "s3cret-password",
}
#: What the user set for the registry itself: a config override, and AWS's own variable.
FOR_THE_REGISTRY = {"REGISTRY_STORAGE_DELETE_ENABLED": "true", "AWS_REGION": "eu-west-1"}


def test_the_gc_and_the_restart_see_none_of_regsweeps_settings(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    scenario = build_scenario(pusher, registry.root)
    recorder = tmp_path / "recorder"
    recorder.write_text(RECORDER.format(python=sys.executable))
    recorder.chmod(recorder.stat().st_mode | stat.S_IXUSR)
    env = clean_env(
        tmp_path,
        {
            **SETTINGS,
            **FOR_THE_REGISTRY,
            "REGISTRY_DIR": str(registry.root),
            "REGISTRY_URL": registry.url,
            "DOCKER_REGISTRY_CONFIG": str(registry.config_path),
        },
    )

    done = regsweep(
        "run",
        "--force",
        "--gc-command",
        f"{recorder} {tmp_path} gc garbage-collect {{config}}",
        "--restart-command",
        f"{recorder} {tmp_path} restart",
        env=env,
    )

    assert done.returncode == 0, done.stderr
    assert scenario.doomed_blobs  # the GC deleted blobs, so the registry was restarted
    withheld = {*SETTINGS, "REGISTRY_DIR", "REGISTRY_URL", "DOCKER_REGISTRY_CONFIG"}
    for role in ("gc", "restart"):
        seen = json.loads((tmp_path / f"{role}.env.json").read_text())
        assert withheld.isdisjoint(seen), (role, withheld & seen.keys())
        assert "s3cret-password" not in json.dumps(seen)
        assert {k: seen.get(k) for k in FOR_THE_REGISTRY} == FOR_THE_REGISTRY
        assert seen["PATH"] == env["PATH"]
    gc_log = (tmp_path / "gc.stderr").read_text()
    assert "unrecognized environment variable" not in gc_log, gc_log


def test_distribution_does_complain_of_the_seeds_variables(
    registry: RegistryServer, tmp_path: Path
) -> None:
    """The control: the registry's GC given REGISTRY_DIR logs it, so the test above sees
    what it looks for when it is there. (The registry is empty: the collection itself
    fails, "Path not found"; the warning comes first.)"""
    done = subprocess.run(
        ["docker-registry", "garbage-collect", str(registry.config_path)],
        env=clean_env(tmp_path, {"REGISTRY_DIR": str(registry.root)}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Ignoring unrecognized environment variable REGISTRY_DIR" in done.stderr
