"""JSON answers and errors in AMC's shapes, and request-body reading shared by the routes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

# Versioned media types AMC documents; the answer echoes the one the client asked for.
MEDIA_TYPES = (
    "application/vnd.amcworkflows.v1+json",
    "application/vnd.amcworkflowexecutions.v1+json",
    "application/vnd.amcschedules.v1+json",
    "application/vnd.amcdatasources.v1+json",
)


class ApiError(Exception):
    """An AMC error answer: ``{"code": ..., "details": ...}`` with an HTTP status."""

    def __init__(self, status: int, details: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(details)
        self.status = status
        self.code = code or str(status)
        self.details = details
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse({"code": self.code, "details": self.details}, status_code=self.status, headers=self.headers)


def json_answer(request: Request, body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, media_type=_media_type(request))


def _media_type(request: Request) -> str:
    asked = f"{request.headers.get('accept', '')},{request.headers.get('content-type', '')}"
    for media_type in MEDIA_TYPES:
        if media_type in asked:
            return media_type
    return "application/json"


async def json_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (any JSON-ish content type), or a 400 naming the problem."""
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, "Request body is required and must be a JSON object.")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"Request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object.")
    return body


def iso_utc(moment: datetime) -> str:
    """AMC's timestamp format: ``2023-08-16T04:12:53Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now() -> datetime:
    return datetime.now(UTC)


def page_limit(request: Request, default: int = 100) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, f"limit {raw!r} is not a number; use 1 to 100.") from None
    if not 1 <= limit <= 100:
        raise ApiError(400, f"limit {limit} is out of range; use 1 to 100.")
    return limit


def paginate(
    request: Request, items: list[Any], key: str, position: Callable[[Any], str | int]
) -> dict[str, Any]:
    """One page of ``items`` under ``key`` with an opaque ``nextToken``.

    ``items`` are in ascending ``position`` order (ids or sequence numbers); the token carries the
    position of the last item served, so pages stay correct when items are added or deleted between calls.
    """
    limit = page_limit(request)
    after = decode_token(request.query_params.get("nextToken"))
    remaining = items if after is None else [item for item in items if position(item) > after]
    body: dict[str, Any] = {key: remaining[:limit]}
    if len(remaining) > limit:
        body["nextToken"] = encode_token(position(remaining[limit - 1]))
    return body


def encode_token(position: str | int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": position}).encode()).decode().rstrip("=")


def decode_token(token: str | None) -> str | int | None:
    if not token:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after = decoded["after"]
        if not isinstance(after, str | int):
            raise TypeError(after)
        return after
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, f"nextToken {token!r} is not valid; pass the nextToken of the previous page.") from None
