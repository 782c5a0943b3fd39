"""The wheel: built without a warning, installed into a fresh venv, run against a registry.

What the container image installs is this wheel, so a dependency missing from
``pyproject.toml`` or a file left out of the package must fail here, not in production.
The build is offline (``--no-build-isolation``, the test environment's setuptools); the
install into the fresh venv takes the dependencies from the package index pip is
configured with (a local mirror works), hence the ``package_index`` mark.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.cli import clean_env
from tests.support.images import Pusher
from tests.support.registry import RegistryServer

REPO_ROOT = Path(__file__).resolve().parents[2]

#: What this machine's pip configuration says about its own mirror folders, whatever is
#: installed: not a warning about the package.
MACHINE_PIP_NOISE = "is ignored: it is neither a file nor a directory"

JSON = ("--output", "json")


def warnings_in(output: str) -> list[str]:
    return [
        line
        for line in output.splitlines()
        if "warning" in line.lower() and MACHINE_PIP_NOISE not in line
    ]


def build_wheel(tmp_path: Path) -> Path:
    """Build from a copy of the sources (the build writes build/ and egg-info beside them)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(
        REPO_ROOT / "src",
        source / "src",
        ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"),
    )
    dist = tmp_path / "dist"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation"),
            *("--wheel-dir", str(dist), str(source)),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # setuptools' deprecations (project.license as a table, ...) print during the build
    assert warnings_in(done.stdout + done.stderr) == []
    (wheel,) = dist.glob("regsweep-*.whl")
    return wheel


@pytest.mark.package_index
def test_the_wheel_builds_without_warnings_and_runs_in_a_fresh_venv(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "regsweep/py.typed" in names and "regsweep/cli/main.py" in names
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert warnings_in(installed.stdout + installed.stderr) == []
    check = subprocess.run(
        [str(python), "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout

    pusher.push_image("app", "latest")
    env = clean_env(tmp_path)
    env.pop("PYTHONPATH", None)  # the fresh venv's package, not the source tree
    done = subprocess.run(
        [str(venv / "bin" / "regsweep"), "plan", "--registry-dir", str(registry.root), *JSON],
        capture_output=True,
        text=True,
        env={**env, "PYTHONWARNINGS": "error"},
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["tags"] == 1
    assert warnings_in(done.stderr) == []
    version = subprocess.run(
        [str(python), "-c", "import regsweep, sys; print(regsweep.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert version.stdout.startswith(str(venv))
