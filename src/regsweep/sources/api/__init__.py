"""The registry over its HTTP API (OCI distribution spec): client, auth, TLS, discovery."""

from regsweep.sources.api.client import ManifestBytes, ManifestHead, RegistryClient
from regsweep.sources.api.errors import (
    DeleteDisabledError,
    RegistryAuthError,
    RegistryUnreachableError,
)
from regsweep.sources.api.retry import RetryPolicy

__all__ = [
    "DeleteDisabledError",
    "ManifestBytes",
    "ManifestHead",
    "RegistryAuthError",
    "RegistryClient",
    "RegistryUnreachableError",
    "RetryPolicy",
]
