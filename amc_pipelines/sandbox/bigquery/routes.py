"""The BigQuery v2 REST API that ``google-cloud-bigquery`` calls, served under ``/bigquery/v2``.

jobs.insert / jobs.get / jobs.cancel, jobs.query, jobs.getQueryResults, datasets.list / datasets.get,
tables.list / tables.get and tabledata.list. Request faults (``5xx``, ``429``, ``quota``, ``slow``,
``drop``) are drawn per call in :class:`FaultedApi`, which wraps these routes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from amc_pipelines.sandbox.api.faults import SERVER_SEND, abort_connection

from .errors import BigQueryError, answering_errors
from .jobs import Job, decode_page_token, encode_page_token
from .service import BigQueryStandIn
from .warehouse import RESULTS_SCHEMA

API_PREFIX = "/bigquery/v2"


def _stand_in(request: Request) -> BigQueryStandIn:
    return request.app.state.bigquery


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BigQueryError("parseError", f"Parse error: {error}") from None
    if not isinstance(body, dict):
        raise BigQueryError("parseError", "Parse error: the request body must be a JSON object")
    return body


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BigQueryError("invalid", f"Invalid value for {name}: {raw}", location=name) from None
    if value < 0:
        raise BigQueryError("invalid", f"Invalid value for {name}: {raw}", location=name)
    return value


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _json_with_rows(body: dict[str, Any], rows: list[str]) -> Response:
    """``body`` plus the already-encoded rows, without decoding and re-encoding them."""
    text = json.dumps(body, separators=(",", ":"))
    if rows:
        text = text[:-1] + ',"rows":[' + ",".join(rows) + "]}"
    return Response(text, media_type="application/json")


async def _wait(job: Job, timeout_ms: Any, max_wait_seconds: float) -> bool:
    seconds = min(max(0.0, float(timeout_ms if timeout_ms is not None else 10_000) / 1000), max_wait_seconds)
    return job.done.is_set() or await asyncio.to_thread(job.done.wait, seconds)


def _results(stand_in: BigQueryStandIn, job: Job, kind: str, *, offset: int, max_results: int | None,
             int64_timestamp: bool) -> Response:
    """A complete job's page (jobs.query and getQueryResults answer alike)."""
    table = stand_in.jobs.require_results(job)
    columns = stand_in.warehouse.columns(RESULTS_SCHEMA, table)
    rows, following = stand_in.jobs.page(f'"{RESULTS_SCHEMA}"."{table}"', columns, offset=offset,
                                         max_results=max_results, total_rows=job.total_rows,
                                         int64_timestamp=int64_timestamp)
    body: dict[str, Any] = {
        "kind": kind,
        "jobReference": job.reference(),
        "schema": {"fields": job.schema},
        "totalRows": str(job.total_rows),
        "totalBytesProcessed": str(job.bytes_processed),
        "jobComplete": True,
        "cacheHit": False,
    }
    if following is not None:
        body["pageToken"] = encode_page_token("job", job.job_id, following)
    return _json_with_rows(body, rows)


# ---- jobs ------------------------------------------------------------------------------------------

async def insert_job(request: Request) -> Response:
    stand_in, project = _stand_in(request), request.path_params["project"]
    body = await _body(request)
    configuration = body.get("configuration") or {}
    query = configuration.get("query")
    if not isinstance(query, dict):
        raise BigQueryError("invalid", "The BigQuery stand-in runs query jobs only: configuration.query is required.")
    reference = body.get("jobReference") or {}
    location = reference.get("location") or stand_in.config.location
    if _flag(configuration.get("dryRun")):
        processed, schema = await asyncio.to_thread(stand_in.jobs.dry_run, project, query)
        return JSONResponse({
            "kind": "bigquery#job",
            "jobReference": {"projectId": project, "location": location},
            "configuration": {"jobType": "QUERY", "dryRun": True, "query": query},
            "status": {"state": "DONE"},
            "statistics": {
                "creationTime": str(int(stand_in.warehouse.now().timestamp() * 1000)),
                "totalBytesProcessed": str(processed),
                "query": {"totalBytesProcessed": str(processed), "totalBytesBilled": "0", "cacheHit": False,
                          "statementType": "SELECT", "schema": {"fields": schema}},
            },
        })
    job = stand_in.jobs.start(project, query, job_id=reference.get("jobId"), location=location)
    return JSONResponse(job.resource())


async def get_job(request: Request) -> Response:
    stand_in = _stand_in(request)
    job = stand_in.jobs.get(request.path_params["project"], request.path_params["jobId"],
                            request.query_params.get("location"))
    return JSONResponse(job.resource())


async def cancel_job(request: Request) -> Response:
    # Jobs here finish in moments; like BigQuery, a cancel request is accepted and the job ends as it ends.
    stand_in = _stand_in(request)
    job = stand_in.jobs.get(request.path_params["project"], request.path_params["jobId"],
                            request.query_params.get("location"))
    return JSONResponse({"kind": "bigquery#jobCancelResponse", "job": job.resource()})


async def query(request: Request) -> Response:
    stand_in, project = _stand_in(request), request.path_params["project"]
    body = await _body(request)
    configuration = {key: body[key] for key in ("query", "queryParameters", "parameterMode", "useLegacySql", "defaultDataset")
                     if key in body}
    location = body.get("location") or stand_in.config.location
    if _flag(body.get("dryRun")):
        processed, schema = await asyncio.to_thread(stand_in.jobs.dry_run, project, configuration)
        return JSONResponse({"kind": "bigquery#queryResponse", "jobReference": {"projectId": project, "location": location},
                             "schema": {"fields": schema}, "totalBytesProcessed": str(processed),
                             "jobComplete": True, "cacheHit": False})
    job = stand_in.jobs.start(project, configuration, location=location, request_id=body.get("requestId"))
    if not await _wait(job, body.get("timeoutMs"), stand_in.config.max_wait_seconds):
        return JSONResponse({"kind": "bigquery#queryResponse", "jobReference": job.reference(), "jobComplete": False})
    max_results = body.get("maxResults")
    int64_timestamp = _flag((body.get("formatOptions") or {}).get("useInt64Timestamp"))
    return _results(stand_in, job, "bigquery#queryResponse", offset=0,
                    max_results=int(max_results) if max_results is not None else None, int64_timestamp=int64_timestamp)


async def get_query_results(request: Request) -> Response:
    stand_in = _stand_in(request)
    job = stand_in.jobs.get(request.path_params["project"], request.path_params["jobId"],
                            request.query_params.get("location"))
    if not await _wait(job, request.query_params.get("timeoutMs"), stand_in.config.max_wait_seconds):
        return JSONResponse({"kind": "bigquery#getQueryResultsResponse", "jobReference": job.reference(),
                             "jobComplete": False})
    token = request.query_params.get("pageToken")
    if token and stand_in.faults.draw_expired("getQueryResults"):
        stand_in.jobs.expire(job.job_id)
    offset = decode_page_token(token, "job", job.job_id) if token else (_int_param(request, "startIndex") or 0)
    return _results(stand_in, job, "bigquery#getQueryResultsResponse", offset=offset,
                    max_results=_int_param(request, "maxResults"),
                    int64_timestamp=_flag(request.query_params.get("formatOptions.useInt64Timestamp")))


# ---- datasets, tables, table data ------------------------------------------------------------------

async def list_datasets(request: Request) -> Response:
    stand_in, project = _stand_in(request), request.path_params["project"]
    warehouse = stand_in.warehouse
    names = warehouse.datasets() if project == warehouse.project else []
    datasets = [{key: value for key, value in warehouse.dataset_resource(name).items()
                 if key in ("kind", "id", "datasetReference", "location")} for name in names]
    return JSONResponse({"kind": "bigquery#datasetList", "datasets": datasets})


async def get_dataset(request: Request) -> Response:
    stand_in = _stand_in(request)
    project, dataset = request.path_params["project"], request.path_params["datasetId"]
    stand_in.warehouse.require_dataset(project, dataset)
    return JSONResponse(stand_in.warehouse.dataset_resource(dataset))


async def list_tables(request: Request) -> Response:
    stand_in = _stand_in(request)
    project, dataset = request.path_params["project"], request.path_params["datasetId"]
    warehouse = stand_in.warehouse
    warehouse.require_dataset(project, dataset)
    names = warehouse.tables(dataset)
    token = request.query_params.get("pageToken")
    offset = decode_page_token(token, "tables", dataset) if token else 0
    limit = _int_param(request, "maxResults") or 50
    body: dict[str, Any] = {
        "kind": "bigquery#tableList",
        "tables": [warehouse.table_list_item(dataset, name) for name in names[offset:offset + limit]],
        "totalItems": len(names),
    }
    if offset + limit < len(names):
        body["nextPageToken"] = encode_page_token("tables", dataset, offset + limit)
    return JSONResponse(body)


async def get_table(request: Request) -> Response:
    stand_in = _stand_in(request)
    project, dataset, table = (request.path_params[k] for k in ("project", "datasetId", "tableId"))
    warehouse = stand_in.warehouse
    if dataset == RESULTS_SCHEMA:  # a job's destinationTable
        job = stand_in.jobs.of_result_table(project, table)
        stand_in.jobs.require_results(job)
        return JSONResponse({
            "kind": "bigquery#table", "id": f"{project}:{dataset}.{table}",
            "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
            "schema": {"fields": job.schema}, "numRows": str(job.total_rows), "type": "TABLE",
            "location": job.location,
        })
    warehouse.require_table(project, dataset, table)
    return JSONResponse(warehouse.table_resource(dataset, table))


async def list_table_data(request: Request) -> Response:
    stand_in = _stand_in(request)
    project, dataset, table = (request.path_params[k] for k in ("project", "datasetId", "tableId"))
    warehouse = stand_in.warehouse
    token = request.query_params.get("pageToken")
    if dataset == RESULTS_SCHEMA:
        job = stand_in.jobs.of_result_table(project, table)
        if token and stand_in.faults.draw_expired("tabledata.list"):
            stand_in.jobs.expire(job.job_id)
        stand_in.jobs.require_results(job)
        total = job.total_rows
    else:
        warehouse.require_table(project, dataset, table)
        total = warehouse.num_rows(dataset, table)
    columns = warehouse.columns(dataset, table)
    selected = request.query_params.get("selectedFields")
    if selected:
        types = dict(columns)
        names = [name.strip() for name in selected.split(",") if name.strip()]
        unknown = [name for name in names if name not in types]
        if unknown:
            raise BigQueryError("invalid", f"Invalid field selection {unknown[0]}", location="selectedFields")
        # In the order asked for: the client decodes the rows with the selected fields as schema.
        columns = [(name, types[name]) for name in names]
    name = f"{dataset}.{table}"
    offset = decode_page_token(token, "table", name) if token else (_int_param(request, "startIndex") or 0)
    rows, following = stand_in.jobs.page(f'"{dataset}"."{table}"', columns, offset=offset,
                                         max_results=_int_param(request, "maxResults"), total_rows=total,
                                         int64_timestamp=_flag(request.query_params.get("formatOptions.useInt64Timestamp")))
    body: dict[str, Any] = {"kind": "bigquery#tableDataList", "totalRows": str(total)}
    if following is not None:
        body["pageToken"] = encode_page_token("table", name, following)
    return _json_with_rows(body, rows)


# ---- the app -----------------------------------------------------------------------------------------

def _routes() -> list[Route]:
    table = [
        ("/projects/{project}/jobs", "POST", "jobs.insert", insert_job),
        ("/projects/{project}/jobs/{jobId}", "GET", "jobs.get", get_job),
        ("/projects/{project}/jobs/{jobId}/cancel", "POST", "jobs.cancel", cancel_job),
        ("/projects/{project}/queries", "POST", "jobs.query", query),
        ("/projects/{project}/queries/{jobId}", "GET", "jobs.getQueryResults", get_query_results),
        ("/projects/{project}/datasets", "GET", "datasets.list", list_datasets),
        ("/projects/{project}/datasets/{datasetId}", "GET", "datasets.get", get_dataset),
        ("/projects/{project}/datasets/{datasetId}/tables", "GET", "tables.list", list_tables),
        ("/projects/{project}/datasets/{datasetId}/tables/{tableId}", "GET", "tables.get", get_table),
        ("/projects/{project}/datasets/{datasetId}/tables/{tableId}/data", "GET", "tabledata.list", list_table_data),
    ]
    return [Route(path, answering_errors(handler), methods=[method], name=operation)
            for path, method, operation, handler in table]


async def _no_route(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    return BigQueryError("notFound" if status == 404 else "invalid",
                         f"No BigQuery API method for {request.method} {request.url.path}", status=status).response()


class FaultedApi:
    """The API app behind the request faults: counts each call by API method, then maybe fails it."""

    def __init__(self, stand_in: BigQueryStandIn) -> None:
        self.stand_in = stand_in
        self.app = Starlette(routes=_routes(), exception_handlers={404: _no_route, 405: _no_route})
        self.app.state.bigquery = stand_in

    def _operation(self, scope: Scope) -> str | None:
        for route in self.app.router.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return route.name
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation = self._operation(scope) if scope["type"] == "http" else None
        if operation is None:
            await self.app(scope, receive, send)
            return
        self.stand_in.stats.call(operation)
        fault = self.stand_in.faults.draw_request_fault(operation)
        if fault is None:
            await self.app(scope, receive, send)
        elif fault == "slow":
            await asyncio.sleep(self.stand_in.config.slow_fault_seconds)
            await self.app(scope, receive, send)
        elif fault == "dropped" and abort_connection(scope.get(SERVER_SEND, send)):
            return
        else:
            error = self.stand_in.faults.request_error(fault if fault != "dropped" else "server_error")
            await error.response()(scope, receive, send)
