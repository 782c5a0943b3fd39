"""Where the registry credentials come from: flags or environment, else the Docker config.

Order: ``--username`` with ``--password``/``--password-stdin`` (or ``REGISTRY_USERNAME`` and
``REGISTRY_PASSWORD``); else ``$DOCKER_CONFIG/config.json`` (default ``~/.docker``): its
``credHelpers`` entry for the registry, its ``credsStore``, then its ``auths`` entry. A
``docker login`` therefore just works. Errors name the file or helper, never a secret.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from regsweep.core.errors import UsageError

log = logging.getLogger(__name__)

#: A credential helper answering slower than this is treated as broken.
HELPER_TIMEOUT = 30.0
_HELPER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Credentials:
    """A username and password (or token); the password never appears in a repr."""

    username: str
    password: str = field(repr=False)

    def basic(self) -> str:
        """The ``Authorization`` header value for HTTP basic auth."""
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


def resolve_credentials(
    registry_url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Credentials | None:
    """Credentials for ``registry_url``, or None for anonymous access."""
    if username or password:
        if not username or password is None:
            raise UsageError(
                "--username needs --password or --password-stdin (or REGISTRY_PASSWORD), "
                "and a password needs a --username"
            )
        return Credentials(username, password)
    return docker_credentials(registry_url, env=env)


def docker_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    folder = env.get("DOCKER_CONFIG")
    return Path(folder) / "config.json" if folder else Path.home() / ".docker" / "config.json"


def docker_credentials(
    registry_url: str, *, env: Mapping[str, str] | None = None
) -> Credentials | None:
    """What ``docker login`` stored for this registry's host[:port], if anything."""
    path = docker_config_path(env)
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read Docker config {path}: {exc}") from None
    if not isinstance(config, dict):
        raise UsageError(f"Docker config {path} is not a JSON object")
    host = registry_host(registry_url)
    helpers = config.get("credHelpers")
    helper = helpers.get(host) if isinstance(helpers, dict) else None
    helper = helper or config.get("credsStore")
    if isinstance(helper, str) and helper:
        found = helper_credentials(helper, host, env=env)
        if found is not None:
            return found
    auths = config.get("auths")
    if isinstance(auths, dict):
        for key, entry in auths.items():
            if registry_host(key) == host and isinstance(entry, dict):
                return _auth_entry(entry, path, key)
    return None


def registry_host(url_or_key: str) -> str:
    """``host[:port]`` of a URL or of a Docker config key (``https://h:5000/v1/`` or ``h:5000``)."""
    text = url_or_key if "://" in url_or_key else f"//{url_or_key}"
    parts = urlsplit(text)
    return (parts.netloc or url_or_key).rpartition("@")[2].lower()


def _auth_entry(entry: Mapping[str, object], path: Path, key: str) -> Credentials | None:
    if isinstance(entry.get("identitytoken"), str) and entry["identitytoken"]:
        raise UsageError(
            f"Docker config {path} holds an identity token for {key}, which regsweep does "
            "not support: pass --username and --password-stdin instead"
        )
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            username, sep, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise UsageError(f"Docker config {path}: the auth of {key} is not base64") from None
        if not sep:
            raise UsageError(f"Docker config {path}: the auth of {key} is not user:password")
        return Credentials(username, password)
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and isinstance(secret, str) and name:
        return Credentials(name, secret)
    return None


def helper_credentials(
    helper: str, host: str, *, env: Mapping[str, str] | None = None
) -> Credentials | None:
    """Ask ``docker-credential-<helper> get`` for ``host``; None when it has nothing."""
    if not _HELPER_NAME.fullmatch(helper):
        raise UsageError(f"invalid Docker credential helper name {helper!r}")
    program = f"docker-credential-{helper}"
    try:
        result = subprocess.run(
            [program, "get"],
            input=host,
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT,
            env=dict(os.environ if env is None else env),
            check=False,
        )
    except FileNotFoundError:
        # Common with a config copied from Docker Desktop ("credsStore": "desktop").
        log.warning("Docker credential helper %s is not installed; ignored", program)
        return None
    except subprocess.TimeoutExpired:
        raise UsageError(f"{program} did not answer within {HELPER_TIMEOUT:.0f}s") from None
    if result.returncode != 0:
        if "not found" in (result.stdout + result.stderr).lower():
            return None
        raise UsageError(f"{program} get failed with exit code {result.returncode}")
    try:
        answer = json.loads(result.stdout)
    except ValueError:
        raise UsageError(f"{program} get did not answer JSON") from None
    username = answer.get("Username") if isinstance(answer, dict) else None
    secret = answer.get("Secret") if isinstance(answer, dict) else None
    if not isinstance(username, str) or not isinstance(secret, str) or not username:
        return None
    if username == "<token>":
        raise UsageError(
            f"{program} holds an identity token for {host}, which regsweep does not "
            "support: pass --username and --password-stdin instead"
        )
    return Credentials(username, secret)
