"""The project's error types, and the exit code each one maps to.

::

    RegsweepError                 base; never raised itself
    ├── UsageError                bad flags, config, policy or input: exit 2, nothing changed
    │   └── NotARegistryError     the storage folder or URL is not a registry
    └── OperationError            something failed part way: exit 1
        └── RegistryAPIError      the registry answered an error (carries its code)

Adapters (storage, HTTP, subprocess) turn library exceptions into these at the boundary,
so the CLI needs only one handler.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class RegsweepError(Exception):
    """Base of every error regsweep raises on purpose."""

    exit_code = EXIT_FAILED


class UsageError(RegsweepError):
    """The user's input is wrong; raised before anything is changed."""

    exit_code = EXIT_USAGE


class NotARegistryError(UsageError):
    """The folder or URL given does not hold a registry."""


class OperationError(RegsweepError):
    """A step failed after work had started; what was done is in the journal."""

    exit_code = EXIT_FAILED


class RegistryAPIError(OperationError):
    """An error answer from the registry API, with its OCI error code when it sent one."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
