"""Seeded fault injection and the request rate limit, as an ASGI middleware in front of ``/amc/*``.

Per ``/amc/*`` request (after the rate limit) one draw picks at most one fault:

- ``5xx``: 500, 502 or 503 with an AMC-style body (502 with a gateway's plain-text body);
- ``429``: 429 with ``Retry-After: 1`` and the throttling body;
- ``timeout``: the answer is held ``timeout_fault_seconds`` (then a 504), past any sane client timeout;
- ``slow``: the normal answer, ``slow_fault_seconds`` late;
- ``drop``: the socket is closed with no response at all.

``failed`` (executions), ``truncate`` (downloads) and ``expire`` (download URLs) are drawn where
those happen. ``/_sandbox/*``, ``/auth/*`` and downloads get no request faults.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from .config import SandboxConfig
from .ratelimit import RateLimiter
from .stats import SandboxStats

THROTTLED_BODY = {"code": "429", "details": "Too Many Requests: the request was throttled. Retry after the Retry-After delay."}


class FaultInjector:
    """Seeded draws, shared by the middleware, the scheduler and the download routes (thread-safe)."""

    def __init__(self, config: SandboxConfig, stats: SandboxStats) -> None:
        self.rates = config.faults
        self.stats = stats
        self._rng = random.Random(config.seed + 1)
        self._lock = threading.Lock()

    def _chance(self, rate: float, kind: str) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            hit = self._rng.random() < rate
        if hit:
            self.stats.fault(kind)
        return hit

    def draw_request_fault(self) -> str | None:
        """One of server_error / throttled / timeout / slow / dropped, or None."""
        rates = self.rates
        if not any(getattr(rates, kind) for kind in rates.REQUEST_KINDS):
            return None
        with self._lock:
            roll = self._rng.random()
        cumulative = 0.0
        for kind in rates.REQUEST_KINDS:
            cumulative += getattr(rates, kind)
            if roll < cumulative:
                self.stats.fault(kind)
                return kind
        return None

    def draw_server_status(self) -> int:
        with self._lock:
            return self._rng.choice((500, 502, 503))

    def draw_truncated(self) -> bool:
        return self._chance(self.rates.truncated, "truncated")

    def draw_expired(self) -> bool:
        return self._chance(self.rates.expired, "expired")


# Scope key under which the middleware leaves the server's own ``send`` for routes that must abort.
SERVER_SEND = "amc_sandbox.server_send"


def abort_connection(send: Send) -> bool:
    """Close the client's socket without (the rest of) a response; True if it could be done.

    uvicorn hands the app a bound ``RequestResponseCycle.send`` whose object owns the asyncio
    transport; aborting it resets the TCP connection, which is what a dropped connection looks like.
    Starlette wraps ``send`` on the way in, so routes use the one saved in ``scope[SERVER_SEND]``.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return False
    transport.abort()
    return True


async def _send_json(send: Send, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


class FaultMiddleware:
    """Rate limit and request faults for ``/amc/*``; everything else passes untouched.

    It must wrap the Starlette app from outside (not via ``add_middleware``) so that it receives
    uvicorn's own ``send``, the only one that can abort the connection.
    """

    def __init__(self, app: ASGIApp, config: SandboxConfig, injector: FaultInjector, limiter: RateLimiter) -> None:
        self.app = app
        self.config = config
        self.injector = injector
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[SERVER_SEND] = send
        if scope["type"] != "http" or not scope["path"].startswith("/amc/"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        retry_after = self.limiter.retry_after(headers.get("amazon-advertising-api-clientid"))
        if retry_after is not None:
            self.injector.stats.fault("rate_limited")
            await _send_json(send, 429, THROTTLED_BODY, {"Retry-After": str(retry_after)})
            return
        fault = self.injector.draw_request_fault()
        if fault is None:
            await self.app(scope, receive, send)
        elif fault == "server_error":
            await self._server_error(send)
        elif fault == "throttled":
            await _send_json(send, 429, THROTTLED_BODY, {"Retry-After": "1"})
        elif fault == "timeout":
            await asyncio.sleep(self.config.timeout_fault_seconds)
            await _send_json(send, 504, {"code": "504", "details": "Gateway Timeout"})
        elif fault == "slow":
            await asyncio.sleep(self.config.slow_fault_seconds)
            await self.app(scope, receive, send)
        elif fault == "dropped" and not abort_connection(send):
            # Not under uvicorn (no transport to abort): the closest answer is a broken gateway.
            await _send_json(send, 502, {"code": "502", "details": "Bad Gateway"})

    async def _server_error(self, send: Send) -> None:
        status = self.injector.draw_server_status()
        if status == 502:
            body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            await send(
                {
                    "type": "http.response.start",
                    "status": 502,
                    "headers": [(b"content-type", b"text/html"), (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
        elif status == 503:
            await _send_json(send, 503, {"code": "503", "details": "Service Unavailable. Please try again later."})
        else:
            await _send_json(send, 500, {"code": "500", "details": "Internal Server Error"})
