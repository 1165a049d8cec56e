"""``/_sandbox/bigquery/*``: counters, faults, expiry and data changes for tests and benchmarks.

- ``GET stats``, ``POST reset``: jobs created/failed, pages and rows served, bytes processed, calls
  per API method, faults injected;
- ``POST faults`` ``{"faults": "5xx=1", "operations": [...], "limit": 2, "seed": 3}``;
- ``POST expire`` ``{"job_id": ...}`` (omit it: every job): the results expire now;
- ``POST corrections`` ``{"table", "factor", "start_date", "asin", "account_id", "at"}``: a late
  correction of the matching rows (counts x factor, shares and rates recomputed, ``updated_at`` = at);
- ``POST schema`` ``{"table", "add": {"name", "type"}} | {"table", "drop": name} | {"table", "retype": {...}}``;
- ``POST tables`` ``{"table", "query"}`` creates a table from a GoogleSQL query; ``DELETE tables/{table}``;
- ``POST clock`` ``{"now": ISO time}``: the data regenerated as of that moment (weeks landed,
  scheduled corrections applied; earlier mutations are discarded).
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import BigQueryFaultRates
from .errors import BigQueryError, answering_errors
from .service import BigQueryStandIn
from .sql import translate

CONTROL_PREFIX = "/_sandbox/bigquery"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FaultsBody(_Body):
    faults: str = ""
    operations: list[str] | None = None
    limit: int | None = Field(default=None, ge=0)
    seed: int = 7


class ExpireBody(_Body):
    job_id: str | None = None


class CorrectionBody(_Body):
    table: str
    factor: float = 1.1
    start_date: date | None = None
    asin: str | None = None
    account_id: str | None = None
    at: AwareDatetime | None = None


class ColumnBody(_Body):
    name: str
    type: str


class SchemaBody(_Body):
    table: str
    dataset: str | None = None
    add: ColumnBody | None = None
    drop: str | None = None
    retype: ColumnBody | None = None


class TableBody(_Body):
    table: str
    query: str
    dataset: str | None = None


class ClockBody(_Body):
    now: AwareDatetime


async def _parse(request: Request, model: type[_Body]) -> Any:
    try:
        return model.model_validate_json(await request.body() or b"{}")
    except ValidationError as error:
        raise BigQueryError("invalid", f"{request.url.path}: {error}") from None


def _stand_in(request: Request) -> BigQueryStandIn:
    return request.app.state.bigquery


async def stats(request: Request) -> Response:
    stand_in = _stand_in(request)
    return JSONResponse({**stand_in.stats.snapshot(), "fault_settings": stand_in.faults.describe()})


async def reset(request: Request) -> Response:
    _stand_in(request).stats.reset()
    return JSONResponse({"reset": True})


async def faults(request: Request) -> Response:
    body: FaultsBody = await _parse(request, FaultsBody)
    try:
        rates = BigQueryFaultRates.parse(body.faults)
    except ValueError as error:
        raise BigQueryError("invalid", str(error)) from None
    stand_in = _stand_in(request)
    stand_in.faults.configure(rates, seed=body.seed, operations=frozenset(body.operations) if body.operations else None,
                              limit=body.limit)
    return JSONResponse(stand_in.faults.describe())


async def expire(request: Request) -> Response:
    body: ExpireBody = await _parse(request, ExpireBody)
    return JSONResponse({"expired": _stand_in(request).jobs.expire(body.job_id)})


async def corrections(request: Request) -> Response:
    body: CorrectionBody = await _parse(request, CorrectionBody)
    warehouse = _stand_in(request).warehouse
    changed = await asyncio.to_thread(
        warehouse.correct, body.table, factor=body.factor, start_date=body.start_date, asin=body.asin,
        account_id=body.account_id, at=body.at)
    return JSONResponse({"table": body.table, "rows_changed": changed})


async def schema(request: Request) -> Response:
    body: SchemaBody = await _parse(request, SchemaBody)
    warehouse = _stand_in(request).warehouse
    fields = warehouse.alter(
        body.dataset or warehouse.config.dataset, body.table,
        add=(body.add.name, body.add.type) if body.add else None, drop=body.drop,
        retype=(body.retype.name, body.retype.type) if body.retype else None)
    return JSONResponse({"table": body.table, "schema": {"fields": fields}})


async def create_table(request: Request) -> Response:
    body: TableBody = await _parse(request, TableBody)
    warehouse = _stand_in(request).warehouse
    dataset = body.dataset or warehouse.config.dataset
    translated = translate(body.query, warehouse, project=warehouse.project, default_dataset=dataset)
    rows = await asyncio.to_thread(warehouse.create_table, dataset, body.table, translated.sql)
    return JSONResponse({"table": body.table, "rows": rows})


async def drop_table(request: Request) -> Response:
    warehouse = _stand_in(request).warehouse
    dataset = request.query_params.get("dataset") or warehouse.config.dataset
    warehouse.drop_table(dataset, request.path_params["table"])
    return JSONResponse({"dropped": request.path_params["table"]})


async def clock(request: Request) -> Response:
    body: ClockBody = await _parse(request, ClockBody)
    rows = await asyncio.to_thread(_stand_in(request).warehouse.regenerate, body.now)
    return JSONResponse({"now": body.now.isoformat(), "rows": rows})


def control_app(stand_in: BigQueryStandIn) -> Starlette:
    routes = [
        Route("/stats", answering_errors(stats), methods=["GET"]),
        Route("/reset", answering_errors(reset), methods=["POST"]),
        Route("/faults", answering_errors(faults), methods=["POST"]),
        Route("/expire", answering_errors(expire), methods=["POST"]),
        Route("/corrections", answering_errors(corrections), methods=["POST"]),
        Route("/schema", answering_errors(schema), methods=["POST"]),
        Route("/tables", answering_errors(create_table), methods=["POST"]),
        Route("/tables/{table}", answering_errors(drop_table), methods=["DELETE"]),
        Route("/clock", answering_errors(clock), methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.bigquery = stand_in
    return app


