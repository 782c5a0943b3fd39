"""Registry answers and transport failures turned into regsweep's own error types.

::

    UsageError (exit 2, nothing changed)
    ├── RegistryUnreachableError   bad URL, connection refused, TLS failure, at the first ping
    ├── RegistryAuthError          401/403 at the first ping: wrong or missing credentials
    └── DeleteDisabledError        405 on DELETE: the registry is configured to refuse deletes
    OperationError (exit 1)
    └── RegistryAPIError           any other error answer, with status, OCI code and message
        ├── TagDeleteUnsupportedError  the registry cannot delete a tag by name
        └── MalformedAnswerError   a 200 whose body breaks the API (HTML, not JSON, wrong shape)

Messages name the registry's host and path, never a header or credential, so they are safe
to print and to journal.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from regsweep.core.errors import OperationError, RegistryAPIError, UsageError

if TYPE_CHECKING:
    import httpx

#: What to add to distribution's config.yml so that DELETE works (the default refuses it).
DELETE_CONFIG_HINT = (
    "add `storage: delete: enabled: true` to the registry's config.yml "
    "(or set REGISTRY_STORAGE_DELETE_ENABLED=true) and restart it"
)


class RegistryUnreachableError(UsageError):
    """The registry could not be reached or its TLS certificate was refused."""


class RegistryAuthError(UsageError):
    """The registry refused the credentials (or wants some and none were given)."""


class DeleteDisabledError(UsageError):
    """The registry answers 405 to DELETE: deletion is disabled or it is read-only.

    A usage error because it is a property of the registry's configuration, known from the
    first DELETE (or from :meth:`RegistryClient.check_delete_enabled` before any change).
    """


class TagDeleteUnsupportedError(RegistryAPIError):
    """DELETE by tag is not implemented (distribution 2.x answers 400 DIGEST_INVALID)."""


class MalformedAnswerError(RegistryAPIError):
    """A listing answered with something the API does not allow: HTML, not JSON, or not
    the shape the spec gives. Met while planning, the URL is not a working registry."""


def oci_error(response: httpx.Response) -> tuple[str | None, str | None]:
    """The first ``(code, message)`` of an OCI error body, or ``(None, None)``."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None, None
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None, None
    code, message = errors[0].get("code"), errors[0].get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
    )


def describe_request(request: httpx.Request) -> str:
    """``GET host/v2/...`` without query, userinfo or headers (they may carry secrets)."""
    return f"{request.method} {request.url.host}:{request.url.port or ''}{request.url.path}"


def api_error(response: httpx.Response, doing: str | None = None) -> RegistryAPIError:
    """A :class:`RegistryAPIError` for an error answer, naming what was being done."""
    code, message = oci_error(response)
    detail = f"{response.status_code}"
    if code:
        detail += f" {code}"
    if message:
        detail += f": {message}"
    elif not code:
        detail += f" {response.reason_phrase}".rstrip()
    what = doing or describe_request(response.request)
    return RegistryAPIError(
        f"{what}: registry answered {detail}", status=response.status_code, code=code
    )


def delete_disabled(response: httpx.Response) -> DeleteDisabledError:
    code, _ = oci_error(response)
    why = "deletes are disabled" if code == "UNSUPPORTED" else "it is read-only or refuses DELETE"
    return DeleteDisabledError(
        f"{describe_request(response.request)} answered 405 {code or 'Method Not Allowed'}: "
        f"{why}; {DELETE_CONFIG_HINT}"
    )


def transport_error(exc: httpx.TransportError, url: str) -> OperationError:
    """A failure to talk to the registry at all, after retries, in the middle of a run."""
    return OperationError(f"{describe_request(exc.request)}: {transport_reason(exc, url)}")


def transport_reason(exc: httpx.TransportError, url: str) -> str:
    """One line saying why ``url`` could not be reached, with what to do about it."""
    # imported here, where an httpx error is in hand (so httpx is loaded already): the
    # error classes above are imported by commands that never load it
    import httpx

    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in text:
        reason = text.split("certificate verify failed:", 1)[-1].strip(" ()_")
        return (
            f"TLS certificate of {url} not trusted ({reason}); pass --ca-cert with the CA that "
            "signed it (--insecure disables verification)"
        )
    if isinstance(exc, httpx.ConnectError) and "SSL" in text:
        return f"TLS handshake with {url} failed ({text}); is it http rather than https?"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer from {url} in time ({type(exc).__name__})"
    return f"cannot connect to {url} ({text})"
