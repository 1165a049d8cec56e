"""Typed AMC errors that carry AMC's own message, and the mapping from HTTP answers to them."""

from __future__ import annotations

import json
import re

import httpx

# AMC's documented error bodies put the failure text in any of these fields, depending on the
# endpoint; LwA uses OAuth's shape (error, error_description).
_MESSAGE_FIELDS = ("details", "message", "statusReason", "error_description", "errorMessage")
_S3_CODE = re.compile(r"<Code>([^<]*)</Code>")
_S3_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")


class AmcError(Exception):
    """An AMC call failed; ``message`` is AMC's own text, ``status``/``code`` its HTTP status and code."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None, operation: str = "") -> None:
        self.message = message
        self.status = status
        self.code = code
        self.operation = operation
        prefix = f"{operation}: " if operation else ""
        suffix = f" (HTTP {status}{', ' + code if code and code != str(status) else ''})" if status else ""
        super().__init__(f"{prefix}{message}{suffix}")


class AmcConfigurationError(AmcError):
    """The client cannot be used as configured (missing credentials, unknown region...)."""


class AmcBadRequest(AmcError):
    """400: AMC refused the request; retrying the same request cannot help."""


class AmcAuthError(AmcError):
    """401/403: the token, the credentials or the advertiser/instance headers are not accepted."""


class AmcNotFound(AmcError):
    """404: the instance, workflow or execution does not exist."""


class AmcThrottled(AmcError):
    """429: too many requests; ``retry_after`` is AMC's Retry-After in seconds (None if absent)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class AmcServerError(AmcError):
    """5xx: AMC (or a gateway in front of it) failed; safe to retry."""


class AmcTransportError(AmcError):
    """No answer: a timeout or a dropped/refused connection."""


class AmcAmbiguousSubmit(AmcTransportError):
    """A request that creates something (an execution) got no answer: AMC MAY have accepted it.

    Do not simply submit again: look the execution up through the list API first.
    """


class AmcDownloadError(AmcError):
    """Result files could not be downloaded completely (not ready, truncated, expired, missing)."""


class AmcWaitTimeout(AmcError, TimeoutError):
    """An execution did not finish within the time the caller was prepared to wait."""


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (AMC sends whole seconds); None if absent or unparseable."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def answer_text(response: httpx.Response) -> tuple[str | None, str]:
    """(code, message) from an error answer: AMC JSON, LwA JSON, S3 XML or plain text."""
    body = response.text if response.content else ""
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        code = payload.get("code") or payload.get("error")
        for name in _MESSAGE_FIELDS:
            if payload.get(name):
                return (str(code) if code is not None else None), str(payload[name])
        return (str(code) if code is not None else None), body[:500]
    code_match, message_match = _S3_CODE.search(body), _S3_MESSAGE.search(body)
    if code_match or message_match:
        return (code_match.group(1) if code_match else None), (message_match.group(1) if message_match else body[:500])
    text = " ".join(body.split())[:500]
    return None, text or response.reason_phrase or f"HTTP {response.status_code}"


def error_from_response(response: httpx.Response, operation: str = "") -> AmcError:
    """The typed error for a non-2xx answer, carrying AMC's own message."""
    status = response.status_code
    code, message = answer_text(response)
    kwargs = {"status": status, "code": code, "operation": operation}
    if status == 429:
        return AmcThrottled(message, retry_after=retry_after_seconds(response), **kwargs)
    if status >= 500:
        return AmcServerError(message, **kwargs)
    if status in (401, 403):
        return AmcAuthError(message, **kwargs)
    if status == 404:
        return AmcNotFound(message, **kwargs)
    if status == 400:
        return AmcBadRequest(message, **kwargs)
    return AmcError(message, **kwargs)
