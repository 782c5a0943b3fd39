"""The storage a registry's config file names: what its ``garbage-collect`` cleans.

A ``garbage-collect`` run on this host cleans the storage of the config it is given, not
the one regsweep cleans: on a Debian host, ``/etc/docker/registry/config.yml`` exists and
names ``/var/lib/docker-registry``. Read here so the two can be compared before the first
deletion.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from regsweep.core.errors import UsageError

#: The filesystem driver's rootdirectory when the config names none (distribution's default).
DEFAULT_ROOTDIRECTORY = "/var/lib/registry"
#: Keys of the ``storage`` section that configure something other than the driver.
_NOT_DRIVERS = frozenset({"delete", "maintenance", "cache", "redirect", "tag"})


def configured_storage(path: Path, env: Mapping[str, str]) -> str:
    """The storage the config at ``path`` uses, named as regsweep names a store
    (``Store.describe()``): a resolved folder, or ``s3://bucket[/rootdirectory]``.

    ``env`` is the environment the registry's command runs in: distribution lets
    ``REGISTRY_STORAGE``, ``REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY``,
    ``REGISTRY_STORAGE_S3_BUCKET`` and ``REGISTRY_STORAGE_S3_ROOTDIRECTORY`` override the
    file, so they are read as it reads them. Raises :class:`UsageError` naming the file when
    it cannot be read, is not a registry config, or uses a driver regsweep cannot clean.
    """
    storage = _storage_section(path)
    drivers = sorted(key for key in storage if key not in _NOT_DRIVERS)
    driver = env.get("REGISTRY_STORAGE") or (drivers[0] if len(drivers) == 1 else None)
    settings = storage.get(driver) if driver is not None else None
    settings = settings if isinstance(settings, dict) else {}
    if driver == "filesystem":
        root = _value(env, "FILESYSTEM_ROOTDIRECTORY", settings, "rootdirectory")
        return str(Path(root or DEFAULT_ROOTDIRECTORY).resolve())
    if driver == "s3":
        bucket = _value(env, "S3_BUCKET", settings, "bucket")
        prefix = (_value(env, "S3_ROOTDIRECTORY", settings, "rootdirectory") or "").strip("/")
        if not bucket:
            raise UsageError(f"registry config {path}: storage.s3 names no bucket")
        return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    raise UsageError(
        f"registry config {path}: storage driver {driver or ', '.join(drivers) or 'missing'} "
        "is not one regsweep cleans (filesystem, s3)"
    )


def _storage_section(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"registry config {path} does not exist: set DOCKER_REGISTRY_CONFIG "
            "(--docker-registry-config) to the config file of the registry regsweep cleans"
        ) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"registry config {path}: cannot read it: {first}") from None
    storage = document.get("storage") if isinstance(document, dict) else None
    if not isinstance(storage, dict):
        raise UsageError(f"registry config {path} has no storage section: is it a registry's?")
    return storage


def _value(env: Mapping[str, str], variable: str, settings: dict[str, Any], key: str) -> str | None:
    """The environment's ``REGISTRY_STORAGE_<variable>`` when it is set, even empty (as
    distribution 2.8.2 reads it: an empty rootdirectory is its default), else the file's
    ``key``."""
    name = f"REGISTRY_STORAGE_{variable}"
    found = env[name] if name in env else settings.get(key)
    return str(found) if found is not None else None
