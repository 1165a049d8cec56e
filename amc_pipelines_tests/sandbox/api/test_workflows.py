"""Saved workflows: create, duplicate, get, update, list with paging, delete."""

from __future__ import annotations

from amc_pipelines_tests.fixtures.sandbox_server import amc_client

SQL = "SELECT campaign, SUM(impressions) AS impressions FROM dsp_impressions GROUP BY campaign"


def test_workflow_lifecycle(make_sandbox):
    client = amc_client(make_sandbox())
    body = {
        "workflowId": "weekly.campaign-impressions_v1",
        "sqlQuery": SQL,
        "inputParameters": [{"name": "campaign_ids", "dataType": {"type": "ARRAY", "elementDataType": "STRING"}, "defaultValue": []}],
        "filteredMetricsDiscriminatorColumn": "filtered",
    }
    created = client.http.post(
        client.reporting("/workflows"), json=body, headers={"Content-Type": "application/vnd.amcworkflows.v1+json"}
    )
    assert created.status_code == 200
    assert created.headers["content-type"].startswith("application/vnd.amcworkflows.v1+json")
    assert created.json()["workflowId"] == body["workflowId"]

    duplicate = client.http.post(client.reporting("/workflows"), json=body)
    assert duplicate.status_code == 400
    assert "already exists" in duplicate.json()["details"]

    fetched = client.http.get(client.reporting(f"/workflows/{body['workflowId']}")).json()
    assert fetched["sqlQuery"] == SQL and fetched["inputParameters"] == body["inputParameters"]

    updated = client.http.put(client.reporting(f"/workflows/{body['workflowId']}"), json={**body, "sqlQuery": SQL + " "})
    assert updated.status_code == 200 and updated.json()["sqlQuery"] == SQL + " "

    assert client.http.delete(client.reporting(f"/workflows/{body['workflowId']}")).status_code == 200
    assert client.http.get(client.reporting(f"/workflows/{body['workflowId']}")).status_code == 404
    assert client.http.delete(client.reporting(f"/workflows/{body['workflowId']}")).status_code == 404


def test_workflow_validation(sandbox_server):
    client = amc_client(sandbox_server)
    bad_id = client.http.post(client.reporting("/workflows"), json={"workflowId": "has space", "sqlQuery": SQL})
    assert bad_id.status_code == 400 and "workflowId" in bad_id.json()["details"]
    no_sql = client.http.post(client.reporting("/workflows"), json={"workflowId": "no-sql"})
    assert no_sql.status_code == 400 and "sqlQuery" in no_sql.json()["details"]
    not_json = client.http.post(client.reporting("/workflows"), content=b"{nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert client.http.put(client.reporting("/workflows/missing"), json={"sqlQuery": SQL}).status_code == 404


def test_workflow_list_pages_with_next_token(make_sandbox):
    client = amc_client(make_sandbox())
    ids = [f"wf-{n:02d}" for n in range(7)]
    for workflow_id in ids:
        assert client.http.post(client.reporting("/workflows"), json={"workflowId": workflow_id, "sqlQuery": SQL}).status_code == 200
    seen, token, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"nextToken": token} if token else {})}
        page = client.http.get(client.reporting("/workflows"), params=params).json()
        seen += [w["workflowId"] for w in page["workflows"]]
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    assert seen == ids and pages == 3
