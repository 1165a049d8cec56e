"""LwA token endpoint, header checks and the admin calls (accounts, instances, dataSources)."""

from __future__ import annotations

import time

import httpx

from amc_pipelines_tests.fixtures.sandbox_server import TEST_CLIENT_ID, amc_client, fetch_token


def _token_form(**overrides):
    return {"grant_type": "refresh_token", "refresh_token": "Atzr|r", "client_id": "cid", "client_secret": "s", **overrides}


def test_token_endpoint_accepts_any_credentials_by_default(sandbox_server):
    response = httpx.post(f"{sandbox_server.url}/auth/o2/token", data=_token_form())
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"].startswith("Atza|")


def test_token_endpoint_rejects_bad_requests(sandbox_server):
    url = f"{sandbox_server.url}/auth/o2/token"
    missing = httpx.post(url, data=_token_form(client_id=""))
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    wrong_grant = httpx.post(url, data=_token_form(grant_type="password"))
    assert wrong_grant.json()["error"] == "unsupported_grant_type"


def test_token_endpoint_checks_configured_credentials(make_sandbox):
    server = make_sandbox(client_id="cid", client_secret="s3cret", refresh_token="Atzr|good")
    url = f"{server.url}/auth/o2/token"
    ok = httpx.post(url, data=_token_form(client_secret="s3cret", refresh_token="Atzr|good"))
    assert ok.status_code == 200
    bad_client = httpx.post(url, data=_token_form(client_secret="nope", refresh_token="Atzr|good"))
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    bad_grant = httpx.post(url, data=_token_form(client_secret="s3cret", refresh_token="Atzr|bad"))
    assert bad_grant.status_code == 400 and bad_grant.json()["error"] == "invalid_grant"


def test_reporting_calls_need_a_valid_token(sandbox_server):
    client = amc_client(sandbox_server)
    path = client.reporting("/workflows")
    no_token = client.http.get(path, headers={"Authorization": ""})
    assert no_token.status_code == 401
    assert set(no_token.json()) == {"code", "details"}
    unknown = client.http.get(path, headers={"Authorization": "Bearer Atza|forged"})
    assert unknown.status_code == 401
    other_client = client.http.get(path, headers={"Amazon-Advertising-API-ClientId": "someone-else"})
    assert other_client.status_code == 401
    assert client.http.get(path).status_code == 200


def test_expired_token_is_401(make_sandbox):
    server = make_sandbox(token_ttl_seconds=0.3)
    client = amc_client(server)
    assert client.http.get(client.reporting("/workflows")).status_code == 200
    time.sleep(0.4)
    expired = client.http.get(client.reporting("/workflows"))
    assert expired.status_code == 401
    assert "expired" in expired.json()["details"]


def test_headers_advertiser_and_instance_checks(sandbox_server):
    client = amc_client(sandbox_server)
    missing_marketplace = client.http.get(client.reporting("/workflows"), headers={"Amazon-Advertising-API-MarketplaceId": ""})
    assert missing_marketplace.status_code == 400
    assert "Amazon-Advertising-API-MarketplaceId" in missing_marketplace.json()["details"]
    wrong_advertiser = client.http.get(client.reporting("/workflows"), headers={"Amazon-Advertising-API-AdvertiserId": "ENTITYNOTYOURS"})
    assert wrong_advertiser.status_code == 403
    assert wrong_advertiser.json()["code"] == "FORBIDDEN"
    unknown_instance = client.http.get("/amc/reporting/amcnosuchinstance/workflows")
    assert unknown_instance.status_code == 404


def test_accounts_and_instances(sandbox_server, sandbox_dataset):
    token = fetch_token(sandbox_server)["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Amazon-Advertising-API-ClientId": TEST_CLIENT_ID}
    accounts = httpx.get(f"{sandbox_server.url}/amc/accounts", headers=headers).json()["amcAccounts"]
    assert {a["accountId"] for a in accounts} == {i.account_id for i in sandbox_dataset.instances}
    assert set(accounts[0]) == {"accountId", "accountName", "marketplaceId"}
    listed = []
    for account in accounts:
        response = httpx.get(
            f"{sandbox_server.url}/amc/instances",
            headers={
                **headers,
                "Amazon-Advertising-API-AdvertiserId": account["accountId"],
                "Amazon-Advertising-API-MarketplaceId": account["marketplaceId"],
            },
        )
        assert response.status_code == 200
        listed += response.json()["instances"]
    assert {i["instanceId"] for i in listed} == {i.instance_id for i in sandbox_dataset.instances}
    first = listed[0]
    for field in ("instanceId", "instanceName", "customerCanonicalName", "creationStatus", "apiEndpoint", "accountId", "marketplaceId"):
        assert first[field], field
    assert first["creationStatus"] == "COMPLETED"


def test_data_sources_list_page_and_get(sandbox_server):
    client = amc_client(sandbox_server)
    first = client.http.get(client.reporting("/dataSources"), params={"limit": 3}).json()
    assert len(first["dataSources"]) == 3 and "nextToken" in first
    names = [s["dataSourceId"] for s in first["dataSources"]]
    token = first["nextToken"]
    while token:
        page = client.http.get(client.reporting("/dataSources"), params={"limit": 3, "nextToken": token}).json()
        names += [s["dataSourceId"] for s in page["dataSources"]]
        token = page.get("nextToken")
    assert len(names) == len(set(names)) and "dsp_impressions" in names
    one = client.http.get(client.reporting("/dataSources/dsp_impressions")).json()
    columns = {c["name"]: c for c in one["columns"]}
    assert columns["impressions"]["columnType"] == "METRIC"
    assert columns["user_id"]["aggregationThreshold"] == "VERY_HIGH"
    assert client.http.get(client.reporting("/dataSources/no_such_table")).status_code == 404
    assert client.http.get(client.reporting("/dataSources"), params={"limit": 101}).status_code == 400
    assert client.http.get(client.reporting("/dataSources"), params={"nextToken": "garbage"}).status_code == 400
