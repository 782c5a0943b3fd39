"""Shared fixtures: real registries on loopback, always stopped at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.support.images import Pusher
from tests.support.registry import RegistryServer

RegistryFactory = Callable[..., RegistryServer]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    """A started registry with default config, storage under ``tmp_path/registry``."""
    with RegistryServer.create(tmp_path / "registry") as server:
        yield server


@pytest.fixture
def pusher(registry: RegistryServer) -> Iterator[Pusher]:
    with Pusher(registry.url) as client:
        yield client


@pytest.fixture
def registry_factory(tmp_path: Path) -> Iterator[RegistryFactory]:
    """``make(extra_config=None, *, start=True)`` creates another registry in its own folder.

    ``start=False`` lets a test write files the config refers to (htpasswd, certificates)
    before calling ``start()``. Every registry made is stopped at teardown.
    """
    with ExitStack() as stack:
        count = 0

        def make(
            extra_config: dict[str, Any] | None = None, *, start: bool = True
        ) -> RegistryServer:
            nonlocal count
            count += 1
            server = RegistryServer.create(
                tmp_path / f"registry-{count}", extra_config=extra_config
            )
            stack.callback(server.stop)
            if start:
                server.start()
            return server

        yield make
