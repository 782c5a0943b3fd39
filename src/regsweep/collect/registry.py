"""Collect garbage with the registry's own ``garbage-collect``, then restart the registry.

The command is built from a template split into arguments (never a shell string), so no
value read from the registry or typed into a setting can inject a shell command.
"""

from __future__ import annotations

import logging
import re
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

from regsweep.core.errors import OperationError, UsageError

log = logging.getLogger(__name__)

#: The seed's command. ``--delete-untagged`` is never added: in distribution 2.x it deletes
#: the untagged children of TAGGED multi-arch images, breaking every platform (#3178);
#: regsweep's plan already deleted every manifest that nothing kept references.
DEFAULT_GC_COMMAND = "docker exec -i {name} /bin/registry garbage-collect {config}"
DEFAULT_RESTART_COMMAND = "docker restart {name}"

_SUMMARY = re.compile(r"(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion")
_ELIGIBLE = re.compile(r"blob eligible for deletion: (sha256:[0-9a-f]{64})")


@dataclass(frozen=True)
class GcResult:
    """What the registry's garbage collector reported."""

    command: tuple[str, ...]
    dry_run: bool
    blobs_marked: int
    blobs_deleted: int
    manifests_deleted: int
    deleted: tuple[str, ...] = field(default=(), repr=False)

    @property
    def needs_restart(self) -> bool:
        """Blobs went: the registry's blob-descriptor cache may still claim them (#1803)."""
        return not self.dry_run and self.blobs_deleted > 0

    def describe(self) -> str:
        """One line: what was marked and what went (or would go)."""
        verb = "would delete" if self.dry_run else "deleted"
        return (
            f"garbage-collect: {self.blobs_marked} blobs marked, {verb} {self.blobs_deleted} blobs"
        )

    def to_json(self) -> dict[str, object]:
        """For the JSON output and the journal; a dry run's counts are named eligible: nothing
        was deleted."""
        return {
            "command": " ".join(self.command),
            "dry_run": self.dry_run,
            "blobs_marked": self.blobs_marked,
            "blobs_eligible" if self.dry_run else "blobs_deleted": self.blobs_deleted,
            "manifests_eligible" if self.dry_run else "manifests_deleted": self.manifests_deleted,
        }


def build_command(
    template: str | None, default: str, *, name: str | None, config: str, purpose: str
) -> list[str]:
    """Split ``template`` (or ``default``) into arguments and fill ``{name}`` and ``{config}``.

    Raises :class:`UsageError` before anything runs when a needed value is missing.
    """
    chosen = template or default
    if "{name}" in chosen and not name:
        raise UsageError(
            f"cannot {purpose}: set DOCKER_REGISTRY_NAME (the registry's container) or give "
            f"--{'gc' if purpose.startswith('collect') else 'restart'}-command"
        )
    try:
        words = shlex.split(chosen)
    except ValueError as exc:
        raise UsageError(f"cannot parse the {purpose} command {chosen!r}: {exc}") from None
    if not words:
        raise UsageError(f"the {purpose} command is empty")
    return [w.replace("{name}", name or "").replace("{config}", config) for w in words]


def parse_gc_output(output: str) -> tuple[int, int, int, tuple[str, ...]]:
    """(marked, blobs eligible, manifests eligible, eligible digests) from the GC's stdout."""
    match = _SUMMARY.search(output)
    if match is None:
        raise OperationError(
            "garbage-collect ran but printed no summary line; is it a distribution registry?"
        )
    marked, blobs, manifests = (int(g) for g in match.groups())
    return marked, blobs, manifests, tuple(_ELIGIBLE.findall(output))


def run_registry_gc(command: Sequence[str], *, dry_run: bool, timeout: float | None) -> GcResult:
    """Run the registry's garbage collector and report what it marked and deleted."""
    argv = [*command, "--dry-run"] if dry_run else list(command)
    log.info("running %s", shlex.join(argv))
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise OperationError(f"garbage collection: {argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise OperationError(f"garbage collection timed out after {timeout} s") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise OperationError(
            f"garbage collection failed (exit {done.returncode}): {' | '.join(tail)}"
        )
    marked, blobs, manifests, digests = parse_gc_output(done.stdout)
    return GcResult(tuple(argv), dry_run, marked, blobs, manifests, digests)


def restart_registry(command: Sequence[str], *, timeout: float | None) -> None:
    """Restart the registry so its blob-descriptor cache forgets swept blobs.

    Without it, the cache (``cache.blobdescriptor: inmemory`` or redis) still claims deleted
    blobs exist, a later push skips uploading them and produces an image that cannot be
    pulled (distribution #1803, #4569).
    """
    log.info("restarting the registry: %s", shlex.join(command))
    try:
        done = subprocess.run(
            list(command), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise OperationError(f"restart: {command[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise OperationError(f"restart timed out after {timeout} s") from None
    if done.returncode != 0:
        raise OperationError(
            f"restart failed (exit {done.returncode}): {done.stderr.strip()[-300:]}"
        )
