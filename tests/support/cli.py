"""Run the regsweep CLI as a real subprocess, isolated from the caller's environment."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

from tests.support.registry import RegistryServer

#: The seed's variables: a developer's shell must never leak them into a test run.
SEED_VARIABLES = (
    "REGISTRY_URL",
    "REGISTRY_DIR",
    "MAX_AGE_SECONDS",
    "EXCLUDE_TAGS",
    "DRY_RUN",
    "DOCKER_REGISTRY_NAME",
    "DOCKER_REGISTRY_CONFIG",
    "REGISTRY_USERNAME",
    "REGISTRY_PASSWORD",
)


def clean_env(state_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment minus seed variables, with the default journal under ``state_dir``."""
    env = {k: v for k, v in os.environ.items() if k not in SEED_VARIABLES}
    env["XDG_STATE_HOME"] = str(state_dir)
    env["COLUMNS"] = "200"
    env.update(extra or {})
    return env


def regsweep(
    *args: str,
    env: dict[str, str],
    timeout: float = 300.0,
    stdin: str | None = None,
    umask: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m regsweep ARGS`` with output captured as text; ``stdin`` is its input,
    ``umask`` the one it runs under."""
    return subprocess.run(
        [sys.executable, "-m", "regsweep", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
    )


def regsweep_json(*args: str, env: dict[str, str]) -> Any:
    """Run with ``--output json``, assert exit 0, and parse stdout (which must be only JSON)."""
    done = regsweep(*args, "--output", "json", env=env)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def regsweep_in_process(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``regsweep ARGS`` through the same ``main()`` in this process: a second faster than
    a subprocess (no imports), for the many short runs that stop at a check.

    ``env`` replaces the environment for the call. Log records go wherever this process
    logs (pytest captures them), not to the captured stderr: assert on them with a
    subprocess. An exception that ``main()`` lets through propagates, traceback and all.
    """
    from regsweep.cli.main import main

    saved_env, saved_argv = dict(os.environ), sys.argv
    out, err = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["regsweep", *args]
    try:
        with redirect_stdout(out), redirect_stderr(err):
            main()
        code = 0  # pragma: no cover (main always exits)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def local_gc(registry: RegistryServer) -> list[str]:
    """Flags for GC through the real local binary, no restart (the test owns the registry)."""
    return [
        "--gc-command",
        "docker-registry garbage-collect {config}",
        "--docker-registry-config",
        str(registry.config_path),
        "--no-restart",
    ]
