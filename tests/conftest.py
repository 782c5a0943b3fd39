"""Shared fixtures: real registries on loopback, always stopped at teardown."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.support.images import Pusher
from tests.support.moto import MotoServer, S3Registry, s3_driver
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


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto S3 server for the session; each test makes its own bucket."""
    with MotoServer(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


@pytest.fixture
def s3_registry(moto_server: MotoServer, tmp_path: Path) -> Iterator[S3Registry]:
    """A started registry on its S3 driver, its storage in a fresh bucket on moto."""
    bucket = f"registry-{secrets.token_hex(6)}"
    moto_server.create_bucket(bucket)
    server = RegistryServer.create(
        tmp_path / "registry",
        storage_driver=s3_driver(moto_server, bucket),
        extra_config={"storage": {"redirect": {"disable": True}}},
    )
    with server:
        yield S3Registry(server, moto_server, bucket)
