"""Running limit per instance, rate limit, every injected fault as a client sees it, stats and reset."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from amc_pipelines_tests.fixtures.sandbox_server import amc_client

SQL = "SELECT campaign, SUM(impressions) AS impressions FROM dsp_impressions GROUP BY campaign"
WINDOW = {"timeWindowType": "MOST_RECENT_WEEK"}


def test_at_most_ten_running_per_instance(make_sandbox):
    server = make_sandbox(latency="0.3-0.5")
    client = amc_client(server)
    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(lambda _: client.submit(SQL, **WINDOW)["workflowExecutionId"], range(25)))
    peak_seen = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        executions = client.http.get(client.reporting("/workflowExecutions")).json()["executions"]
        statuses = [e["status"] for e in executions]
        peak_seen = max(peak_seen, statuses.count("RUNNING"))
        assert statuses.count("RUNNING") <= 10
        if all(s == "SUCCEEDED" for s in statuses) and len(statuses) == 25:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"not all executions finished: {statuses}")
    stats = server.stats()
    assert stats["max_running_by_instance"] == {client.instance_id: 10}
    assert stats["executions_created"] == 25
    assert stats["status_counts"] == {"SUCCEEDED": 25}
    assert peak_seen <= 10 and len(set(created)) == 25


def test_rate_limit_answers_429_with_retry_after(make_sandbox):
    server = make_sandbox(rate_limit_per_second=0.5, rate_limit_burst=3)
    client = amc_client(server)
    statuses = [client.http.get(client.reporting("/workflows")) for _ in range(5)]
    codes = [r.status_code for r in statuses]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    throttled = statuses[3]
    assert int(throttled.headers["Retry-After"]) >= 1
    assert set(throttled.json()) == {"code", "details"}
    assert server.stats()["faults_injected"]["rate_limited"] == 2


def test_server_errors(make_sandbox):
    server = make_sandbox(faults="5xx=1")
    client = amc_client(server)
    codes = {client.http.get(client.reporting("/workflows")).status_code for _ in range(20)}
    assert codes <= {500, 502, 503} and len(codes) >= 2
    assert server.stats()["faults_injected"]["server_error"] == 20
    # /_sandbox/* and the token endpoint are never faulted.
    assert httpx.get(f"{server.url}/_sandbox/health").status_code == 200


def test_throttling_fault(make_sandbox):
    client = amc_client(make_sandbox(faults="429=1"))
    response = client.http.get(client.reporting("/workflows"))
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"


def test_timeout_fault_outlasts_a_short_client_timeout(make_sandbox):
    client = amc_client(make_sandbox(faults="timeout=1", timeout_fault_seconds=5))
    with pytest.raises(httpx.ReadTimeout):
        client.http.get(client.reporting("/workflows"), timeout=0.3)


def test_slow_fault_still_answers(make_sandbox):
    server = make_sandbox(faults="slow=1", slow_fault_seconds=0.3)
    client = amc_client(server)
    started = time.monotonic()
    assert client.http.get(client.reporting("/workflows")).status_code == 200
    assert time.monotonic() - started >= 0.3
    assert server.stats()["faults_injected"]["slow"] == 1


def test_dropped_connection(make_sandbox):
    client = amc_client(make_sandbox(faults="drop=1"))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.http.get(client.reporting("/workflows"))


def test_failed_executions(make_sandbox):
    server = make_sandbox(faults="failed=1")
    client = amc_client(server)
    finished, _ = client.wait(client.submit(SQL, **WINDOW)["workflowExecutionId"])
    assert finished["status"] == "FAILED"
    assert "internal error" in finished["statusReason"]
    assert server.stats()["faults_injected"]["failed"] == 1


def _download_url(client):
    created = client.submit(SQL, **WINDOW)
    assert client.wait(created["workflowExecutionId"])[0]["status"] == "SUCCEEDED"
    path = client.reporting(f"/workflowExecutions/{created['workflowExecutionId']}/downloadUrls")
    return client.http.get(path).json()["downloadUrls"][0]


def test_truncated_download_is_detected_by_length(make_sandbox):
    server = make_sandbox(faults="truncate=1")
    url = _download_url(amc_client(server))
    received = 0
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", url) as response:
        declared = int(response.headers["content-length"])
        for chunk in response.iter_raw():
            received += len(chunk)
    assert 0 < received < declared
    assert server.stats()["faults_injected"]["truncated"] == 1


def test_expired_url_fault(make_sandbox):
    url = _download_url(amc_client(make_sandbox(faults="expire=1")))
    response = httpx.get(url)
    assert response.status_code == 403 and "Request has expired" in response.text


def test_stats_and_reset(make_sandbox):
    server = make_sandbox()
    client = amc_client(server)
    client.wait(client.submit(SQL, **WINDOW)["workflowExecutionId"])
    stats = server.stats()
    for key in ("executions_created", "max_running_by_instance", "running_by_instance", "calls", "faults_injected", "status_counts"):
        assert key in stats
    assert stats["calls"]["createWorkflowExecution"] == 1
    assert stats["calls"]["getWorkflowExecution"] >= 1
    server.reset()
    after = server.stats()
    assert after["executions_created"] == 0 and after["calls"] == {} and after["max_running_by_instance"] == {}
    assert after["status_counts"] == {"SUCCEEDED": 1}  # executions kept unless asked
    server.reset(executions=True)
    assert server.stats()["status_counts"] == {}


def test_concurrent_requests_from_threads(make_sandbox):
    server = make_sandbox()
    client = amc_client(server)

    def work(n: int) -> int:
        workflow_id = f"thread-{n}"
        assert client.http.post(client.reporting("/workflows"), json={"workflowId": workflow_id, "sqlQuery": SQL}).status_code == 200
        assert client.http.get(client.reporting(f"/workflows/{workflow_id}")).status_code == 200
        return client.http.get(client.reporting("/workflows")).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert set(pool.map(work, range(48))) == {200}
    listed = client.http.get(client.reporting("/workflows")).json()["workflows"]
    assert len(listed) == 48
    assert server.stats()["calls"]["createWorkflow"] == 48
