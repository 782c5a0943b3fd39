"""Requests sent to a registry or its object store, counted by kind.

Each source names its own kinds (the API's
:class:`~regsweep.sources.api.budget.RequestKind`, an object store's
:class:`~regsweep.sources.storage.s3_listing.S3Request`) and counts them the same way, so
a report can set any of them beside the floor its source states.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass
class RequestCounts:
    """Requests sent, by kind, and the seconds the clients sending them were open; shared by
    every client of one step, so it is only ever added to."""

    #: every kind that may be counted (all of them appear in :meth:`to_json`, sent or not)
    kinds: type[StrEnum]
    by_kind: Counter[StrEnum] = field(default_factory=Counter)
    #: attempts that were retries of a failed one (also counted in ``by_kind``)
    retries: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    def __add__(self, other: RequestCounts) -> RequestCounts:
        return RequestCounts(
            self.kinds,
            self.by_kind + other.by_kind,
            self.retries + other.retries,
            self.seconds + other.seconds,
        )

    def since(self, before: Counter[StrEnum], seconds: float) -> RequestCounts:
        """What was sent after ``before`` (a copy of :attr:`by_kind`), in ``seconds``."""
        return RequestCounts(self.kinds, self.by_kind - before, seconds=seconds)

    def per_second(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        """One line: the total, the rate, then each kind sent (most first)."""
        kinds = ", ".join(f"{n} {kind.value}" for kind, n in self.by_kind.most_common())
        retried = f", {self.retries} retries" if self.retries else ""
        return (
            f"{self.total} requests in {self.seconds:.1f} s ({self.per_second():.0f}/s): "
            f"{kinds or 'none'}{retried}"
        )

    def to_json(self) -> dict[str, int | float]:
        out: dict[str, int | float] = {kind.value: self.by_kind[kind] for kind in self.kinds}
        out["total"] = self.total
        out["retries"] = self.retries
        out["seconds"] = round(self.seconds, 3)
        return out
