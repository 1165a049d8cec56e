"""Retries with exponential backoff and full jitter, bounded in attempts and in total time.

Retried: 429 (Retry-After honoured; the shared rate limiter is told to pause everyone), 5xx,
timeouts and dropped connections. Never retried: any other 4xx. A request that creates something
(``creates=True``) is not re-sent after a failure that leaves its fate unknown: a timeout, a dropped
connection, or a 5xx answer (a gateway's 502/504 can come after AMC accepted the request). That raises
:class:`AmcAmbiguousSubmit`, and the ledger looks the execution up before submitting again. A 429 and
a connection that never opened are safe to retry for every request.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from .errors import AmcAmbiguousSubmit, AmcError, AmcThrottled, AmcTransportError, error_from_response

log = logging.getLogger(__name__)

# Failures where the request cannot have reached the server: always safe to send again.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``max_attempts`` sends within ``max_elapsed_seconds``.

    The n-th retry waits a uniform random time in [0, min(max_backoff, base_backoff * 2**(n-1))]
    ("full jitter"), so many workers that failed together do not retry together.
    """

    max_attempts: int = 6
    base_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    max_elapsed_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if self.base_backoff_seconds < 0 or self.max_backoff_seconds < self.base_backoff_seconds:
            raise ValueError("backoffs must satisfy 0 <= base_backoff_seconds <= max_backoff_seconds")

    def backoff(self, retry: int) -> float:
        """Seconds to wait before the ``retry``-th retry (1-based)."""
        ceiling = min(self.max_backoff_seconds, self.base_backoff_seconds * 2 ** (retry - 1))
        return random.uniform(0.0, ceiling)


def describe_transport_error(exc: httpx.TransportError) -> str:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    detail = str(exc) or type(exc).__name__
    return f"{kind} ({type(exc).__name__}: {detail})"


def send_with_retries(
    send: Callable[[], httpx.Response],
    *,
    policy: RetryPolicy,
    operation: str,
    creates: bool = False,
    penalize: Callable[[float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Response:
    """The first answer that is neither 429 nor 5xx (2xx or another 4xx: the caller decides).

    Raises the typed error of the last failure when attempts or time run out. ``penalize`` is the
    shared rate limiter's: a 429's Retry-After pauses every caller, and the next acquire waits it out;
    without it, this call sleeps at least Retry-After itself.
    """
    deadline = time.monotonic() + policy.max_elapsed_seconds
    for attempt in range(1, policy.max_attempts + 1):
        error: AmcError
        try:
            response = send()
        except httpx.TransportError as exc:
            message = describe_transport_error(exc)
            if creates and not isinstance(exc, _NEVER_SENT):
                raise AmcAmbiguousSubmit(
                    f"{message}; AMC may have accepted the request, so it was not sent again: "
                    "look the execution up (list executions) before submitting again",
                    operation=operation,
                ) from exc
            error = AmcTransportError(message, operation=operation)
            delay = policy.backoff(attempt)
        else:
            if response.status_code != 429 and response.status_code < 500:
                return response
            error = error_from_response(response, operation)
            if creates and response.status_code >= 500:
                raise AmcAmbiguousSubmit(
                    f"{error}; AMC may have accepted the request before failing, so it was not sent again: "
                    "look the execution up (list executions) before submitting again",
                    operation=operation,
                ) from error
            delay = policy.backoff(attempt)
            if isinstance(error, AmcThrottled) and error.retry_after:
                if penalize is not None:
                    penalize(error.retry_after)
                else:
                    delay = max(delay, error.retry_after)
        if attempt == policy.max_attempts or time.monotonic() + delay > deadline:
            raise error
        log.info("%s failed (attempt %d of %d): %s; retrying in %.2f s", operation, attempt, policy.max_attempts, error, delay)
        sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")
