"""Admin and schema calls: ``GET /amc/accounts``, ``GET /amc/instances``, ``.../dataSources``.

Shapes: ``{"amcAccounts": [...]}``; ``{"instances": [...], "nextToken": ...}`` (instances of the
account named by ``Amazon-Advertising-API-AdvertiserId``); ``{"dataSources": [...], "nextToken": ...}``
and a bare data source for ``dataSources/{dataSourceId}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from amc_pipelines.sandbox.tables import Table, sandbox_tables

from .responses import ApiError, json_answer, paginate

# Amazon Ads API regions by marketplace, for the instance's apiEndpoint.
_REGION_HOSTS = {
    "NA": "https://advertising-api.amazon.com",
    "EU": "https://advertising-api-eu.amazon.com",
    "FE": "https://advertising-api-fe.amazon.com",
}


def instance_to_api(instance: Any, base_url: str) -> dict[str, Any]:
    """An instance as ``GET /amc/instances`` lists it (documented fields plus the sandbox's own)."""
    return {
        "instanceId": instance.instance_id,
        "instanceName": f"{instance.advertiser} ({instance.marketplace_id})",
        "instanceType": "STANDARD",
        "customerCanonicalName": instance.advertiser,
        "creationStatus": "COMPLETED",
        "creationDatetime": None,
        "s3BucketName": f"amc-{instance.instance_id}-sandbox",
        "awsAccountId": None,
        "entities": ["NA"],
        "apiEndpoint": base_url,
        "acrCollaboration": None,
        "optionalDatasets": [],
        "advertiserTypes": ["SPONSORED_ADS", "DISPLAY"],
        # Not in AMC's answer, but what an operator needs to register the instance.
        "accountId": instance.account_id,
        "marketplaceId": instance.marketplace_id,
        "region": instance.region,
        "timeZone": instance.timezone,
        "realApiEndpoint": _REGION_HOSTS.get(instance.region),
    }


async def list_accounts(request: Request) -> Response:
    backend = request.app.state.sandbox.backend
    accounts: dict[str, dict[str, Any]] = {}
    for instance in backend.instances:
        accounts.setdefault(
            instance.account_id,
            {
                "accountId": instance.account_id,
                "accountName": f"{instance.advertiser} AMC account",
                "marketplaceId": instance.marketplace_id,
            },
        )
    return json_answer(request, {"amcAccounts": sorted(accounts.values(), key=lambda a: a["accountId"])})


async def list_instances(request: Request, account_id: str) -> Response:
    backend = request.app.state.sandbox.backend
    base_url = str(request.base_url).rstrip("/")
    instances = [instance_to_api(i, base_url) for i in backend.instances if i.account_id == account_id]
    if not instances and all(i.account_id != account_id for i in backend.instances):
        raise ApiError(403, f"Not authorized to access AMC account {account_id}.", "FORBIDDEN")
    return json_answer(request, paginate(request, instances, "instances", lambda i: i["instanceId"]))


def data_source_to_api(table: Table) -> dict[str, Any]:
    return {
        "dataSourceId": table.name,
        "name": table.name,
        "eventTimeColumn": table.event_time_column,
        "columns": [
            {
                "name": column.name,
                "dataType": column.amc_type,
                "columnType": column.kind,
                "aggregationThreshold": column.threshold.name,
            }
            for column in table.columns
        ],
    }


async def list_data_sources(request: Request, instance_id: str) -> Response:
    sources = [data_source_to_api(t) for _, t in sorted(sandbox_tables().items())]
    return json_answer(request, paginate(request, sources, "dataSources", lambda s: s["dataSourceId"]))


async def get_data_source(request: Request, instance_id: str) -> Response:
    name = request.path_params["dataSourceId"]
    table = sandbox_tables().get(name)
    if table is None:
        raise ApiError(404, f"Data source {name} not found.")
    return json_answer(request, data_source_to_api(table))
