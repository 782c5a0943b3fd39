"""Discover: read the registry's inventory from its storage, or over its API."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from regsweep.core.bounded import MemoryBudget
from regsweep.core.errors import NotARegistryError
from regsweep.core.model import Digest, Inventory, Manifest
from regsweep.pipeline.observer import Observer
from regsweep.pipeline.target import Target
from regsweep.sources.api.access import RegistryAccess
from regsweep.sources.api.budget import api_counts
from regsweep.sources.api.discovery import AgesNeeded, Check
from regsweep.sources.api.errors import MalformedAnswerError
from regsweep.sources.api.open import discover_registry
from regsweep.sources.requests import RequestCounts
from regsweep.sources.storage.discovery import discover_storage

log = logging.getLogger(__name__)

#: Problems listed one by one; a badly broken tree must not bury the plan under warnings.
MAX_PROBLEMS_SHOWN = 20


@dataclass(frozen=True)
class Discovered:
    """An inventory and the time its discovery began (every revision older than that was
    seen by the planner)."""

    inventory: Inventory
    started: datetime
    #: the requests discovery sent to the registry's API; None when it read storage
    requests: RequestCounts | None = None


def discover(
    target: Target,
    observer: Observer,
    *,
    include: Callable[[str], bool] | None = None,
    check: Check | None = None,
    ages_needed: AgesNeeded | None = None,
    repositories: Collection[str] | None = None,
    known: Mapping[Digest, Manifest] | None = None,
    budget: MemoryBudget | None = None,
) -> Discovered:
    """Read the registry's inventory: from storage when the target has it, else the API.

    ``include`` limits discovery to the repositories it accepts. Over the API: ``check``
    asks for every manifest (and with :attr:`Check.BLOBS` every blob) a pull needs, as
    verification does (from storage, everything is always read);
    ``ages_needed`` names the tags whose build time a rule needs; ``repositories`` replaces
    the catalog; ``known`` are manifests read earlier in the run (never read again).
    ``budget``: where storage discovery holds the blob sizes (memory when None).
    """
    started = datetime.now(UTC)
    requests: RequestCounts | None = None
    with observer.status("discovering") as status:
        if target.store is not None:
            counted = target.store.requests
            before = counted.by_kind.copy() if counted is not None else None
            began = time.perf_counter()
            inventory = discover_storage(target.store, progress=status, budget=budget)
            if counted is not None and before is not None:
                seconds = time.perf_counter() - began
                sent = counted.since(before, seconds)
                log.info("requests (storage discovery): %s", sent.describe())
        else:
            assert target.registry is not None  # a target has storage, an API, or both
            requests = api_counts()
            inventory = asyncio.run(
                _discover_api(
                    target.registry,
                    include,
                    status,
                    check=check,
                    ages_needed=ages_needed,
                    repositories=repositories,
                    known=known,
                    counts=requests,
                )
            )
            step = "verification" if check is not None else "discovery"
            log.info("requests (%s): %s", step, requests.describe())
            if check is None:
                observer.warn(
                    f"API mode: ages are {inventory.age_source}; tags without a usable "
                    "timestamp are kept"
                )
    for problem in inventory.problems[:MAX_PROBLEMS_SHOWN]:
        observer.warn(f"skipped {problem}")
    if len(inventory.problems) > MAX_PROBLEMS_SHOWN:
        observer.warn(f"... and {len(inventory.problems) - MAX_PROBLEMS_SHOWN} more problems")
    return Discovered(inventory, started, requests)


async def _discover_api(
    access: RegistryAccess,
    include: Callable[[str], bool] | None,
    progress: Callable[[str], None] | None,
    *,
    check: Check | None,
    ages_needed: AgesNeeded | None,
    repositories: Collection[str] | None,
    known: Mapping[Digest, Manifest] | None,
    counts: RequestCounts,
) -> Inventory:
    """Discovery over the API; an answer that breaks the API is exit 2 before any change.

    Verification (``check``) also runs after ``run`` changed the registry, where the
    same answer is a failure part way (exit 1), so there it is left as it is.
    """
    try:
        return await discover_registry(
            access,
            include=include,
            repositories=repositories,
            progress=progress,
            check=check,
            ages_needed=ages_needed,
            known=known,
            counts=counts,
        )
    except MalformedAnswerError as exc:
        if check is not None:
            raise
        raise NotARegistryError(f"{access.url} does not answer as a registry does: {exc}") from None
