"""Discover: read the registry's inventory from its storage, or over its API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from regsweep.core.errors import NotARegistryError
from regsweep.core.model import Inventory
from regsweep.pipeline.observer import Observer
from regsweep.pipeline.target import Target
from regsweep.sources.api.errors import MalformedAnswerError
from regsweep.sources.api.open import RegistryAccess, discover_registry
from regsweep.sources.storage.discovery import discover_storage

#: Problems listed one by one; a badly broken tree must not bury the plan under warnings.
MAX_PROBLEMS_SHOWN = 20


@dataclass(frozen=True)
class Discovered:
    """An inventory and the time its discovery began (every revision older than that was
    seen by the planner)."""

    inventory: Inventory
    started: datetime


def discover(
    target: Target,
    observer: Observer,
    *,
    include: Callable[[str], bool] | None = None,
    check_blobs: bool = False,
) -> Discovered:
    """Read the registry's inventory: from storage when the target has it, else the API.

    ``include`` limits discovery to the repositories it accepts. ``check_blobs`` (API mode)
    asks the registry for every config and layer, as verification needs.
    """
    started = datetime.now(UTC)
    with observer.status("discovering") as status:
        if target.store is not None:
            inventory = discover_storage(target.store, progress=status)
        else:
            assert target.registry is not None  # a target has storage, an API, or both
            inventory = asyncio.run(
                _discover_api(target.registry, include, status, check_blobs=check_blobs)
            )
            if not check_blobs:
                observer.warn(
                    f"API mode: ages are {inventory.age_source}, not push times (the API has "
                    "none); tags without a usable timestamp are kept"
                )
    for problem in inventory.problems[:MAX_PROBLEMS_SHOWN]:
        observer.warn(f"skipped {problem}")
    if len(inventory.problems) > MAX_PROBLEMS_SHOWN:
        observer.warn(f"... and {len(inventory.problems) - MAX_PROBLEMS_SHOWN} more problems")
    return Discovered(inventory, started)


async def _discover_api(
    access: RegistryAccess,
    include: Callable[[str], bool] | None,
    progress: Callable[[str], None] | None,
    *,
    check_blobs: bool,
) -> Inventory:
    """Discovery over the API; an answer that breaks the API is exit 2 before any change.

    Verification (``check_blobs``) also runs after ``run`` changed the registry, where the
    same answer is a failure part way (exit 1), so there it is left as it is.
    """
    try:
        return await discover_registry(
            access, include=include, progress=progress, check_blobs=check_blobs
        )
    except MalformedAnswerError as exc:
        if check_blobs:
            raise
        raise NotARegistryError(f"{access.url} does not answer as a registry does: {exc}") from None
