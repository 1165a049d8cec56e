"""Run-failure webhook: payload, HMAC signature, retries, and the Dagster sensor end to end.

The receiver is a real HTTP server on 127.0.0.1 that follows a script of replies (status, delay)
and records every request exactly as it arrived.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from amc_pipelines.amc.transport import RetryPolicy
from amc_pipelines.defs.notifications import amc_run_failure_webhook
from amc_pipelines.notifications import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    RunFailure,
    WebhookDeliveryError,
    WebhookNotifier,
    sign,
    verify_signature,
)
from amc_pipelines.settings import Settings

FAST_RETRY = RetryPolicy(max_attempts=4, base_backoff_seconds=0.01, max_backoff_seconds=0.05, max_elapsed_seconds=30.0)
SECRET = "whsec-test-0123456789"
HOOK_PATH = "/hooks/T0KEN-IN-PATH"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    delay_seconds: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    base_url: str
    script: list[Reply] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return self.base_url + HOOK_PATH

    def next_reply(self) -> Reply:
        with self.lock:
            return self.script.pop(0) if self.script else Reply()


@contextlib.contextmanager
def webhook_receiver(*script: Reply) -> Iterator[Receiver]:
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.requests.append(Received(self.path, dict(self.headers.items()), body))
            reply = state.next_reply()
            time.sleep(reply.delay_seconds)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if reply.status < 300 else b"receiver says no")
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                pass

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Receiver(f"http://127.0.0.1:{server.server_address[1]}", list(script))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _failure(run_id: str = "run-1234") -> RunFailure:
    return RunFailure(
        run_id=run_id,
        job="__ASSET_JOB",
        asset_keys=("amc/campaign_performance",),
        partition_key="amcaaaa000001|2024-01-01",
        partition_dimensions={"instance": "amcaaaa000001", "week": "2024-01-01"},
        error_message="REJECTED: column foo does not exist",
        error_class="AmcRejected",
        started_at=datetime(2024, 1, 10, 6, 0, tzinfo=UTC),
        failed_at=datetime(2024, 1, 10, 6, 5, tzinfo=UTC),
        dagster_url="http://127.0.0.1:3000/runs/run-1234",
        failed_steps=("amc__campaign_performance",),
    )


def test_payload_is_json_and_signature_verifies_over_the_exact_body() -> None:
    failure = _failure()
    with webhook_receiver() as receiver:
        delivery = WebhookNotifier(receiver.url, SECRET, retry=FAST_RETRY).notify(failure)

    assert delivery.status_code == 200 and delivery.attempts == 1
    [request] = receiver.requests
    assert request.path == HOOK_PATH
    assert request.headers["Content-Type"] == "application/json"
    payload = json.loads(request.body)
    assert payload == {
        "version": 1,
        "event": "run_failure",
        "run_id": "run-1234",
        "job": "__ASSET_JOB",
        "asset_keys": ["amc/campaign_performance"],
        "partition_key": "amcaaaa000001|2024-01-01",
        "partition": {"instance": "amcaaaa000001", "week": "2024-01-01"},
        "failed_steps": ["amc__campaign_performance"],
        "error": {"message": "REJECTED: column foo does not exist", "class": "AmcRejected"},
        "started_at": "2024-01-10T06:00:00+00:00",
        "failed_at": "2024-01-10T06:05:00+00:00",
        "dagster_url": "http://127.0.0.1:3000/runs/run-1234",
    }

    # The receiver's side: recompute the HMAC over the raw bytes with the shared secret.
    timestamp = request.headers[TIMESTAMP_HEADER]
    signature = request.headers[SIGNATURE_HEADER]
    assert signature == sign(SECRET, int(timestamp), request.body)
    assert signature.startswith("sha256=") and len(signature) == len("sha256=") + 64
    assert verify_signature(SECRET, request.body, timestamp=timestamp, signature=signature)
    assert request.headers[DELIVERY_HEADER] == delivery.delivery_id
    # A changed body, a wrong secret, a replayed old timestamp and a missing header all fail.
    assert not verify_signature(SECRET, request.body.replace(b"run-1234", b"run-9999"), timestamp=timestamp, signature=signature)
    assert not verify_signature("other-secret", request.body, timestamp=timestamp, signature=signature)
    assert not verify_signature(SECRET, request.body, timestamp=timestamp, signature=signature, now=int(timestamp) + 3600)
    stale = str(int(timestamp) - 3600)
    assert not verify_signature(SECRET, request.body, timestamp=stale, signature=sign(SECRET, int(stale), request.body))
    assert not verify_signature(SECRET, request.body, timestamp=None, signature=signature)


def test_without_a_secret_the_request_is_not_signed() -> None:
    with webhook_receiver() as receiver:
        WebhookNotifier(receiver.url, None, retry=FAST_RETRY).notify(_failure())
    [request] = receiver.requests
    assert SIGNATURE_HEADER not in request.headers
    assert json.loads(request.body)["run_id"] == "run-1234"


def test_server_errors_are_retried_until_the_receiver_accepts() -> None:
    with webhook_receiver(Reply(500), Reply(503), Reply(200)) as receiver:
        delivery = WebhookNotifier(receiver.url, SECRET, retry=FAST_RETRY).notify(_failure())

    assert delivery.attempts == 3
    assert len(receiver.requests) == 3
    # One notification: the same body and delivery id on every attempt, each attempt validly signed.
    assert {r.headers[DELIVERY_HEADER] for r in receiver.requests} == {delivery.delivery_id}
    assert len({r.body for r in receiver.requests}) == 1
    for request in receiver.requests:
        assert verify_signature(SECRET, request.body, timestamp=request.headers[TIMESTAMP_HEADER], signature=request.headers[SIGNATURE_HEADER])


def test_server_errors_until_attempts_run_out_raise() -> None:
    policy = RetryPolicy(max_attempts=3, base_backoff_seconds=0.01, max_backoff_seconds=0.02, max_elapsed_seconds=30.0)
    with (
        webhook_receiver(Reply(500), Reply(502), Reply(500), Reply(200)) as receiver,
        pytest.raises(WebhookDeliveryError, match=r"after 3 attempt\(s\): HTTP 500") as raised,
    ):
        WebhookNotifier(receiver.url, SECRET, retry=policy).notify(_failure())
    assert raised.value.attempts == 3 and raised.value.status_code == 500
    assert len(receiver.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_client_errors_are_not_retried(status: int) -> None:
    with (
        webhook_receiver(Reply(status), Reply(200)) as receiver,
        pytest.raises(WebhookDeliveryError, match=f"HTTP {status}.*not retried") as raised,
    ):
        WebhookNotifier(receiver.url, SECRET, retry=FAST_RETRY).notify(_failure())
    assert raised.value.attempts == 1 and raised.value.status_code == status
    assert len(receiver.requests) == 1


def test_a_timeout_is_retried() -> None:
    with webhook_receiver(Reply(200, delay_seconds=2.0), Reply(200)) as receiver:
        delivery = WebhookNotifier(receiver.url, SECRET, retry=FAST_RETRY, timeout_seconds=0.3).notify(_failure())
    assert delivery.attempts == 2
    assert len(receiver.requests) == 2


def test_timeouts_until_attempts_run_out_raise() -> None:
    policy = RetryPolicy(max_attempts=2, base_backoff_seconds=0.01, max_backoff_seconds=0.02, max_elapsed_seconds=30.0)
    with (
        webhook_receiver(Reply(200, delay_seconds=2.0), Reply(200, delay_seconds=2.0)) as receiver,
        pytest.raises(WebhookDeliveryError, match="timed out") as raised,
    ):
        WebhookNotifier(receiver.url, SECRET, retry=policy, timeout_seconds=0.3).notify(_failure())
    assert raised.value.attempts == 2 and raised.value.status_code is None


def test_unreachable_receiver_fails_without_leaking_the_secret_or_url_path(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}{HOOK_PATH}?token=QUERY-T0KEN"
    policy = RetryPolicy(max_attempts=3, base_backoff_seconds=0.01, max_backoff_seconds=0.02, max_elapsed_seconds=30.0)
    notifier = WebhookNotifier(url, SECRET, retry=policy)
    with caplog.at_level(logging.DEBUG), pytest.raises(WebhookDeliveryError, match="connection failed") as raised:
        notifier.notify(_failure())
    assert raised.value.attempts == 3
    told = caplog.text + str(raised.value) + repr(notifier)
    assert f"127.0.0.1:{port}" in str(raised.value)
    for secret in (SECRET, "T0KEN-IN-PATH", "QUERY-T0KEN"):
        assert secret not in told


# --- The Dagster sensor -----------------------------------------------------------------------

WEEK, INSTANCE = "2024-01-01", "amcaaaa000001"
week_by_instance = dg.MultiPartitionsDefinition(
    {"week": dg.StaticPartitionsDefinition([WEEK]), "instance": dg.StaticPartitionsDefinition([INSTANCE])}
)


class AmcRejected(Exception):
    pass


@dg.asset(key=["amc", "doomed_report"], partitions_def=week_by_instance)
def doomed_report() -> None:
    raise AmcRejected("REJECTED: column foo does not exist")


@dg.asset(key=["amc", "healthy_report"], partitions_def=week_by_instance)
def healthy_report() -> int:
    return 1


PARTITION = dg.MultiPartitionKey({"week": WEEK, "instance": INSTANCE})


@pytest.fixture
def webhook_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    for setting in fields(Settings):  # a developer's AMC_* variables must not leak in
        monkeypatch.delenv(setting.metadata["env"], raising=False)
    with webhook_receiver() as receiver:
        monkeypatch.setenv("AMC_WEBHOOK_URL", receiver.url)
        monkeypatch.setenv("AMC_WEBHOOK_SECRET", SECRET)
        yield receiver


def _fail_a_partition(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    result = dg.materialize([doomed_report], instance=instance, partition_key=PARTITION, raise_on_error=False)
    assert not result.success
    return result


def _assert_notified(request: Received, run: dg.DagsterRun) -> None:
    assert verify_signature(SECRET, request.body, timestamp=request.headers[TIMESTAMP_HEADER], signature=request.headers[SIGNATURE_HEADER])
    payload = json.loads(request.body)
    assert payload["run_id"] == run.run_id
    assert payload["job"] == run.job_name
    assert payload["asset_keys"] == ["amc/doomed_report"]
    assert payload["partition_key"] == run.tags["dagster/partition"] == str(PARTITION)
    assert payload["partition"] == {"instance": INSTANCE, "week": WEEK}
    assert payload["failed_steps"] == ["amc__doomed_report"]
    assert payload["error"] == {"message": "REJECTED: column foo does not exist", "class": "AmcRejected"}
    started, failed = datetime.fromisoformat(payload["started_at"]), datetime.fromisoformat(payload["failed_at"])
    assert started <= failed


def test_sensor_posts_the_failed_run_with_asset_partition_and_error(webhook_env: Receiver) -> None:
    with dg.instance_for_test() as instance:
        result = _fail_a_partition(instance)
        context = dg.build_run_status_sensor_context(
            sensor_name="amc_run_failure_webhook",
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        )
        assert amc_run_failure_webhook(context) is None

    [request] = webhook_env.requests
    _assert_notified(request, result.dagster_run)


def test_sensor_as_the_daemon_runs_it_notifies_each_failed_run_once(webhook_env: Receiver) -> None:
    with dg.instance_for_test() as instance:
        first = amc_run_failure_webhook.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert first.skip_message and "Initiating" in first.skip_message  # the cursor starts now

        result = _fail_a_partition(instance)
        assert dg.materialize([healthy_report], instance=instance, partition_key=PARTITION).success
        second = amc_run_failure_webhook.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor))
        assert [reaction.error for reaction in second.dagster_run_reactions] == [None]
        assert len(webhook_env.requests) == 1
        _assert_notified(webhook_env.requests[0], result.dagster_run)

        # The cursor moved past the failure: the next tick sends nothing again.
        third = amc_run_failure_webhook.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=second.cursor))
        assert not third.dagster_run_reactions
        assert len(webhook_env.requests) == 1


def test_sensor_reports_a_refused_notification_on_the_tick(webhook_env: Receiver) -> None:
    webhook_env.script.append(Reply(400))
    with dg.instance_for_test() as instance:
        first = amc_run_failure_webhook.evaluate_tick(dg.build_sensor_context(instance=instance))
        _fail_a_partition(instance)
        second = amc_run_failure_webhook.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    [reaction] = second.dagster_run_reactions
    assert reaction.error is not None and "HTTP 400" in reaction.error.to_string()
    assert len(webhook_env.requests) == 1


def test_sensor_skips_and_says_so_without_a_url(webhook_env: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMC_WEBHOOK_URL")
    with dg.instance_for_test() as instance:
        result = _fail_a_partition(instance)
        context = dg.build_run_status_sensor_context(
            sensor_name="amc_run_failure_webhook",
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        )
        outcome = amc_run_failure_webhook(context)
    assert isinstance(outcome, dg.SkipReason)
    assert "AMC_WEBHOOK_URL is not set" in outcome.skip_message and result.dagster_run.run_id in outcome.skip_message
    assert webhook_env.requests == []
