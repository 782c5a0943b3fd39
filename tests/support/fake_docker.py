"""A stand-in ``docker`` executable for tests: the GC and the restart it runs are real.

There is no Docker engine on these machines, so tests put this script first on PATH as
``docker``. It understands exactly the three commands regsweep sends by default:

- ``docker exec -i NAME /bin/registry garbage-collect CONFIG [--dry-run]``: runs the real
  ``docker-registry garbage-collect CONFIG`` on the test registry's storage;
- ``docker restart NAME``: stops the registry whose pid is in ``$FAKE_DOCKER_HOME/registry.pid``
  and starts the same binary and config again, recording the new pid there;
- ``docker inspect -f {{.State.Running}} NAME`` (the pre-flight check): ``true`` while that
  registry runs, else ``false``.

Every call is appended to ``$FAKE_DOCKER_HOME/docker-calls.log`` for assertions.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

SCRIPT = """#!{python}
import os, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from tests.support.registry import pid_alive, stop_pid, wait_until_ready

home = Path(os.environ["FAKE_DOCKER_HOME"])
args = sys.argv[1:]
with open(home / "docker-calls.log", "a") as log:
    log.write(" ".join(args) + "\\n")
if args[:2] == ["exec", "-i"] and args[3:5] == ["/bin/registry", "garbage-collect"]:
    cmd = ["docker-registry", "garbage-collect", *args[5:]]
    sys.exit(subprocess.run(cmd).returncode)
if args[:3] == ["inspect", "-f", "{{{{.State.Running}}}}"] and len(args) == 4:
    print("true" if pid_alive(int((home / "registry.pid").read_text())) else "false")
    sys.exit(0)
if args[:1] == ["restart"] and len(args) == 2:
    pid_file = home / "registry.pid"
    stop_pid(int(pid_file.read_text()), 10.0)
    log = open(home / "registry.log", "ab")
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(home / "config.yml")],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    pid_file.write_text(str(proc.pid))
    url = os.environ["FAKE_DOCKER_URL"]
    wait_until_ready(url, 15.0, alive=lambda: proc.poll() is None)
    print(args[1])
    sys.exit(0)
print("fake docker: unsupported command: " + " ".join(args), file=sys.stderr)
sys.exit(125)
"""


def install_fake_docker(bin_dir: Path, repo_root: Path) -> Path:
    """Write the stand-in as ``bin_dir/docker`` and return its path."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "docker"
    path.write_text(SCRIPT.format(python=sys.executable, repo=str(repo_root)))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def fake_docker_env(bin_dir: Path, registry_home: Path, registry_url: str) -> dict[str, str]:
    """Environment for a regsweep subprocess that should find the stand-in first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["FAKE_DOCKER_HOME"] = str(registry_home)
    env["FAKE_DOCKER_URL"] = registry_url
    return env


UNREACHABLE = """#!/bin/sh
echo "$@" >> {calls}
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. \\
Is the docker daemon running?" >&2
exit 1
"""


def install_unreachable_docker(bin_dir: Path) -> Path:
    """A ``docker`` whose daemon is away, as on a host with the client and no engine: every
    command fails as the real client does then. Calls go to ``bin_dir/docker-calls.log``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "docker"
    path.write_text(UNREACHABLE.format(calls=bin_dir / "docker-calls.log"))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def path_without_docker(*first: Path) -> str:
    """PATH with ``first``, this Python's folder (``regsweep``), then every folder of the
    caller's PATH that holds no ``docker``: a host without Docker, whatever this one has."""
    folders = [
        folder
        for folder in os.environ.get("PATH", "").split(os.pathsep)
        if folder and not (Path(folder) / "docker").exists()
    ]
    return os.pathsep.join([*map(str, first), str(Path(sys.executable).parent), *folders])
