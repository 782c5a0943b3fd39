"""The images workloads run, read and matched to this registry before planning."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from regsweep.core.model import Inventory
from regsweep.pipeline.observer import Observer
from regsweep.policy.in_use import InUse, InUseReference, resolve_in_use
from regsweep.sources.in_use import read_in_use_file, run_in_use_command

#: References named one by one in a warning; the rest are counted.
MAX_REFERENCES_SHOWN = 5


@dataclass(frozen=True)
class InUseSpec:
    """Where the references come from, and the names clients reach this registry by."""

    #: names as references carry them, lower case: ``registry.example.com``,
    #: ``127.0.0.1:5000``; a reference naming any other host is to another registry
    hosts: frozenset[str]
    #: ``--in-use FILE``
    file: Path | None = None
    #: ``--in-use-command``, already split into arguments
    command: tuple[str, ...] | None = None


def read_in_use(spec: InUseSpec, inventory: Inventory, observer: Observer) -> InUse:
    """Read the references (the command runs now), keep those to this registry, and match
    them to ``inventory``.

    Raises :class:`~regsweep.core.errors.UsageError` when the file cannot be read, the command
    fails or a reference is invalid: nothing may be deleted on a partial list.
    """
    read: list[InUseReference] = []
    if spec.file is not None:
        read += read_in_use_file(spec.file)
    if spec.command is not None:
        read += run_in_use_command(spec.command)
    ours = [use for use in read if use.reference.host in spec.hosts]
    hosts = ", ".join(sorted(spec.hosts))
    observer.info(f"images in use: {len(ours)} references to {hosts} of {len(read)} read")
    if read and not ours:
        observer.warn(
            f"no image in use names this registry ({hosts}): if its clients reach it by "
            "another name, give that name with --registry-host"
        )
    in_use = resolve_in_use(ours, inventory)
    if in_use.missing:
        shown = ", ".join(use.reference.text for use in in_use.missing[:MAX_REFERENCES_SHOWN])
        more = len(in_use.missing) - MAX_REFERENCES_SHOWN
        observer.warn(
            f"{len(in_use.missing)} images in use are not in the registry (deleted before, or "
            f"never pushed; their workloads cannot pull them again): {shown}"
            + (f" and {more} more" if more > 0 else "")
        )
    return in_use
