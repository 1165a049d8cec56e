"""BigQuery's error answers: ``{"error": {"code", "message", "errors": [{reason, message, ...}], "status"}}``.

The reason decides what the client does: ``google-cloud-bigquery`` retries ``backendError`` and
``rateLimitExceeded`` (and restarts a query job that failed with ``jobBackendError``), and raises the
api_core exception of the HTTP status otherwise (400 BadRequest, 403 Forbidden, 404 NotFound...).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

# HTTP status -> the google.rpc status name BigQuery puts in ``error.status``.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
# Reason -> HTTP status, for errors raised by reason alone (a failed job's errorResult carries no status).
REASON_STATUS = {
    "invalidQuery": 400,
    "invalid": 400,
    "badRequest": 400,
    "jobBackendError": 400,
    "rateLimitExceeded": 403,
    "quotaExceeded": 403,
    "notFound": 404,
    "duplicate": 409,
    "backendError": 500,
}


class BigQueryError(Exception):
    """One error answer; ``location`` is BigQuery's pointer ("query", "q", a parameter name)."""

    def __init__(self, reason: str, message: str, *, status: int | None = None, location: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status if status is not None else REASON_STATUS.get(reason, 400)
        self.location = location

    def error_proto(self) -> dict[str, Any]:
        """The ErrorProto of a job's ``status.errorResult`` / ``status.errors``."""
        proto: dict[str, Any] = {"reason": self.reason, "message": self.message}
        if self.location is not None:
            proto["location"] = self.location
        return proto

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.status,
                "message": self.message,
                "errors": [{**self.error_proto(), "domain": "global"}],
                "status": _STATUS_NAMES.get(self.status, "UNKNOWN"),
            }
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)

    @classmethod
    def from_proto(cls, proto: dict[str, Any]) -> BigQueryError:
        return cls(proto["reason"], proto["message"], location=proto.get("location"))


def not_found(kind: str, project: str, name: str, location: str | None = None) -> BigQueryError:
    """BigQuery's wording: ``Not found: Table p:d.t was not found in location US``."""
    where = f" was not found in location {location}" if location else ""
    return BigQueryError("notFound", f"Not found: {kind} {project}:{name}{where}")


def invalid_query(message: str) -> BigQueryError:
    return BigQueryError("invalidQuery", message, location="query")


def answering_errors(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """A route whose BigQueryError becomes BigQuery's error answer."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except BigQueryError as error:
            return error.response()

    return endpoint
