"""OpenAI's error answers: ``{"error": {"message", "type", "param", "code"}}`` with OpenAI's wording.

The SDK raises by status: 400 ``BadRequestError``, 401 ``AuthenticationError``, 404 ``NotFoundError``,
429 ``RateLimitError``, 5xx ``InternalServerError``; it retries 408/409/429/5xx (``max_retries``),
waiting what ``retry-after-ms`` / ``retry-after`` say, unless ``x-should-retry: false``.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.responses import JSONResponse

DOCS_KEYS = "https://platform.openai.com/account/api-keys"
MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    f"Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from {DOCS_KEYS}."
)
SERVER_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"
OVERLOADED_MESSAGE = "The server is overloaded or not ready yet."


class OpenAIError(Exception):
    """One error answer. ``headers`` are added to the response (retry-after, x-should-retry)."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def invalid(message: str, param: str | None, code: str | None = None) -> OpenAIError:
    """400 invalid_request_error naming the parameter."""
    return OpenAIError(400, message, param=param, code=code)


def missing(param: str) -> OpenAIError:
    return invalid(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def masked(key: str) -> str:
    """How OpenAI echoes a wrong key: its start and last four characters, never the whole key."""
    return f"{key[:3]}{'*' * 8}{key[-4:]}" if len(key) > 12 else "*" * 8


def invalid_key(key: str) -> OpenAIError:
    return OpenAIError(401, f"Incorrect API key provided: {masked(key)}. You can find your API key at {DOCS_KEYS}.",
                       code="invalid_api_key")


def missing_key() -> OpenAIError:
    return OpenAIError(401, MISSING_KEY_MESSAGE)


def retry_headers(seconds: float) -> dict[str, str]:
    """What a 429 carries: the SDK prefers ``retry-after-ms``; ``retry-after`` is whole seconds (HTTP)."""
    return {
        "retry-after-ms": f"{max(seconds, 0.0) * 1000:.0f}",
        "retry-after": str(max(1, math.ceil(seconds))),
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": f"{max(seconds, 0.0) * 1000:.0f}ms",
    }


def rate_limited(model: str | None, seconds: float) -> OpenAIError:
    wait = f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:g}s"
    return OpenAIError(
        429,
        f"Rate limit reached for {model or 'requests'} in organization org-sandbox on requests per min (RPM): "
        f"Limit 500, Used 500, Requested 1. Please try again in {wait}. "
        "Visit https://platform.openai.com/account/rate-limits to learn more.",
        type="requests", code="rate_limit_exceeded", headers=retry_headers(seconds))


def server_error(status: int = 500) -> OpenAIError:
    return OpenAIError(status, SERVER_ERROR_MESSAGE if status == 500 else OVERLOADED_MESSAGE, type="server_error")


def script_error(message: str) -> OpenAIError:
    """The test's script does not fit the request (e.g. a JSON answer that breaks the strict schema).

    A 500 the SDK does not retry, whose message says what to fix in the test."""
    return OpenAIError(500, f"OpenAI stand-in script: {message}", type="sandbox_script_error",
                       headers={"x-should-retry": "false"})
