"""How garbage is collected after apply: one options value for both collectors.

Defaults live here, where they are used; the command line and the settings file only
override them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from pathlib import Path

from regsweep.collect.native.collector import (
    DEFAULT_GRACE,
    DEFAULT_QUARANTINE_DELAY,
    DEFAULT_UPLOAD_MAX_AGE,
)
from regsweep.core.durations import format_duration

#: The registry's own GC takes seconds on disk but hours on object storage (#2812).
GC_TIMEOUT_SECONDS = 6 * 3600
RESTART_TIMEOUT_SECONDS = 300


class Collector(Enum):
    """Which garbage collector runs after the deletions."""

    #: the registry's own ``garbage-collect`` command (the seed's choice)
    REGISTRY = "registry"
    #: regsweep's collector on the storage (see :mod:`regsweep.collect.native`)
    NATIVE = "native"
    #: none: the registry collects by itself, or the user does it later
    NONE = "none"


class NativeMode(Enum):
    """Whether the registry may be taking pushes while regsweep's collector runs.

    ``LIVE`` keeps a grace period and a quarantine so a push racing the sweep loses
    nothing (distribution #3045); ``OFFLINE`` is for a registry that is stopped or
    read-only, and deletes at once.
    """

    LIVE = "live"
    OFFLINE = "offline"


@dataclass(frozen=True)
class NativeOptions:
    """regsweep's own collector: see :func:`regsweep.collect.native.collect_native`."""

    mode: NativeMode = NativeMode.LIVE
    #: blobs and layer links younger than this are never swept (pushes in flight)
    grace: timedelta = DEFAULT_GRACE
    #: a quarantined blob is deleted once unreferenced this long
    quarantine_delay: timedelta = DEFAULT_QUARANTINE_DELAY
    #: uploads not written to for this long are abandoned
    upload_max_age: timedelta = DEFAULT_UPLOAD_MAX_AGE
    #: bytes the collection may use: past a share of it, its registry-wide sets go to disk
    memory_limit: int | None = None


@dataclass(frozen=True)
class CollectOptions:
    """The collector, its command lines, and the restart after a collection that freed blobs.

    The command lines are built, and what they need is checked
    (:func:`regsweep.collect.preflight.check_collection`), before the first deletion, so a
    missing container name or a host without ``docker`` fails a run that has changed
    nothing.
    """

    collector: Collector = Collector.NONE
    #: the registry's ``garbage-collect`` command, split into arguments (REGISTRY only)
    gc_argv: tuple[str, ...] | None = None
    #: the restart command, or None not to restart (a warning says to do it by hand)
    restart_argv: tuple[str, ...] | None = None
    native: NativeOptions = field(default_factory=NativeOptions)
    #: the config file a ``garbage-collect`` run on this host reads: its storage must be
    #: the one regsweep cleans
    gc_config: Path | None = None
    #: the registry's container: a command that names it through a container runtime
    #: (``docker exec NAME``) needs it running
    container: str | None = None
    #: environment variables the commands never see: regsweep's own settings (see
    #: :func:`regsweep.collect.registry.child_environment`)
    withheld_env: frozenset[str] = frozenset()
    #: a setting the commands need and nobody set: a real run refuses before any change,
    #: a dry run says so
    missing: str | None = None

    def describe(self) -> tuple[str, ...]:
        """What a real run collects with, in words (a dry run, which collects nothing,
        prints them)."""
        if self.collector is Collector.NONE:
            return ("garbage collection: none (the blobs stay until something collects them)",)
        if self.collector is Collector.NATIVE:
            native = self.native
            how = (
                "offline, deleting at once"
                if native.mode is NativeMode.OFFLINE
                else f"live: swept blobs quarantined for {format_duration(native.quarantine_delay)}"
            )
            lines = [f"garbage collection: regsweep's own ({how})"]
        elif self.gc_argv is None:
            lines = ["garbage collection: the registry's garbage-collect, not configured"]
        else:
            lines = [f"garbage collection: {shlex.join(self.gc_argv)}"]
        if self.restart_argv is not None:
            lines.append(f"then, if blobs were freed, restart: {shlex.join(self.restart_argv)}")
        elif self.missing is None:
            lines.append("no restart (--no-restart): restart the registry after a collection")
        return tuple(lines)
