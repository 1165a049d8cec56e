"""Webhook notifications: a JSON POST to a webhook, HMAC-signed, retried (no Dagster here).

Two kinds of payload share this one delivery: :class:`RunFailure` (a failed Dagster run, event
``run_failure``) and the BigQuery refresh's events (``amc_pipelines.refresh.events.RefreshEvent``:
``refresh.succeeded``, ``refresh.failed``, ``refresh.validation_failed``, ``refresh.cut_over``,
``refresh.rolled_back``). Anything with ``to_json()`` and ``subject`` (:class:`WebhookPayload`) can
be posted; every payload has ``version`` and ``event`` keys so one receiver can tell them apart.

Request
    ``POST <AMC_WEBHOOK_URL>`` with ``Content-Type: application/json`` and the body of the payload's
    ``to_json()`` (keys sorted, compact separators: :func:`canonical_json`), plus these headers:

    ``X-AMC-Delivery``   a UUID, the same on every attempt of one notification (deduplicate on it)
    ``X-AMC-Timestamp``  Unix seconds when this attempt was signed
    ``X-AMC-Signature``  ``sha256=<hex>``: HMAC-SHA256 keyed with ``AMC_WEBHOOK_SECRET`` over the
                         bytes ``<timestamp> + "." + <body>``; only sent when a secret is set

Verifying (see :func:`verify_signature`): recompute the HMAC over the raw body bytes exactly as
received (never over re-serialised JSON), compare with :func:`hmac.compare_digest`, and refuse
timestamps older than a few minutes. The timestamp is inside the signed bytes, so a captured
request cannot be replayed later with a fresh timestamp.

Delivery: 2xx is success. 408, 429, 5xx, timeouts and connection errors are retried with
exponential backoff and full jitter, within a total time budget (the sensor that calls this has
about a minute per tick for several runs). Any other answer (4xx, 3xx: redirects are not followed,
so a signed body never goes to a host nobody configured) fails at once. The URL's path and query
(which often carry a token) and the secret are never logged nor put in error messages.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from amc_pipelines.amc.transport import RetryPolicy, describe_transport_error

log = logging.getLogger(__name__)

PAYLOAD_VERSION = 1
DELIVERY_HEADER = "X-AMC-Delivery"
TIMESTAMP_HEADER = "X-AMC-Timestamp"
SIGNATURE_HEADER = "X-AMC-Signature"
SIGNATURE_PREFIX = "sha256="

# Four attempts in at most 10 s: a run-status sensor tick handles up to 5 failed runs and must
# finish within Dagster's 60 s sensor timeout even when the receiver is down.
DEFAULT_RETRY_POLICY = RetryPolicy(max_attempts=4, base_backoff_seconds=0.5, max_backoff_seconds=4.0, max_elapsed_seconds=10.0)
DEFAULT_TIMEOUT_SECONDS = 5.0
_RETRIED_STATUSES = frozenset({408, 429})


class WebhookDeliveryError(RuntimeError):
    """The notification was not accepted: the receiver refused it, or every attempt failed."""

    def __init__(self, message: str, *, status_code: int | None, attempts: int) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.attempts = attempts


class WebhookPayload(Protocol):
    """What :meth:`WebhookNotifier.notify` posts: the body, and a few words for logs and errors."""

    @property
    def subject(self) -> str: ...  # e.g. "run 1234": never a secret, it is logged

    def to_json(self) -> bytes: ...


def canonical_json(payload: Mapping[str, Any]) -> bytes:
    """The body every payload is sent as: UTF-8 JSON, keys sorted, compact separators."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class RunFailure:
    """What a receiver needs to know about one failed run, independent of Dagster's types."""

    run_id: str
    job: str
    asset_keys: tuple[str, ...]
    partition_key: str | None
    partition_dimensions: Mapping[str, str]
    error_message: str
    error_class: str | None
    started_at: datetime | None
    failed_at: datetime | None
    dagster_url: str | None = None
    failed_steps: tuple[str, ...] = ()

    def to_payload(self) -> dict[str, Any]:
        return {
            "version": PAYLOAD_VERSION,
            "event": "run_failure",
            "run_id": self.run_id,
            "job": self.job,
            "asset_keys": list(self.asset_keys),
            "partition_key": self.partition_key,
            "partition": dict(self.partition_dimensions),
            "failed_steps": list(self.failed_steps),
            "error": {"message": self.error_message, "class": self.error_class},
            "started_at": _isoformat(self.started_at),
            "failed_at": _isoformat(self.failed_at),
            "dagster_url": self.dagster_url,
        }

    @property
    def subject(self) -> str:
        return f"run {self.run_id}"

    def to_json(self) -> bytes:
        return canonical_json(self.to_payload())


def _isoformat(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def run_url(ui_base_url: str | None, run_id: str) -> str | None:
    """The run's page in the Dagster UI, when the UI's address is known."""
    return f"{ui_base_url.rstrip('/')}/runs/{run_id}" if ui_base_url else None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, ``b"<timestamp>." + body``)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def verify_signature(
    secret: str,
    body: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    tolerance_seconds: float = 300.0,
    now: float | None = None,
) -> bool:
    """What a receiver does: True when the signature matches and the timestamp is recent."""
    if not timestamp or not signature:
        return False
    try:
        signed_at = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - signed_at) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, signed_at, body), signature)


def describe_endpoint(url: str) -> str:
    """``scheme://host[:port]`` only: paths and queries of webhook URLs are often secrets."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


@dataclass(frozen=True)
class WebhookDelivery:
    delivery_id: str
    status_code: int
    attempts: int


@dataclass(frozen=True)
class WebhookNotifier:
    """Posts payloads (:class:`WebhookPayload`) to one URL. ``secret`` set: every request is signed."""

    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    retry: RetryPolicy = DEFAULT_RETRY_POLICY
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    transport: httpx.BaseTransport | None = field(default=None, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    @property
    def endpoint(self) -> str:
        return describe_endpoint(self.url)

    def headers(self, body: bytes, delivery_id: str, timestamp: int) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "amc-pipelines-webhook/1",
            DELIVERY_HEADER: delivery_id,
            TIMESTAMP_HEADER: str(timestamp),
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, timestamp, body)
        return headers

    def notify(self, payload: WebhookPayload) -> WebhookDelivery:
        """Send ``payload``; returns once the receiver answered 2xx, else raises WebhookDeliveryError."""
        body = payload.to_json()
        delivery_id = str(uuid.uuid4())
        deadline = time.monotonic() + self.retry.max_elapsed_seconds
        with httpx.Client(timeout=self.timeout_seconds, follow_redirects=False, transport=self.transport) as client:
            for attempt in range(1, self.retry.max_attempts + 1):
                # Signed per attempt: a retry carries a fresh timestamp, so it passes the receiver's window.
                headers = self.headers(body, delivery_id, int(time.time()))
                status_code: int | None = None
                try:
                    response = client.post(self.url, content=body, headers=headers)
                except httpx.TransportError as exc:
                    problem = describe_transport_error(exc)
                else:
                    status_code = response.status_code
                    if response.is_success:
                        log.info("webhook %s accepted the notification of %s (HTTP %d, attempt %d)", self.endpoint, payload.subject, status_code, attempt)
                        return WebhookDelivery(delivery_id, status_code, attempt)
                    problem = f"HTTP {status_code}"
                    if status_code < 500 and status_code not in _RETRIED_STATUSES:
                        raise WebhookDeliveryError(
                            f"webhook {self.endpoint} refused the notification of {payload.subject}: "
                            f"{problem}{_excerpt(response)}; not retried (fix the receiver or AMC_WEBHOOK_URL)",
                            status_code=status_code, attempts=attempt,
                        )
                delay = self.retry.backoff(attempt)
                if attempt == self.retry.max_attempts or time.monotonic() + delay > deadline:
                    raise WebhookDeliveryError(
                        f"webhook {self.endpoint} did not accept the notification of {payload.subject} "
                        f"after {attempt} attempt(s): {problem}",
                        status_code=status_code, attempts=attempt,
                    )
                log.warning("webhook %s: %s (attempt %d of %d); retrying in %.2f s", self.endpoint, problem, attempt, self.retry.max_attempts, delay)
                self.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")


def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    text = response.text.strip().replace("\n", " ")
    if not text:
        return ""
    return f" ({text[:limit]}{'...' if len(text) > limit else ''})"
