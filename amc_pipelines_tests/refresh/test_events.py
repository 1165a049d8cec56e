"""Refresh webhooks over real HTTP: the run-failure webhook's signing, headers and retries, refresh
payloads, and a receiver that is down or refuses never raises into the refresh."""

from __future__ import annotations

import json
import logging
import socket
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from amc_pipelines.amc.transport import RetryPolicy
from amc_pipelines.notifications import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookDelivery,
    WebhookDeliveryError,
    WebhookNotifier,
    verify_signature,
)
from amc_pipelines.refresh.events import RefreshEvent, RefreshNotifier, refresh_notifier
from amc_pipelines.refresh.validation import validate_shadow
from amc_pipelines.settings import Settings
from amc_pipelines_tests.refresh.shadow_tables import (
    create_tables,
    effective,
    execute,
    new_name,
    table_config,
)
from amc_pipelines_tests.test_notifications import FAST_RETRY, HOOK_PATH, SECRET, Reply, webhook_receiver

OCCURRED = datetime(2026, 12, 8, 2, 5, tzinfo=UTC)


def _notifier(url: str, policy: RetryPolicy = FAST_RETRY) -> RefreshNotifier:
    return RefreshNotifier(WebhookNotifier(url, SECRET, retry=policy))


def _verified(request) -> dict:
    assert request.path == HOOK_PATH
    assert request.headers["Content-Type"] == "application/json"
    assert verify_signature(SECRET, request.body, timestamp=request.headers[TIMESTAMP_HEADER],
                            signature=request.headers[SIGNATURE_HEADER])
    return json.loads(request.body)


def test_a_refresh_event_is_posted_signed_with_its_payload() -> None:
    event = RefreshEvent(kind="refresh.succeeded", table="asin_performance", cycle_id="c-20261208T020000",
                         run_id=12, status="success", details={"rows_read": 120, "weeks": {"2026-11-29": {"read": 120}},
                                                               "week": datetime(2026, 11, 29).date(), "sum": Decimal("1.5")},
                         occurred_at=OCCURRED)
    with webhook_receiver() as receiver:
        delivery = _notifier(receiver.url).notify(event)

    assert isinstance(delivery, WebhookDelivery) and delivery.attempts == 1
    [request] = receiver.requests
    assert request.headers[DELIVERY_HEADER] == delivery.delivery_id
    assert _verified(request) == {
        "version": 1, "event": "refresh.succeeded", "table": "asin_performance", "cycle_id": "c-20261208T020000",
        "run_id": 12, "status": "success", "error": None,
        "details": {"rows_read": 120, "weeks": {"2026-11-29": {"read": 120}}, "week": "2026-11-29", "sum": "1.5"},
        "occurred_at": "2026-12-08T02:05:00+00:00"}
    # The same canonical body as the run-failure payload: sorted keys, compact separators.
    assert request.body == json.dumps(json.loads(request.body), sort_keys=True, separators=(",", ":")).encode()


def test_validation_failed_webhook_for_a_corrupted_shadow(db_engine: Engine) -> None:
    name = new_name()
    create_tables(db_engine, name)
    execute(db_engine, f"DELETE FROM sqp_shadow.{name} WHERE asin = 'B000000002' AND start_date = '2026-10-04'")
    result = validate_shadow(db_engine, effective(table_config(name)), run_id=5)
    assert not result.passed
    # What the cycle sends after a failed validation (refresh/cycle.py).
    event = RefreshEvent(kind="refresh.validation_failed", table=name, cycle_id="c-1", run_id=5, status="success",
                         details={"validation_id": result.validation_id, "summary": result.summary,
                                  "failed_checks": result.failed_checks})
    with webhook_receiver(Reply(503), Reply(200)) as receiver:  # retried like the run-failure webhook
        delivery = _notifier(receiver.url).notify(event)

    assert delivery.attempts == 2 and len(receiver.requests) == 2
    assert {r.headers[DELIVERY_HEADER] for r in receiver.requests} == {delivery.delivery_id}
    payload = _verified(receiver.requests[-1])
    assert (payload["event"], payload["table"], payload["run_id"]) == ("refresh.validation_failed", name, 5)
    assert payload["details"]["validation_id"] == result.validation_id
    assert {c["name"] for c in payload["details"]["failed_checks"]} == {"row_counts_by_week", "key_differences",
                                                                        "metric_sums"}


def test_a_refused_delivery_is_logged_and_returned_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    event = RefreshEvent(kind="refresh.failed", table="t", cycle_id="c-1", run_id=3, status="failed", error="boom")
    with webhook_receiver(Reply(400), Reply(200)) as receiver, caplog.at_level(logging.WARNING):
        outcome = _notifier(receiver.url).notify(event)
    assert isinstance(outcome, WebhookDeliveryError) and outcome.status_code == 400 and outcome.attempts == 1
    assert "refresh.failed (t)" in str(outcome) and "not retried" in str(outcome)
    assert "refresh webhook not delivered (the refresh goes on)" in caplog.text
    assert len(receiver.requests) == 1


def test_an_unreachable_receiver_is_returned_without_leaking_the_url_path(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    policy = RetryPolicy(max_attempts=2, base_backoff_seconds=0.01, max_backoff_seconds=0.02, max_elapsed_seconds=30.0)
    with caplog.at_level(logging.DEBUG):
        outcome = _notifier(f"http://127.0.0.1:{port}{HOOK_PATH}?token=QUERY-T0KEN", policy).notify(
            RefreshEvent(kind="refresh.cut_over", table="t", status="live"))
    assert isinstance(outcome, WebhookDeliveryError) and outcome.attempts == 2
    assert "connection failed" in str(outcome)
    for secret in (SECRET, "T0KEN-IN-PATH", "QUERY-T0KEN"):
        assert secret not in caplog.text + str(outcome)


def test_an_unknown_event_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown refresh event kind 'refresh.done'"):
        RefreshEvent(kind="refresh.done", table="t")


def test_refresh_notifier_follows_the_webhook_settings() -> None:
    assert refresh_notifier(Settings.from_env({})) is None
    notifier = refresh_notifier(Settings.from_env({"AMC_WEBHOOK_URL": "https://hooks.example.com/x",
                                                   "AMC_WEBHOOK_SECRET": SECRET}))
    assert notifier is not None
    assert (notifier.webhook.url, notifier.webhook.secret) == ("https://hooks.example.com/x", SECRET)
    assert {f.name for f in fields(RefreshEvent)} >= {"kind", "table", "cycle_id", "run_id", "status", "error",
                                                      "details", "occurred_at"}
