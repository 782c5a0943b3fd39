"""A TCP relay on 127.0.0.1 that delays every request to a registry, as a WAN round trip does.

Each connection a client opens is relayed to the registry over a connection of its own, so
keep-alive and requests in flight behave as they would without the relay. The bytes a
client sends wait ``delay`` seconds before they are passed on (in order); the answers come
back at once. One request, one added wait: a client that waits for each answer in turn pays
it once per request, a client with requests in flight pays it once per window.

It works on bytes, not on HTTP, so it adds little CPU of its own; it runs in a process of
its own (``python benchmarks/delay_proxy.py UPSTREAM_PORT DELAY_MS``, or :func:`delayed`),
so its work never competes with the client measured for one interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOOPBACK = "127.0.0.1"
_CHUNK = 1 << 16


async def _send_late(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
) -> None:
    """Pass on what ``reader`` receives, each chunk ``delay`` seconds after it arrived."""
    loop = asyncio.get_running_loop()
    due: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            when, data = await due.get()
            if not data:
                break
            if (wait := when - loop.time()) > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    delivering = asyncio.create_task(deliver())
    try:
        while data := await reader.read(_CHUNK):
            due.put_nowait((loop.time() + delay, data))
    finally:
        due.put_nowait((0.0, b""))
        await delivering


async def _send_now(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(_CHUNK):
        writer.write(data)
        await writer.drain()
    with contextlib.suppress(OSError):
        writer.write_eof()


async def serve(upstream_port: int, delay: float) -> None:
    """Relay 127.0.0.1:<printed port> to 127.0.0.1:``upstream_port`` until stopped; the
    connections still open then are closed (without this, asyncio prints a "Task was
    destroyed but it is pending" block for each into the benchmark's output)."""
    relays: set[asyncio.Task[object]] = set()

    async def relay(client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        relays.add(task)
        task.add_done_callback(relays.discard)
        try:
            upstream_in, upstream_out = await asyncio.open_connection(LOOPBACK, upstream_port)
        except OSError:
            client_out.close()
            return
        try:
            await asyncio.gather(
                _send_late(client_in, upstream_out, delay), _send_now(upstream_in, client_out)
            )
        except OSError:
            pass
        finally:
            for writer in (client_out, upstream_out):
                writer.close()

    server = await asyncio.start_server(relay, LOOPBACK, 0, backlog=256)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)


@contextmanager
def delayed(upstream: str, delay_ms: float) -> Iterator[str]:
    """Run the relay in front of ``upstream`` (``127.0.0.1:PORT``); yield its host:port.

    Its process is started directly (its pid is the relay's) and stopped with SIGTERM.
    """
    host, _, port = upstream.rpartition(":")
    if host != LOOPBACK:
        raise ValueError(f"the relay only forwards to {LOOPBACK}, not {upstream}")
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), port, str(delay_ms)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        listening = proc.stdout.readline().strip()
        if not listening.isdigit():
            raise RuntimeError(f"delay proxy did not start (exit {proc.poll()})")
        yield f"{LOOPBACK}:{listening}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), float(sys.argv[2]) / 1000))
