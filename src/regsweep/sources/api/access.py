"""How to reach a registry's API, as the settings hold it: the values, without the client.

Apart from :mod:`.client` and :mod:`.open`, so that every command's settings can hold them
without importing httpx (about 4 MiB of memory for a command on storage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from regsweep.core.errors import UsageError

#: The most requests in flight at once (``--concurrency``). The window starts lower and
#: grows only while the registry keeps up (see regsweep.sources.api.pace): on loopback
#: distribution's CPU is the ceiling well below this, across a WAN each request waits a
#: round trip that only requests in flight overlap.
DEFAULT_CONCURRENCY = 32
#: Seconds to connect, or between two reads of an answer.
DEFAULT_TIMEOUT = 30.0


def check_registry_url(url: str) -> str:
    """``url`` without a trailing slash; refuse what is not a plain http(s) base URL.

    Credentials in the URL are refused because URLs appear in messages and journals.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{url!r} is not an http(s) URL (e.g. https://registry.example:5000)")
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            "the registry URL must not contain credentials: use --username and "
            "--password-stdin (or REGISTRY_USERNAME/REGISTRY_PASSWORD)"
        )
    if parts.query or parts.fragment:
        raise UsageError(
            f"the registry URL must not have a query or fragment: {url!r}; give the base URL "
            "(e.g. https://registry.example:5000)"
        )
    return url.rstrip("/")


@dataclass(frozen=True)
class RegistryAccess:
    """How to reach a registry's API: where, as whom, trusting what.

    ``username`` and ``password`` None fall back to the Docker config and its credential
    helpers (see :mod:`regsweep.sources.api.credentials`). The password is kept out of
    ``repr`` so that no log or traceback prints it.
    """

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    #: do not verify the registry's TLS certificate (an explicit choice, never a fallback)
    insecure: bool = False
    #: seconds to connect, or between two reads of an answer; see RetryPolicy
    timeout: float = DEFAULT_TIMEOUT
    #: the most requests in flight at once (the window adapts below it)
    concurrency: int = DEFAULT_CONCURRENCY
