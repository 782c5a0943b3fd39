"""What the collection after apply needs, checked before the first deletion.

A run that deletes tags and manifests and only then finds that it cannot collect garbage
(``DOCKER_REGISTRY_NAME`` set on a host without Docker: "Cannot connect to the Docker
daemon") leaves the space unreclaimed and the registry half cleaned. So before anything
changes: each command's program is found, a container a command reaches is running, and
the config that a ``garbage-collect`` run on this host reads names the storage regsweep
cleans. Each refusal names the flags that get past it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from regsweep.collect.collection import collects
from regsweep.collect.options import CollectOptions, Collector
from regsweep.collect.registry import CONTAINER_RUNTIMES, child_environment
from regsweep.collect.registry_config import configured_storage
from regsweep.core.errors import UsageError
from regsweep.sources.storage.store import ReadableStore

#: ``docker inspect`` answers in milliseconds, or fails at once when the daemon is away.
INSPECT_TIMEOUT_SECONDS = 30


def check_collection(options: CollectOptions, store: ReadableStore | None) -> None:
    """Raise :class:`UsageError` (nothing has changed yet) when the collection ``options``
    describe cannot run: a setting missing, a program not found, a container not running,
    or a local ``garbage-collect`` configured for another storage."""
    if options.missing is not None:
        raise UsageError(options.missing)
    if not collects(options, store):
        return
    env = child_environment(options.withheld_env)
    commands: list[_Command] = []
    if options.collector is Collector.REGISTRY and options.gc_argv is not None:
        native = "--gc native, " if store is not None else ""
        commands.append(
            _Command(
                options.gc_argv, "collect garbage", f"{native}--gc none or another --gc-command"
            )
        )
    if options.restart_argv is not None:
        commands.append(
            _Command(
                options.restart_argv,
                "restart the registry",
                "--no-restart or another --restart-command",
            )
        )
    for command in commands:
        if shutil.which(command.argv[0], path=env.get("PATH")) is None:
            raise command.refusal(f"{command.argv[0]} not found on PATH: install it")
    container = options.container
    through = next((c for c in commands if container and c.reaches(container)), None)
    if through is not None and container is not None:
        _check_running(through, container, env)
    if options.gc_config is not None:
        _check_gc_config(options.gc_config, store, env)


@dataclass(frozen=True)
class _Command:
    """A command to check, what it is for, and the flags that do without it."""

    argv: tuple[str, ...]
    purpose: str
    ways_out: str

    def reaches(self, container: str) -> bool:
        """Whether it names ``container`` through a runtime regsweep can ask about it."""
        return Path(self.argv[0]).name in CONTAINER_RUNTIMES and container in self.argv

    def refusal(self, problem: str) -> UsageError:
        return UsageError(f"cannot {self.purpose}: {problem}, or give {self.ways_out}")


def _check_running(command: _Command, container: str, env: Mapping[str, str]) -> None:
    """``<runtime> inspect`` says the container runs: the runtime is reachable (no
    "Cannot connect to the Docker daemon" after the deletions) and the container is there."""
    runtime = command.argv[0]
    inspect = [runtime, "inspect", "-f", "{{.State.Running}}", container]
    try:
        done = subprocess.run(
            inspect,
            capture_output=True,
            text=True,
            env=env,
            timeout=INSPECT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise command.refusal(f"{runtime} inspect {container}: {exc}") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        why = said[-1] if said else f"exit {done.returncode}"
        raise command.refusal(f"{runtime} inspect {container} failed: {why}")
    if done.stdout.strip() != "true":
        raise command.refusal(f"container {container} is not running: start it")


def _check_gc_config(config: Path, store: ReadableStore | None, env: Mapping[str, str]) -> None:
    """A ``garbage-collect`` run on this host cleans the storage its config names: it must
    be the one regsweep cleans (over the API alone there is none to compare with)."""
    configured = configured_storage(config, env)
    if store is not None and configured != store.describe():
        raise UsageError(
            f"cannot collect garbage: the registry config {config} names the storage "
            f"{configured}, but regsweep cleans {store.describe()}: set DOCKER_REGISTRY_CONFIG "
            "(--docker-registry-config) to the config of the registry regsweep cleans"
        )
