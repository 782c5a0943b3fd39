"""Collect garbage with the registry's own ``garbage-collect``, then restart the registry.

The command is built from a template split into arguments (never a shell string), so no
value read from the registry or typed into a setting can inject a shell command. It runs
in regsweep's environment minus regsweep's own settings (:func:`child_environment`).
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from regsweep.core.errors import OperationError, UsageError

log = logging.getLogger(__name__)

#: The seed's command. ``--delete-untagged`` is never added: in distribution 2.x it deletes
#: the untagged children of TAGGED multi-arch images, breaking every platform (#3178);
#: regsweep's plan already deleted every manifest that nothing kept references.
DEFAULT_GC_COMMAND = "docker exec -i {name} /bin/registry garbage-collect {config}"
DEFAULT_RESTART_COMMAND = "docker restart {name}"
#: Where the official ``registry:2`` image keeps its configuration: ``{config}`` of a
#: command run in the container, never of one run on this host.
DEFAULT_CONTAINER_CONFIG = "/etc/docker/registry/config.yml"

#: Programs that run the registry's command in a container or on another machine
#: (``docker exec``, ``kubectl exec``, ``ssh``): a path in such a command is not a path here.
LAUNCHERS = frozenset({"docker", "podman", "nerdctl", "crictl", "kubectl", "oc", "ssh"})
#: Of those, the ones that name a container regsweep can ask about (``docker inspect``).
CONTAINER_RUNTIMES = frozenset({"docker", "podman", "nerdctl"})

_SUMMARY = re.compile(r"(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion")
_ELIGIBLE = re.compile(r"blob eligible for deletion: (sha256:[0-9a-f]{64})")


class MissingSettingError(UsageError):
    """A command needs a value that is not set (the container's name, the config file).

    A real run stops on it before any change; a dry run, which runs no command, says what
    a real run will ask for instead.
    """


@dataclass(frozen=True)
class GcResult:
    """What the registry's garbage collector reported."""

    command: tuple[str, ...]
    blobs_marked: int
    blobs_deleted: int
    manifests_deleted: int
    deleted: tuple[str, ...] = field(default=(), repr=False)

    @property
    def needs_restart(self) -> bool:
        """Blobs went: the registry's blob-descriptor cache may still claim them (#1803)."""
        return self.blobs_deleted > 0

    def describe(self) -> str:
        """One line: what was marked and what went."""
        return (
            f"garbage-collect: {self.blobs_marked} blobs marked, deleted {self.blobs_deleted} blobs"
        )

    def to_json(self) -> dict[str, object]:
        """For the JSON output and the journal."""
        return {
            "command": " ".join(self.command),
            "blobs_marked": self.blobs_marked,
            "blobs_deleted": self.blobs_deleted,
            "manifests_deleted": self.manifests_deleted,
        }


def gc_command(
    template: str | None, *, name: str | None, config: str | None
) -> tuple[tuple[str, ...], Path | None]:
    """The registry's ``garbage-collect`` command line (``template``, else the seed's
    ``docker exec``), and the config file it reads when it runs on this host (else None).

    ``config`` fills ``{config}``. A command run in the container (:data:`LAUNCHERS`)
    defaults to the ``registry:2`` image's path. A command run on this host has no default:
    that path may exist here and name another storage (Debian's package installs one for
    ``/var/lib/docker-registry``), and the collection would then clean another tree, or
    fail with "Path not found" after the deletions. Its config must be known, so that its
    storage can be checked to be the one regsweep cleans
    (:func:`regsweep.collect.preflight.check_collection`).

    Raises :class:`MissingSettingError` when a needed value is not set, and
    :class:`UsageError` when the template cannot be parsed.
    """
    words = _split(template or DEFAULT_GC_COMMAND, "collect garbage")
    here = not runs_elsewhere(words)
    uses_config = any("{config}" in word for word in words)
    if config is None and here and uses_config:
        raise MissingSettingError(
            f"cannot collect garbage: {words[0]} runs on this host, where {{config}} has no "
            f"default ({DEFAULT_CONTAINER_CONFIG} is the container's): set "
            "DOCKER_REGISTRY_CONFIG (--docker-registry-config) to the registry's config file"
        )
    argv = _fill(
        words,
        name=name,
        config=config or DEFAULT_CONTAINER_CONFIG,
        purpose="collect garbage",
        flag="--gc-command",
    )
    if not here:
        return argv, None
    read = config if uses_config else _config_argument(argv)
    if read is None:
        raise MissingSettingError(
            f"cannot collect garbage: {argv[0]} runs on this host, and regsweep must check "
            "that the storage it cleans is this one: put {config} in --gc-command and set "
            "DOCKER_REGISTRY_CONFIG (--docker-registry-config) to the registry's config file"
        )
    return argv, Path(read)


def restart_command(
    template: str | None, *, name: str | None, config: str | None
) -> tuple[str, ...]:
    """The restart command line (``template``, else ``docker restart {name}``)."""
    words = _split(template or DEFAULT_RESTART_COMMAND, "restart the registry")
    return _fill(
        words,
        name=name,
        config=config or DEFAULT_CONTAINER_CONFIG,
        purpose="restart the registry",
        flag="--restart-command",
    )


def runs_elsewhere(argv: Sequence[str]) -> bool:
    """Whether ``argv`` runs its command in a container or on another machine (through one
    of :data:`LAUNCHERS`, directly or under ``sudo``)."""
    words = argv[1:] if argv and Path(argv[0]).name == "sudo" else argv
    return bool(words) and Path(words[0]).name in LAUNCHERS


#: What gets past a command that cannot be built, besides giving it: per purpose.
_INSTEAD = {
    "collect garbage": ("--gc-command", "--gc native (regsweep's own collector) or --gc none"),
    "restart the registry": ("--restart-command", "--no-restart (and restart it yourself)"),
}


def _split(template: str, purpose: str) -> list[str]:
    flag, instead = _INSTEAD[purpose]
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise UsageError(
            f"cannot parse the {purpose} command {template!r}: {exc}; fix {flag}"
        ) from None
    if not words:
        raise UsageError(f"the {purpose} command is empty: give {flag}, or pass {instead}")
    return words


def _fill(
    words: list[str], *, name: str | None, config: str, purpose: str, flag: str
) -> tuple[str, ...]:
    """``{name}`` and ``{config}`` filled in each word; :class:`MissingSettingError` when the
    name is used and not set, naming every way past it (``regsweep gc`` on a stopped copy
    of the storage has no container to restart: ``--no-restart``)."""
    if any("{name}" in word for word in words) and not name:
        raise MissingSettingError(
            f"cannot {purpose}: set DOCKER_REGISTRY_NAME (the registry's container), give "
            f"{flag}, or pass {_INSTEAD[purpose][1]}"
        )
    return tuple(w.replace("{name}", name or "").replace("{config}", config) for w in words)


def _config_argument(argv: Sequence[str]) -> str | None:
    """The config file of ``... garbage-collect [OPTIONS] CONFIG``, when ``argv`` has one."""
    if "garbage-collect" not in argv:
        return None
    after = argv[list(argv).index("garbage-collect") + 1 :]
    return next((word for word in after if not word.startswith("-")), None)


def child_environment(withheld: Collection[str]) -> dict[str, str]:
    """regsweep's environment without the variables ``withheld``, for the commands it runs.

    ``withheld`` are regsweep's own settings (``REGISTRY_DIR``, ``REGISTRY_URL``,
    ``REGISTRY_PASSWORD``...): distribution reads every ``REGISTRY_*`` variable as an
    override of its config, logs those it does not know, and has no use for regsweep's
    credentials. What the user set for the registry itself (``REGISTRY_STORAGE_S3_...``,
    the AWS credentials, ``DOCKER_HOST``) goes through. Names are matched without regard
    to case, as the settings read them.
    """
    names = {name.upper() for name in withheld}
    return {key: value for key, value in os.environ.items() if key.upper() not in names}


def parse_gc_output(output: str) -> tuple[int, int, int, tuple[str, ...]]:
    """(marked, blobs eligible, manifests eligible, eligible digests) from the GC's stdout."""
    match = _SUMMARY.search(output)
    if match is None:
        raise OperationError(
            "garbage-collect ran but printed no summary line; is it a distribution registry? "
            "Check --gc-command, or collect with --gc native"
        )
    marked, blobs, manifests = (int(g) for g in match.groups())
    return marked, blobs, manifests, tuple(_ELIGIBLE.findall(output))


def run_registry_gc(
    command: Sequence[str], *, env: Mapping[str, str], timeout: float | None
) -> GcResult:
    """Run the registry's garbage collector and report what it marked and deleted."""
    argv = list(command)
    log.info("running %s", shlex.join(argv))
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise OperationError(f"garbage collection: {argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise OperationError(f"garbage collection timed out after {timeout} s") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise OperationError(
            f"garbage collection failed (exit {done.returncode}): {' | '.join(tail)}; check "
            "--gc-command, or collect with --gc native (regsweep gc)"
        )
    marked, blobs, manifests, digests = parse_gc_output(done.stdout)
    return GcResult(tuple(argv), marked, blobs, manifests, digests)


def restart_registry(
    command: Sequence[str], *, env: Mapping[str, str], timeout: float | None
) -> None:
    """Restart the registry so its blob-descriptor cache forgets swept blobs.

    Without it, the cache (``cache.blobdescriptor: inmemory`` or redis) still claims deleted
    blobs exist, a later push skips uploading them and produces an image that cannot be
    pulled (distribution #1803, #4569).
    """
    log.info("restarting the registry: %s", shlex.join(command))
    try:
        done = subprocess.run(
            list(command), capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise OperationError(f"restart: {command[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise OperationError(f"restart timed out after {timeout} s") from None
    if done.returncode != 0:
        raise OperationError(
            f"restart failed (exit {done.returncode}): {done.stderr.strip()[-300:]}; restart "
            "the registry by hand now (its blob cache may serve the blobs just collected), "
            "and check --restart-command"
        )
