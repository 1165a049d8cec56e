"""The refresh's webhook events, delivered like the run-failure webhook (one signing, one retry policy).

Events (the ``event`` key of the payload):

- ``refresh.succeeded`` / ``refresh.failed``: one table's copy finished (status success or warning /
  failed); sent by the cycle with the copy's counts in ``details``.
- ``refresh.validation_failed``: a shadow table differs from the live one; ``details`` has the
  validation id, its summary and the failed checks.
- ``refresh.cut_over``: a table switched from shadow to live (``amc refresh cutover``); ``details``
  has who, the validations that allowed it and the rows the live table took.
- ``refresh.rolled_back``: a table switched back from live to shadow (``amc refresh rollback``).

Payload (UTF-8 JSON, keys sorted; :meth:`RefreshEvent.to_payload`)::

    {"version": 1, "event": "refresh.cut_over", "table": "search_query_performance",
     "cycle_id": null, "run_id": null, "status": "live", "error": null,
     "details": {...}, "occurred_at": "2026-12-08T01:00:00+00:00"}

Delivery is :class:`amc_pipelines.notifications.WebhookNotifier`'s (headers ``X-AMC-Delivery``,
``X-AMC-Timestamp``, ``X-AMC-Signature``, retries within 10 s). Unlike the run-failure sensor, a
refresh must not fail because a receiver is down: :meth:`RefreshNotifier.notify` logs a delivery
failure and returns it instead of raising.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from amc_pipelines import clock
from amc_pipelines.notifications import (
    PAYLOAD_VERSION,
    WebhookDelivery,
    WebhookDeliveryError,
    WebhookNotifier,
)

log = logging.getLogger(__name__)

EVENT_KINDS = ("refresh.succeeded", "refresh.failed", "refresh.validation_failed", "refresh.cut_over",
               "refresh.rolled_back")


@dataclass(frozen=True)
class RefreshEvent:
    """One refresh event about one table; ``details`` must be JSON (dates and Decimals become strings)."""

    kind: str
    table: str
    cycle_id: str | None = None  # None for an operator's cutover or rollback
    run_id: int | None = None  # the refresh.runs row, if the event is about one
    status: str | None = None  # the run's status, or the table's new mode for cut_over / rolled_back
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime = field(default_factory=clock.now)

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown refresh event kind {self.kind!r}: use one of {', '.join(EVENT_KINDS)}")

    @property
    def subject(self) -> str:
        return f"{self.kind} ({self.table})"

    def to_payload(self) -> dict[str, Any]:
        return {
            "version": PAYLOAD_VERSION,
            "event": self.kind,
            "table": self.table,
            "cycle_id": self.cycle_id,
            "run_id": self.run_id,
            "status": self.status,
            "error": self.error,
            # Round-tripped so that dates, Decimals and tuples in details become plain JSON here,
            # and the body stays canonical (sorted keys) like every other payload.
            "details": json.loads(json.dumps(self.details, default=str)),
            "occurred_at": self.occurred_at.isoformat(),
        }

    def to_json(self) -> bytes:
        from amc_pipelines.notifications import canonical_json

        return canonical_json(self.to_payload())


@dataclass(frozen=True)
class RefreshNotifier:
    """Posts refresh events through ``webhook``; never raises a delivery failure into the refresh."""

    webhook: WebhookNotifier

    def notify(self, event: RefreshEvent) -> WebhookDelivery | WebhookDeliveryError:
        """The delivery, or the error that stopped it (already logged as a warning)."""
        try:
            return self.webhook.notify(event)
        except WebhookDeliveryError as error:
            failure = error
        except (httpx.HTTPError, httpx.InvalidURL) as error:  # e.g. an unusable URL: no attempt was made
            failure = WebhookDeliveryError(f"webhook {self.webhook.endpoint} could not be called for "
                                           f"{event.subject}: {type(error).__name__}", status_code=None, attempts=0)
        log.warning("refresh webhook not delivered (the refresh goes on): %s", failure)
        return failure


def refresh_notifier(settings=None) -> RefreshNotifier | None:
    """The notifier for ``AMC_WEBHOOK_URL`` (signed with ``AMC_WEBHOOK_SECRET``), None when no URL is set."""
    from amc_pipelines.settings import get_settings

    settings = settings or get_settings()
    if not settings.webhook_url:
        return None
    return RefreshNotifier(WebhookNotifier(settings.webhook_url, settings.webhook_secret))
