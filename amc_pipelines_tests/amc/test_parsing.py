"""Shapes and headers the sandbox does not produce, through httpx.MockTransport (the real API's variants)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest

from amc_pipelines.amc import (
    AmcAuthError,
    AmcClient,
    AmcError,
    InstanceContext,
    RetryPolicy,
    WorkflowExecution,
)
from amc_pipelines.settings import Settings

CTX = InstanceContext("amcabcdef123", "ENTITY1234567890", "ATVPDKIKX0DER", "EU")
RETRY = RetryPolicy(max_attempts=3, base_backoff_seconds=0.0, max_backoff_seconds=0.0)


def _client(handler, **changes) -> AmcClient:
    values = {"api_url": "https://amc.example.test", "token_url": "https://lwa.example.test/auth/o2/token",
              "client_id": "client-1", "client_secret": "s", "refresh_token": "r", "api_rate_per_second": 1000.0,
              **changes}
    return AmcClient(replace(Settings.from_env({}), **values), transport=httpx.MockTransport(handler), retry=RETRY)


def _token(request: httpx.Request) -> httpx.Response | None:
    if request.url.path == "/auth/o2/token":
        return httpx.Response(200, json={"access_token": f"tok-{request.content.count(b'&')}", "expires_in": 3600})
    return None


def test_headers_media_types_and_region_host():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if (answer := _token(request)) is not None:
            return answer
        seen.append(request)
        return httpx.Response(200, json={"workflowId": "w", "sqlQuery": "SELECT 1"})

    with _client(handler, api_url="region") as amc:
        amc.get_workflow(CTX, "w")
    request = seen[0]
    assert str(request.url) == "https://advertising-api-eu.amazon.com/amc/reporting/amcabcdef123/workflows/w"
    assert request.headers["Authorization"].startswith("Bearer tok-")
    assert request.headers["Amazon-Advertising-API-ClientId"] == "client-1"
    assert request.headers["Amazon-Advertising-API-AdvertiserId"] == "ENTITY1234567890"
    assert request.headers["Amazon-Advertising-API-MarketplaceId"] == "ATVPDKIKX0DER"
    assert request.headers["Accept"] == "application/vnd.amcworkflows.v1+json"


def test_execution_shapes_and_list_key_variants():
    bare = {"workflowExecutionId": "e1", "status": "publishing", "timeWindowTimeZoneOriginal": "Europe/Berlin",
            "outputS3URI": "s3://b/k/", "parameterValues": None, "createTime": "2023-09-18T22:01:56Z"}
    wrapped = WorkflowExecution.parse({"workflowExecution": {**bare, "status": "SUCCEEDED"}})
    parsed = WorkflowExecution.parse(bare)
    assert parsed.status == "PUBLISHING" and not parsed.is_terminal
    assert parsed.time_window_time_zone == "Europe/Berlin" and parsed.output_s3_uri == "s3://b/k/"
    assert parsed.parameter_values == {} and parsed.create_time.year == 2023
    assert wrapped.succeeded and wrapped.workflow_execution_id == "e1"
    with pytest.raises(ValueError, match="not a workflow execution"):
        WorkflowExecution.parse({"code": "400"})

    pages = {None: {"workflowExecutions": [bare], "nextToken": "t2"}, "t2": {"workflowExecutions": [{**bare, "workflowExecutionId": "e2"}]}}

    def handler(request: httpx.Request) -> httpx.Response:
        if (answer := _token(request)) is not None:
            return answer
        assert request.url.params["limit"] == "100"
        assert request.url.params["minCreationTime"] == "2025-01-02T03:04:05"
        return httpx.Response(200, json=pages[request.url.params.get("nextToken")])

    with _client(handler) as amc:
        listed = list(amc.list_executions(CTX, min_creation_time=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)))
    assert [e.workflow_execution_id for e in listed] == ["e1", "e2"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"code": "400", "message": "SQL is invalid"}, "SQL is invalid"),
        ({"statusReason": "Query rejected: LIMIT"}, "Query rejected: LIMIT"),
        ({"code": "BAD", "details": "details win"}, "details win"),
    ],
)
def test_amc_message_fields(body, expected):
    def handler(request: httpx.Request) -> httpx.Response:
        return _token(request) or httpx.Response(422, json=body)

    with _client(handler) as amc, pytest.raises(AmcError) as failed:
        amc.get_execution(CTX, "e1")
    assert failed.value.message == expected and failed.value.status == 422


def test_a_second_401_is_an_auth_error_after_exactly_one_refresh():
    api_requests = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal api_requests
        if (answer := _token(request)) is not None:
            return answer
        api_requests += 1
        return httpx.Response(401, json={"code": "UNAUTHORIZED", "details": "token revoked"})

    with _client(handler) as amc, pytest.raises(AmcAuthError, match="token revoked"):
        amc.get_execution(CTX, "e1")
    assert api_requests == 2 and amc.auth.refreshes == 2 and amc.api_calls == 2


def _download_handler(bodies: list[bytes]):
    def handler(request: httpx.Request) -> httpx.Response:
        if (answer := _token(request)) is not None:
            return answer
        if request.url.path.endswith("/downloadUrls"):
            return httpx.Response(200, json={"downloadUrls": ["https://s3.example.test/b/x/result.csv?X-Amz-Signature=1"]})
        # Chunked (no Content-Length): completeness rests on the CSV checks.
        return httpx.Response(200, content=iter([bodies.pop(0)]), headers={"content-type": "text/csv"})

    return handler


def test_a_chunked_csv_cut_mid_row_is_downloaded_again(tmp_path):
    bodies = [b"a,b\n1,2\n3,", b"a,b\n1,2\n3,4\n"]
    with _client(_download_handler(bodies)) as amc:
        (file,) = amc.download_results(CTX, "e1", tmp_path)
    assert file.path.read_bytes() == b"a,b\n1,2\n3,4\n" and file.header == ["a", "b"] and bodies == []


def test_an_empty_file_is_not_a_result(tmp_path):
    with _client(_download_handler([b"", b"", b"", b"", b""])) as amc, pytest.raises(AmcError, match="empty"):
        amc.download_results(CTX, "e1", tmp_path)


def test_lwa_retry_after_is_slept_without_a_limiter():
    answers = [httpx.Response(429, headers={"Retry-After": "0"}, json={"error": "slow down"}),
               httpx.Response(200, json={"access_token": "t", "expires_in": 3600})]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/o2/token":
            return answers.pop(0)
        return httpx.Response(200, content=json.dumps({"workflowExecutionId": "e", "status": "RUNNING"}))

    with _client(handler) as amc:
        assert amc.get_execution(CTX, "e").status == "RUNNING"
    assert answers == []
