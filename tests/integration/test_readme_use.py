"""The README's first commands, as a newcomer types them, on a host without Docker: the
dry run succeeds and says what a real run needs; the real run stops with the one line that
says what to set, having changed nothing."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.support.cli import clean_env
from tests.support.fake_docker import path_without_docker
from tests.support.images import Pusher
from tests.support.registry import RegistryServer
from tests.support.scenario import build_scenario
from tests.support.storage import tree_fingerprint

README = Path(__file__).resolve().parents[2] / "README.md"

NO_DOCKER = (
    "cannot collect garbage: docker not found on PATH: install it, or give --gc native, "
    "--gc none or another --gc-command"
)


def use_block() -> tuple[list[str], list[str]]:
    """The shell block of the README's "Use" section: its ``export`` lines, and the
    commands after them."""
    section = README.read_text().split("## Use\n", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None, "the README lost its first commands"
    lines = match.group(1).splitlines()
    exports = [line for line in lines if line.startswith("export ")]
    commands = [line for line in lines if line and not line.startswith("export ")]
    return exports, commands


def test_the_readmes_first_commands_on_a_host_without_docker(
    registry: RegistryServer, pusher: Pusher, tmp_path: Path
) -> None:
    build_scenario(pusher, registry.root)
    for n in range(6):  # pushed today: the README's policy deletes under half the tags
        pusher.push_image("shop/web", f"today-{n}")
    exports, commands = use_block()
    # the lines as written, but on this test's registry: the README's folder and port
    # are a production registry's
    script = "\n".join(exports).replace("/var/lib/registry", str(registry.root))
    script = script.replace("http://127.0.0.1:5000", registry.url)
    env = clean_env(tmp_path / "state", {"PATH": path_without_docker()})
    assert shutil.which("docker", path=env["PATH"]) is None
    assert [c.split("#")[0].strip() for c in commands] == [
        "DRY_RUN=true regsweep run",
        "regsweep run",
    ]
    before = tree_fingerprint(registry.root)

    dry, real = (
        subprocess.run(
            ["bash", "-c", f"{script}\n{command}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        for command in commands
    )

    assert dry.returncode == 0, dry.stderr
    assert "freeing" in dry.stdout  # the plan and its bytes
    assert f"warning: a real run would stop before deleting anything: {NO_DOCKER}" in (
        dry.stderr.splitlines()
    )
    assert real.returncode == 2, real.stderr
    assert real.stderr.splitlines()[-1] == f"regsweep: error: {NO_DOCKER}"
    assert [line for line in real.stderr.splitlines() if "error" in line] == [
        f"regsweep: error: {NO_DOCKER}"
    ]
    assert tree_fingerprint(registry.root) == before
