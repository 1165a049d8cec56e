"""Workflow executions: requests, windows, asynchronous states, cancel, timeouts, listing."""

from __future__ import annotations

import time

import pytest

from amc_pipelines_tests.fixtures.sandbox_server import amc_client

SQL = "SELECT campaign, SUM(impressions) AS impressions FROM dsp_impressions GROUP BY campaign"
EXPLICIT = {
    "timeWindowType": "EXPLICIT",
    "timeWindowStart": "2024-03-04T00:00:00",
    "timeWindowEnd": "2024-03-11T00:00:00",
    "timeWindowTimeZone": "America/New_York",
}


def test_ad_hoc_execution_shape_and_success(sandbox_server):
    client = amc_client(sandbox_server)
    created = client.submit(SQL, **EXPLICIT)
    assert created["status"] == "PENDING"
    assert created["workflowId"].startswith("transient_")
    assert created["timeWindowStart"] == "2024-03-04T05:00:00Z"  # New York is UTC-5 in early March
    assert created["timeWindowStartOriginal"] == "2024-03-04T00:00:00"
    assert created["timeWindowTimeZone"] == "America/New_York"
    for field in ("workflowExecutionId", "createTime", "lastUpdatedTime", "parameterValues", "dataGaps"):
        assert field in created
    finished, _ = client.wait(created["workflowExecutionId"])
    assert finished["status"] == "SUCCEEDED", finished
    assert finished["outputS3URI"].startswith("s3://")


def test_saved_workflow_execution_with_parameters(sandbox_server):
    client = amc_client(sandbox_server)
    workflow = {
        "workflowId": "campaigns-by-id",
        "sqlQuery": "SELECT campaign, SUM(impressions) AS impressions FROM dsp_impressions "
        "WHERE ARRAY_CONTAINS(CUSTOM_PARAMETER('campaign_ids'), campaign_id_string) GROUP BY campaign",
        "inputParameters": [{"name": "campaign_ids", "dataType": {"type": "ARRAY", "elementDataType": "STRING"}}],
    }
    assert client.http.post(client.reporting("/workflows"), json=workflow).status_code == 200
    response = client.http.post(
        client.reporting("/workflowExecutions"),
        json={"workflowId": "campaigns-by-id", "parameterValues": {"campaign_ids": ["1", "2"]}, **EXPLICIT},
    )
    assert response.status_code == 200
    created = response.json()
    assert created["workflowId"] == "campaigns-by-id"
    assert created["parameterValues"] == {"campaign_ids": ["1", "2"]}
    finished, _ = client.wait(created["workflowExecutionId"])
    assert finished["status"] == "SUCCEEDED", finished
    unknown = client.http.post(client.reporting("/workflowExecutions"), json={"workflowId": "nope", **EXPLICIT})
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2024-03-04T00:00:00Z", "2024-03-11T00:00:00", "time zone suffix"),
        ("2024-03-04", "2024-03-11T00:00:00", "date alone"),
        ("2024-03-04T00:00:00", "2024-03-11T00:00:00+01:00", "time zone suffix"),
        ("2024-03-11T00:00:00", "2024-03-04T00:00:00", "must be after"),
    ],
)
def test_bad_window_values_are_400(sandbox_server, start, end, expected):
    client = amc_client(sandbox_server)
    body = {"workflow": {"sqlQuery": SQL}, **EXPLICIT, "timeWindowStart": start, "timeWindowEnd": end}
    response = client.http.post(client.reporting("/workflowExecutions"), json=body)
    assert response.status_code == 400
    assert expected in response.json()["details"]


@pytest.mark.parametrize(
    "body",
    [
        {"workflow": {"sqlQuery": SQL}, "timeWindowType": "LAST_CENTURY"},
        {"workflow": {"sqlQuery": SQL}, "timeWindowTimeZone": "Mars/Olympus"},
        {"workflow": {"sqlQuery": SQL}, "timeWindowType": "EXPLICIT"},
        {"workflow": {"sqlQuery": SQL}, "workflowId": "both"},
        {"timeWindowType": "MOST_RECENT_DAY"},
        {"workflow": {"sqlQuery": SQL}, "parameterValues": ["x"]},
        {"workflow": {"sqlQuery": SQL}, "workflowExecutionTimeoutSeconds": "soon"},
    ],
)
def test_malformed_requests_are_400(sandbox_server, body):
    client = amc_client(sandbox_server)
    response = client.http.post(client.reporting("/workflowExecutions"), json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "400"


@pytest.mark.parametrize("window_type", ["MOST_RECENT_DAY", "MOST_RECENT_WEEK", "CURRENT_MONTH", "PREVIOUS_MONTH"])
def test_relative_windows(sandbox_server, window_type):
    client = amc_client(sandbox_server)
    created = client.submit(SQL, timeWindowType=window_type)
    assert created["timeWindowType"] == window_type
    assert created["timeWindowStart"] < created["timeWindowEnd"]


def test_invalid_sql_is_created_then_rejected(sandbox_server):
    client = amc_client(sandbox_server)
    created = client.submit("SELECT * FROM dsp_impressions", **EXPLICIT)
    finished, _ = client.wait(created["workflowExecutionId"])
    assert finished["status"] == "REJECTED"
    assert finished["statusReason"]


def test_dry_run_validates_only(sandbox_server):
    client = amc_client(sandbox_server)
    before = sandbox_server.stats()["executions_created"]
    valid = client.http.post(client.reporting("/workflowExecutions"), json={"workflow": {"sqlQuery": SQL}, "dryRun": True, **EXPLICIT})
    assert valid.status_code == 200 and valid.json()["dryRun"] is True
    invalid = client.http.post(
        client.reporting("/workflowExecutions"), json={"workflow": {"sqlQuery": "SELECT * FROM dsp_impressions"}, "dryRun": True, **EXPLICIT}
    )
    assert invalid.status_code == 400 and invalid.json()["details"]
    assert sandbox_server.stats()["executions_created"] == before


def test_latency_keeps_execution_unfinished(make_sandbox):
    client = amc_client(make_sandbox(latency="0.6"))
    started = time.monotonic()
    created = client.submit(SQL, **EXPLICIT)
    finished, seen = client.wait(created["workflowExecutionId"])
    assert finished["status"] == "SUCCEEDED"
    assert "RUNNING" in seen
    # Lower bound only: the execution cannot finish before its latency.
    assert time.monotonic() - started >= 0.6


def test_cancel_pending_and_running_then_400_when_finished(make_sandbox):
    client = amc_client(make_sandbox(latency="5", max_running_per_instance=1))
    running = client.submit(SQL, **EXPLICIT)
    pending = client.submit(SQL, **EXPLICIT)
    assert client.execution(pending["workflowExecutionId"])["status"] == "PENDING"
    for execution in (pending, running):
        path = client.reporting(f"/workflowExecutions/{execution['workflowExecutionId']}")
        response = client.http.put(path, json={"status": "CANCELLED"})
        assert response.status_code == 200
        assert response.json()["workflowExecution"]["status"] == "CANCELLED"
        again = client.http.put(path, json={"status": "CANCELLED"})
        assert again.status_code == 400
    assert client.http.put(client.reporting("/workflowExecutions/unknown-id"), json={"status": "CANCELLED"}).status_code == 404
    assert client.http.get(client.reporting("/workflowExecutions/unknown-id")).status_code == 404


def test_execution_timeout_fails(make_sandbox):
    client = amc_client(make_sandbox(latency="3"))
    created = client.submit(SQL, workflowExecutionTimeoutSeconds=1, **EXPLICIT)
    finished, _ = client.wait(created["workflowExecutionId"])
    assert finished["status"] == "FAILED"
    assert "timed out" in finished["statusReason"]


def test_list_filters_and_pages(make_sandbox):
    client = amc_client(make_sandbox())
    created = [client.submit(SQL, **EXPLICIT)["workflowExecutionId"] for _ in range(5)]
    for execution_id in created:
        client.wait(execution_id)
    seen, token = [], None
    while True:
        params = {"limit": 2, **({"nextToken": token} if token else {})}
        page = client.http.get(client.reporting("/workflowExecutions"), params=params).json()
        seen += [e["workflowExecutionId"] for e in page["executions"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == created
    one_workflow = client.execution(created[0])["workflowId"]
    filtered = client.http.get(client.reporting("/workflowExecutions"), params={"workflowId": one_workflow}).json()
    assert [e["workflowExecutionId"] for e in filtered["executions"]] == [created[0]]
    future = client.http.get(client.reporting("/workflowExecutions"), params={"minCreationTime": "2999-01-01T00:00:00"}).json()
    assert future["executions"] == []
    assert client.http.get(client.reporting("/workflowExecutions"), params={"minCreationTime": "2024-01-01"}).status_code == 400
