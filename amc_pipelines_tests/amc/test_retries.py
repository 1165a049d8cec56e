"""Retries against the sandbox's injected faults, counted by the sandbox's own stats.

The sandbox counts a faulted request under ``faults_injected`` (it never reaches the route) and an
answered one under ``calls``, so every request the client sent shows up in exactly one of them.
"""

from __future__ import annotations

import time

import pytest

from amc_pipelines.amc import (
    AmcAmbiguousSubmit,
    AmcBadRequest,
    AmcNotFound,
    AmcServerError,
    AmcThrottled,
    AmcTransportError,
    LocalRateLimiter,
)

from .support import FAST_RETRY, SQL, calls, context, faults, recent_window, sandbox_client, sandbox_settings

REQUEST_FAULTS = ("server_error", "throttled", "timeout", "dropped", "slow")


def _sent(server) -> int:
    stats = server.stats()
    return sum(stats["calls"].values()) + sum(stats["faults_injected"].get(kind, 0) for kind in REQUEST_FAULTS)


def test_persistent_5xx_is_retried_up_to_the_attempt_bound(make_sandbox):
    server = make_sandbox(faults="5xx=1")
    with sandbox_client(server) as amc, pytest.raises(AmcServerError) as failed:
        amc.get_workflow(context(server), "none")
    assert failed.value.status in (500, 502, 503)
    assert faults(server, "server_error") == FAST_RETRY.max_attempts == amc.api_calls


def test_intermittent_faults_are_survived(make_sandbox):
    server = make_sandbox(faults="5xx=0.2,429=0.05,drop=0.05")
    ctx = context(server)
    with sandbox_client(server, retry=FAST_RETRY.__class__(max_attempts=10, base_backoff_seconds=0.01,
                                                           max_backoff_seconds=0.02)) as amc:
        for n in range(15):
            amc.ensure_workflow(ctx, workflow_id=f"flaky-{n}", sql=SQL)
        assert len(list(amc.list_workflows(ctx))) == 15
        sent = amc.api_calls
    assert sent == _sent(server)
    injected = sum(faults(server, kind) for kind in ("server_error", "throttled", "dropped"))
    assert injected > 0 and sent > calls(server, "listWorkflows") + 15


def test_429_honours_retry_after_through_the_rate_limiter(make_sandbox):
    server = make_sandbox(faults="429=1")
    limiter = LocalRateLimiter(1000)  # 1 ms between requests unless AMC says otherwise
    retry = FAST_RETRY.__class__(max_attempts=2, base_backoff_seconds=0.01, max_backoff_seconds=0.01)
    with sandbox_client(server, rate_limiter=limiter, retry=retry) as amc, pytest.raises(AmcThrottled) as throttled:
        amc.get_workflow(context(server), "none")
    # The second 429's Retry-After (1 s) still holds the shared schedule: the next slot is ~1 s away.
    assert limiter.reserve() - time.monotonic() > 0.5
    assert throttled.value.retry_after == 1.0 and "throttled" in throttled.value.message
    assert faults(server, "throttled") == 2 == amc.api_calls


def test_timeouts_are_retried(make_sandbox):
    server = make_sandbox(faults="timeout=1", timeout_fault_seconds=3)
    settings = sandbox_settings(server, request_timeout_seconds=0.2)
    retry = FAST_RETRY.__class__(max_attempts=3, base_backoff_seconds=0.01, max_backoff_seconds=0.01)
    with sandbox_client(server, settings=settings, retry=retry) as amc, pytest.raises(AmcTransportError, match="timed out"):
        amc.get_workflow(context(server), "none")
    assert faults(server, "timeout") == 3 == amc.api_calls


def test_dropped_connections_are_retried_for_reads(make_sandbox):
    server = make_sandbox(faults="drop=1")
    with sandbox_client(server) as amc, pytest.raises(AmcTransportError) as failed:
        list(amc.list_workflows(context(server)))
    assert not isinstance(failed.value, AmcAmbiguousSubmit)
    assert faults(server, "dropped") == FAST_RETRY.max_attempts


def test_dropped_execution_create_is_ambiguous_and_not_resent(make_sandbox):
    server = make_sandbox(faults="drop=1")
    with sandbox_client(server) as amc, pytest.raises(AmcAmbiguousSubmit, match="list executions"):
        amc.create_execution(context(server), sql=SQL, window=recent_window(server), parameter_values={})
    assert faults(server, "dropped") == 1 == amc.api_calls


def test_timed_out_execution_create_is_ambiguous(make_sandbox):
    server = make_sandbox(faults="timeout=1", timeout_fault_seconds=3)
    settings = sandbox_settings(server, request_timeout_seconds=0.2)
    with sandbox_client(server, settings=settings) as amc, pytest.raises(AmcAmbiguousSubmit):
        amc.create_execution(context(server), sql=SQL, window=recent_window(server), parameter_values={})
    assert faults(server, "timeout") == 1 == amc.api_calls


def test_5xx_on_execution_create_is_ambiguous_not_resent(make_sandbox):
    # A gateway's 5xx can come after AMC accepted the request: the client must not send it again
    # (the ledger looks the execution up first). Reads are still retried through the same faults.
    server = make_sandbox(faults="5xx=1.0")
    ctx = context(server)
    with sandbox_client(server) as amc, pytest.raises(AmcAmbiguousSubmit) as ambiguous:
        amc.create_execution(ctx, sql=SQL, window=recent_window(server), parameter_values={})
    assert "(HTTP 5" in str(ambiguous.value)
    # Faults are injected before the route, so the one injected 5xx is the one request sent.
    assert faults(server, "server_error") == 1 and amc.api_calls == 1


def test_400_and_404_are_not_retried(make_sandbox):
    server = make_sandbox()
    ctx = context(server)
    with sandbox_client(server) as amc:
        with pytest.raises(AmcBadRequest) as bad:
            amc.create_workflow(ctx, workflow_id="not valid!", sql=SQL)
        assert "workflowId" in bad.value.message and bad.value.status == 400
        assert calls(server, "createWorkflow") == 1
        with pytest.raises(AmcNotFound) as missing:
            amc.get_execution(ctx, "00000000-0000-0000-0000-000000000000")
        assert "not found" in missing.value.message
        assert calls(server, "getWorkflowExecution") == 1
        assert amc.api_calls == 2
