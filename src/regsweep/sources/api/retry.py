"""When a request is tried again, and how long to wait first.

Only requests that can be repeated without changing the outcome are retried: GET and HEAD,
DELETE (a second DELETE of the same digest finds it gone, which callers treat as done) and
PUT of a manifest (the same bytes under the same reference). A retried POST could start a
second upload, so it never is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from stamina.instrumentation import RetryDetails

from regsweep.sources.api.errors import describe_request

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "DELETE", "PUT"})

#: Overloaded (429) or failing for now (5xx). 501 is "not implemented": retrying cannot help.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class RetryableAnswer(Exception):
    """Raised inside an attempt to have stamina retry an error answer; carries the answer."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"{response.status_code} {response.reason_phrase}")
        self.response = response


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff for transient failures (exponential with jitter, like every stamina retry)."""

    attempts: int = 5
    #: overall budget for one request, waits included
    timeout: float = 120.0
    wait_initial: float = 0.2
    wait_max: float = 10.0
    wait_jitter: float = 0.5
    #: a longer ``Retry-After`` is waited this long at most, so a rate limiter cannot stall a
    #: run for an hour; the request then fails after ``attempts`` like any other
    max_retry_after: float = 60.0

    def hook(self, *, connect_errors: bool = True) -> Callable[[BaseException], bool | float]:
        """stamina's ``on``: retry or not, and the server's ``Retry-After`` when it sent one.

        ``connect_errors=False`` fails fast when nothing answers at all (the first ping: a
        wrong URL should be reported at once, not after a minute of backoff).
        """

        def decide(exc: BaseException) -> bool | float:
            if isinstance(exc, RetryableAnswer):
                wait = self.wait_asked(exc.response)
                return True if wait is None else wait
            if isinstance(exc, httpx.ConnectError):
                return connect_errors
            return isinstance(exc, httpx.TransportError)

        return decide

    def wait_asked(self, response: httpx.Response) -> float | None:
        """The server's ``Retry-After``, at most ``max_retry_after``; None when it sent none."""
        wait = retry_after(response)
        return None if wait is None else min(wait, self.max_retry_after)


def retry_after(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds the ``Retry-After`` header asks to wait (delta-seconds or HTTP date), if any."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def log_retry(details: RetryDetails) -> None:
    """A stamina retry hook: one line saying which request is tried again, why, and when.

    stamina's own hook logs only ``stamina.retry_scheduled``, which tells a user watching
    a slow run nothing. Requests are named as in errors (no query, no headers), so the
    line is safe to print.
    """
    cause = details.caused_by
    what = "a request"
    try:
        if isinstance(cause, RetryableAnswer):
            what = describe_request(cause.response.request)
        elif isinstance(cause, httpx.RequestError):
            what = describe_request(cause.request)
    except RuntimeError:  # an httpx error made without its request
        pass
    log.warning(
        "retrying %s after %s (retry %d, in %.1f s)",
        what,
        str(cause) or type(cause).__name__,
        details.retry_num,
        details.wait_for,
    )
