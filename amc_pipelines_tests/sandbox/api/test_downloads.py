"""Download URLs: unavailable before success, signed, split files, tampering and expiry answers."""

from __future__ import annotations

import csv
import io
import time

import httpx

from amc_pipelines_tests.fixtures.sandbox_server import amc_client

# One row per campaign and day: enough rows to split into several files.
SQL = (
    "SELECT campaign, impression_date, SUM(impressions) AS impressions FROM dsp_impressions "
    "GROUP BY campaign, impression_date"
)
WINDOW = {"timeWindowType": "MOST_RECENT_WEEK"}


def _succeeded(client, sql=SQL):
    created = client.submit(sql, **WINDOW)
    finished, _ = client.wait(created["workflowExecutionId"])
    assert finished["status"] == "SUCCEEDED", finished
    return created["workflowExecutionId"]


def test_download_urls_unavailable_until_succeeded(make_sandbox):
    client = amc_client(make_sandbox(latency="5"))
    created = client.submit(SQL, **WINDOW)
    response = client.http.get(client.reporting(f"/workflowExecutions/{created['workflowExecutionId']}/downloadUrls"))
    assert response.status_code == 400
    assert response.json()["details"] == f"Execution with ID {created['workflowExecutionId']} is unavailable for download."


def test_signed_urls_download_every_file(make_sandbox):
    client = amc_client(make_sandbox(max_rows_per_file=5))
    execution_id = _succeeded(client)
    urls = client.http.get(client.reporting(f"/workflowExecutions/{execution_id}/downloadUrls")).json()
    assert set(urls) == {"downloadUrls", "metadataDownloadUrls"}
    assert len(urls["downloadUrls"]) > 1 and urls["metadataDownloadUrls"]  # split at max_rows_per_file
    rows = []
    for url in urls["downloadUrls"]:
        assert "X-Amz-Signature=" in url and "X-Amz-Expires=600" in url
        response = httpx.get(url)  # no auth headers: the signature is the credential
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(response.content)
        file_rows = list(csv.reader(io.StringIO(response.text)))
        assert len(file_rows) - 1 <= 5
        rows += file_rows[1:]
    metadata = httpx.get(urls["metadataDownloadUrls"][0]).json()
    assert metadata["workflowExecutionId"] == execution_id
    assert len(metadata["files"]) == len(urls["downloadUrls"])


def test_tampered_url_is_403_signature_mismatch(sandbox_server):
    client = amc_client(sandbox_server)
    execution_id = _succeeded(client)
    url = client.http.get(client.reporting(f"/workflowExecutions/{execution_id}/downloadUrls")).json()["downloadUrls"][0]
    tampered = httpx.get(url.replace("X-Amz-Expires=600", "X-Amz-Expires=6000"))
    assert tampered.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in tampered.text
    unsigned = httpx.get(url.split("?")[0])
    assert unsigned.status_code == 403 and "<Code>AccessDenied</Code>" in unsigned.text


def test_url_expires_after_its_ttl(make_sandbox):
    client = amc_client(make_sandbox(download_url_ttl_seconds=2))
    execution_id = _succeeded(client)
    url = client.http.get(client.reporting(f"/workflowExecutions/{execution_id}/downloadUrls")).json()["downloadUrls"][0]
    assert httpx.get(url).status_code == 200
    time.sleep(3.1)  # X-Amz-Date has whole-second precision, so a URL lives between ttl-1 and ttl s
    expired = httpx.get(url)
    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code>" in expired.text and "Request has expired" in expired.text
