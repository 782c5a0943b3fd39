"""The adaptive window of requests in flight, driven by simulated registries (no network).

Each simulated registry answers after a delay of its own making: a WAN one after a fixed
round trip however many requests wait, a CPU-bound one serves one request at a time so
that every request in flight adds to the latency of the others. They run on looptime's
event loop, whose clock jumps over every sleep: each latency the window sees is exactly
the one the simulation makes, however loaded the machine running the tests is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import looptime

from regsweep.sources.api.pace import AdaptiveLimit

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a loop whose clock jumps over every sleep."""
    with asyncio.Runner(loop_factory=looptime.new_event_loop) as runner:
        return runner.run(main)


async def send(
    limit: AdaptiveLimit, serve: asyncio.Lock | None, seconds: float, status: int = 200
) -> None:
    async with limit.slot("manifest_head") as slot:
        if serve is None:
            await asyncio.sleep(seconds)
        else:
            async with serve:
                await asyncio.sleep(seconds)
        slot.answered(status)


async def load(limit: AdaptiveLimit, requests: int, seconds: float, *, one_at_a_time: bool) -> int:
    """Send ``requests`` at once; return the most ever in flight."""
    serve = asyncio.Lock() if one_at_a_time else None
    in_flight = most = 0

    async def tracked() -> None:
        nonlocal in_flight, most
        async with limit.slot("manifest_get") as slot:
            in_flight += 1
            most = max(most, in_flight)
            if serve is None:
                await asyncio.sleep(seconds)
            else:
                async with serve:
                    await asyncio.sleep(seconds)
            in_flight -= 1
            slot.answered(200)

    await asyncio.gather(*(tracked() for _ in range(requests)))
    return most


def test_the_window_grows_to_the_ceiling_while_every_answer_takes_one_round_trip() -> None:
    limit = AdaptiveLimit(initial=4, ceiling=16)

    most = run(load(limit, 400, 0.01, one_at_a_time=False))

    assert limit.limit == 16
    assert most == 16


def test_the_window_shrinks_when_requests_only_queue_inside_the_registry() -> None:
    """Serving one request at a time, each request in flight adds a service time to the
    latency of the others: past a few, more in flight only wait."""
    limit = AdaptiveLimit(initial=12, ceiling=32)

    run(load(limit, 300, 0.002, one_at_a_time=True))

    assert limit.limit <= 5


def test_a_burst_of_overloaded_answers_halves_the_window_once() -> None:
    limit = AdaptiveLimit(initial=8, ceiling=32)

    async def burst() -> None:
        await asyncio.gather(*(send(limit, None, 0.01, status=503) for _ in range(8)))

    run(burst())

    assert limit.limit == 4


def test_retry_after_holds_every_new_request_until_it_has_passed() -> None:
    limit = AdaptiveLimit(initial=8, ceiling=8)
    sent: list[float] = []

    async def refused_then_others() -> None:
        async with limit.slot("blob_get") as slot:
            slot.answered(429, retry_after=0.3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(3):
            async with limit.slot("manifest_get") as slot:
                sent.append(loop.time() - started)
                slot.answered(200)

    run(refused_then_others())

    assert min(sent) >= 0.29
    assert limit.limit == 4


def test_the_window_never_goes_below_one() -> None:
    limit = AdaptiveLimit(initial=1, ceiling=4)

    async def refused() -> None:
        for _ in range(3):
            await send(limit, None, 0, status=429)

    run(refused())

    assert limit.limit == 1


def test_a_request_cancelled_while_it_waits_gives_its_place_back() -> None:
    limit = AdaptiveLimit(initial=1, ceiling=1)

    async def main() -> None:
        first = asyncio.create_task(send(limit, None, 0.05))
        await asyncio.sleep(0)
        waiting = asyncio.create_task(send(limit, None, 0))
        await asyncio.sleep(0.01)
        waiting.cancel()
        await first
        await asyncio.wait_for(send(limit, None, 0), timeout=1)  # the place is free again

    run(main())
