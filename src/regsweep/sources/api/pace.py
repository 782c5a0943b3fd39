"""How many requests to keep in flight to one registry, found by watching its answers.

A fixed number is wrong both ways: on loopback the registry's own CPU is the ceiling and
more requests in flight only queue inside it (and cost the client CPU in connection
bookkeeping), while across a WAN each request waits a round trip that only more requests
in flight can overlap. So the window adapts, as TCP Vegas does, on how long answers take:

- each answer's latency is compared with the fastest answer of its kind seen so far (a
  blob GET is slower than a manifest HEAD on any registry), which is the round trip
  without queueing;
- each time a whole window of answers came back, if the window was full (the limit, not
  the work, held requests back) and their median ratio is within ``tolerance``, the
  registry kept up: the window grows by one; beyond twice ``tolerance`` requests queue
  inside the registry: it shrinks by one;
- a 429 or 503 halves it, at most once per window (one burst of refusals halves it once),
  and a ``Retry-After`` holds every new request to that registry, not only the one
  retried, until it has passed.

Time is the event loop's clock (``loop.time()``, monotonic), which is what its sleeps and
timeouts are measured by.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import deque

#: Answers that mean "too much, slow down".
OVERLOADED = frozenset({429, 503})


class Slot:
    """One request's place in the window; tell it the answer's status when it comes.

    Used as ``async with limit.slot(kind) as slot:``: it waits for a place on entering
    and gives it back on leaving, learning from the answer. A class rather than an
    ``asynccontextmanager``, whose generator costs every request (this is per request).
    """

    __slots__ = ("_limit", "generation", "kind", "retry_after", "started", "status")

    def __init__(self, limit: AdaptiveLimit, kind: str) -> None:
        self._limit = limit
        self.kind = kind
        self.generation = 0
        self.started: float | None = None
        self.status: int | None = None
        self.retry_after: float | None = None

    def answered(self, status: int, retry_after: float | None = None) -> None:
        self.status, self.retry_after = status, retry_after

    async def __aenter__(self) -> Slot:
        await self._limit._hold(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._limit._release(self)


class AdaptiveLimit:
    """The window of requests in flight to one registry (see the module docstring)."""

    def __init__(self, *, initial: int, ceiling: int, tolerance: float = 2.0) -> None:
        if ceiling < 1:
            raise ValueError(f"ceiling must be at least 1, got {ceiling}")
        self.ceiling = ceiling
        self.tolerance = tolerance
        self._limit = max(1, min(initial, ceiling))
        self._in_flight = 0
        #: requests waiting for a place, first come first served; a place is handed over
        #: (counted in ``_in_flight``) before the waiter wakes
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._paused_until = 0.0
        #: bumped at every cut: a refusal of a request sent before it is old news
        self._generation = 0
        self._ratios: list[float] = []
        self._full = False
        #: the fastest answer of each kind of request: its round trip without queueing
        self._fastest: dict[str, float] = {}

    @property
    def limit(self) -> int:
        return self._limit

    def slot(self, kind: str) -> Slot:
        """A place in the window for one request of ``kind`` (what it asks: its latency
        is compared with that kind's), to be held with ``async with``."""
        return Slot(self, kind)

    async def _hold(self, slot: Slot) -> None:
        """Wait for a place, then for any ``Retry-After`` pause, and start the clock."""
        await self._acquire()
        loop = asyncio.get_running_loop()
        try:
            while (wait := self._paused_until - loop.time()) > 0:
                await asyncio.sleep(wait)  # the place held: nothing else goes out meanwhile
        except BaseException:
            self._release(slot)
            raise
        slot.generation = self._generation
        slot.started = loop.time()

    def _release(self, slot: Slot) -> None:
        """Give a place back and learn from its answer, if one came."""
        self._in_flight -= 1
        if slot.started is not None and slot.status is not None:
            now = asyncio.get_running_loop().time()
            self._learn(slot, now, now - slot.started)
        self._hand_over()

    async def _acquire(self) -> None:
        if not self._waiters and self._in_flight < self._limit:
            self._take()
            return
        place = asyncio.get_running_loop().create_future()
        self._waiters.append(place)
        try:
            await place
        except asyncio.CancelledError:
            if place.done() and not place.cancelled():
                self._in_flight -= 1  # handed a place as it was cancelled: give it back
                self._hand_over()
            else:
                self._waiters.remove(place)
            raise

    def _take(self) -> None:
        self._in_flight += 1
        if self._in_flight >= self._limit:
            self._full = True

    def _hand_over(self) -> None:
        while self._waiters and self._in_flight < self._limit:
            place = self._waiters.popleft()
            if not place.done():
                self._take()
                place.set_result(None)

    def _learn(self, slot: Slot, now: float, latency: float) -> None:
        if slot.retry_after is not None:
            self._paused_until = max(self._paused_until, now + slot.retry_after)
        if slot.status in OVERLOADED:
            if slot.generation == self._generation:
                self._limit = max(1, self._limit // 2)
                self._generation += 1
                self._ratios.clear()
                self._full = False
            return
        fastest = min(self._fastest.get(slot.kind, latency), latency)
        self._fastest[slot.kind] = fastest
        self._ratios.append(latency / fastest if fastest > 0 else 1.0)
        if len(self._ratios) < self._limit:
            return
        ratio = statistics.median(self._ratios)
        if ratio > 2 * self.tolerance:
            self._limit = max(1, self._limit - 1)
        elif self._full and ratio <= self.tolerance:
            self._limit = min(self.ceiling, self._limit + 1)
        self._ratios.clear()
        self._full = False
