"""API discovery speed: the concurrent client against a sequential one, in the same run.

Synthesises a registry storage tree (default 200 repositories x 25 tags, every 10th build a
multi-arch index), serves it with the real registry on 127.0.0.1, then runs regsweep's
``discover_api`` over HTTP with ``--concurrency`` requests in flight and with one at a
time (the sequential client), alternating, after one warm-up. Prints requests, time and
requests per second for each (medians), and checks both found the same inventory.

On loopback a request costs only CPU, shared here by the registry and the client, so
``--latency-ms`` adds a simulated network round trip before each request (a registry in
another data centre): that wait is what requests in flight overlap.

    .venv/bin/python benchmarks/bench_api_discovery.py [--repositories 200] [--tags 25]
        [--concurrency 8] [--rounds 3] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synth import serve_registry, synthesize
from regsweep.core.model import Inventory
from regsweep.sources.api.client import RegistryClient
from regsweep.sources.api.discovery import discover_api


class SlowLink(httpx.AsyncBaseTransport):
    """A pooled transport that waits ``latency`` seconds before each request (a round trip)."""

    def __init__(self, latency: float, concurrency: int) -> None:
        self.latency = latency
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.inner = httpx.AsyncHTTPTransport(limits=limits)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(self.latency)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def discover(url: str, concurrency: int, latency: float) -> tuple[Inventory, int, float]:
    transport = SlowLink(latency, concurrency) if latency else None
    async with RegistryClient(url, concurrency=concurrency, transport=transport) as client:
        start = time.perf_counter()
        inventory = await discover_api(client)
        return inventory, client.requests_sent, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=200)
    parser.add_argument("--tags", type=int, default=25)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        root = Path(scratch) / "storage"
        started = time.perf_counter()
        stats = synthesize(
            root, repositories=args.repositories, tags_per_repository=args.tags, index_every=10
        )
        print(f"synthesised {stats.summary()} in {time.perf_counter() - started:.1f} s")
        with serve_registry(root, Path(scratch)) as (host, _config):
            url = f"http://{host}"
            latency = args.latency_ms / 1000
            reference, _, _ = asyncio.run(discover(url, args.concurrency, latency))  # warm-up
            print(
                f"inventory: {len(reference.repositories)} repositories, "
                f"{reference.tag_count} tags, {len(reference.manifests)} manifests"
            )
            results: dict[int, list[tuple[int, float]]] = {args.concurrency: [], 1: []}
            for _ in range(args.rounds):
                for concurrency in (1, args.concurrency):
                    inventory, requests, seconds = asyncio.run(discover(url, concurrency, latency))
                    if inventory.repositories != reference.repositories:
                        raise SystemExit(f"concurrency {concurrency} found another inventory")
                    results[concurrency].append((requests, seconds))
    print(f"{'client':<24}{'requests':>10}{'time (s)':>12}{'requests/s':>12}")
    for concurrency, runs in sorted(results.items()):
        requests = runs[0][0]
        seconds = statistics.median(s for _, s in runs)
        label = "sequential" if concurrency == 1 else f"concurrent ({concurrency} in flight)"
        print(f"{label:<24}{requests:>10}{seconds:>12.2f}{requests / seconds:>12.0f}")
    sequential = statistics.median(s for _, s in results[1])
    concurrent = statistics.median(s for _, s in results[args.concurrency])
    print(
        f"speed-up: {sequential / concurrent:.1f}x (medians of {args.rounds} rounds, "
        f"simulated round trip {args.latency_ms:g} ms)"
    )


if __name__ == "__main__":
    main()
