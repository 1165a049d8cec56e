"""The sandbox's ASGI app: AMC Reporting API routes, LwA token endpoint, downloads, ``/_sandbox/*``,
the BigQuery stand-in (``/bigquery/v2``, ``/_sandbox/bigquery``) and the OpenAI stand-in (``/v1``,
``/_sandbox/openai``).

``create_app`` returns the Starlette app wrapped in the fault/rate-limit middleware; the shared
state (stores, counters, backend) lives on ``app.state.sandbox`` as a :class:`SandboxState`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import admin, execution_routes, workflows
from .auth import (
    ADVERTISER_HEADER,
    MARKETPLACE_HEADER,
    TokenIssuer,
    require_token,
    required_header,
    token_endpoint,
)
from .backend import SandboxBackend
from .config import SandboxConfig
from .downloads import DOWNLOAD_PREFIX, download_file, download_urls
from .executions import ExecutionStore
from .faults import FaultInjector, FaultMiddleware
from .ratelimit import RateLimiter
from .responses import ApiError
from .stats import SandboxStats
from .workflows import WorkflowStore

if TYPE_CHECKING:
    from amc_pipelines.sandbox.bigquery import BigQueryStandIn
    from amc_pipelines.sandbox.openai import OpenAIStandIn

log = logging.getLogger(__name__)

ReportingHandler = Callable[[Request, str], Awaitable[Response]]


@dataclass
class SandboxState:
    config: SandboxConfig
    backend: SandboxBackend
    stats: SandboxStats
    tokens: TokenIssuer
    workflows: WorkflowStore
    executions: ExecutionStore
    faults: FaultInjector
    limiter: RateLimiter
    bigquery: BigQueryStandIn  # served under /bigquery/v2 (controls under /_sandbox/bigquery)
    owns_bigquery: bool  # created by create_app, so closed with the app (a given one is the caller's)
    openai: OpenAIStandIn  # served under /v1 (controls under /_sandbox/openai)

    def stats_snapshot(self) -> dict[str, Any]:
        return {**self.stats.snapshot(), **self.executions.snapshot()}

    def reset(self, *, executions: bool = False) -> None:
        """Zero the counters and rate-limit buckets; with ``executions`` also forget executions and workflows."""
        self.stats.reset()
        self.limiter.reset()
        if executions:
            self.executions.clear()
            self.workflows.clear()

    def close(self) -> None:
        self.executions.close()
        if self.owns_bigquery:
            self.bigquery.close()


def reporting(operation: str, handler: ReportingHandler) -> Callable[[Request], Awaitable[Response]]:
    """A ``/amc/reporting/{instanceId}/...`` endpoint: token, headers, instance and advertiser checks."""

    async def endpoint(request: Request) -> Response:
        sandbox: SandboxState = request.app.state.sandbox
        sandbox.stats.call(operation)
        try:
            require_token(request)
            advertiser_id = required_header(request, ADVERTISER_HEADER)
            required_header(request, MARKETPLACE_HEADER)
            instance_id = request.path_params["instanceId"]
            instance = sandbox.backend.instance(instance_id)
            if instance is None:
                raise ApiError(404, f"Instance {instance_id} not found.", "NOT_FOUND")
            if instance.account_id != advertiser_id:
                raise ApiError(
                    403,
                    f"Not authorized to access instance {instance_id} with {ADVERTISER_HEADER} {advertiser_id}.",
                    "FORBIDDEN",
                )
            return await handler(request, instance_id)
        except ApiError as error:
            return error.response()

    return endpoint


async def _accounts(request: Request) -> Response:
    request.app.state.sandbox.stats.call("listAccounts")
    try:
        require_token(request)
        return await admin.list_accounts(request)
    except ApiError as error:
        return error.response()


async def _instances(request: Request) -> Response:
    request.app.state.sandbox.stats.call("listInstances")
    try:
        require_token(request)
        account_id = required_header(request, ADVERTISER_HEADER)
        required_header(request, MARKETPLACE_HEADER)
        return await admin.list_instances(request, account_id)
    except ApiError as error:
        return error.response()


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "instances": len(request.app.state.sandbox.backend.instances)})


async def _stats(request: Request) -> Response:
    return JSONResponse(request.app.state.sandbox.stats_snapshot())


async def _reset(request: Request) -> Response:
    executions = request.query_params.get("executions", "false").lower() in ("1", "true", "yes")
    request.app.state.sandbox.reset(executions=executions)
    return JSONResponse({"reset": True, "executions_cleared": executions})


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    details = "Method not allowed" if status == 405 else f"No route for {request.method} {request.url.path}"
    return JSONResponse({"code": str(status), "details": details}, status_code=status)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("sandbox error on %s %s", request.method, request.url.path)
    return JSONResponse({"code": "500", "details": f"Internal error: {type(exc).__name__}"}, status_code=500)


def _routes() -> list[Route]:
    base = "/amc/reporting/{instanceId}"
    table: list[tuple[str, str, str, ReportingHandler]] = [
        ("/dataSources", "GET", "listDataSources", admin.list_data_sources),
        ("/dataSources/{dataSourceId}", "GET", "getDataSource", admin.get_data_source),
        ("/workflows", "POST", "createWorkflow", workflows.create_workflow),
        ("/workflows", "GET", "listWorkflows", workflows.list_workflows),
        ("/workflows/{workflowId}", "GET", "getWorkflow", workflows.get_workflow),
        ("/workflows/{workflowId}", "PUT", "updateWorkflow", workflows.update_workflow),
        ("/workflows/{workflowId}", "DELETE", "deleteWorkflow", workflows.delete_workflow),
        ("/workflowExecutions", "POST", "createWorkflowExecution", execution_routes.create_execution),
        ("/workflowExecutions", "GET", "listWorkflowExecutions", execution_routes.list_executions),
        ("/workflowExecutions/{executionId}", "GET", "getWorkflowExecution", execution_routes.get_execution),
        ("/workflowExecutions/{executionId}", "PUT", "updateWorkflowExecution", execution_routes.update_execution),
        ("/workflowExecutions/{executionId}", "DELETE", "deleteWorkflowExecution", execution_routes.delete_execution),
        ("/workflowExecutions/{executionId}/downloadUrls", "GET", "getWorkflowExecutionDownloadUrls", download_urls),
    ]
    routes = [Route("/auth/o2/token", token_endpoint, methods=["POST"])]
    for suffix, method, operation, handler in table:
        endpoint = reporting(operation, handler)
        # AMC's docs write collection paths both with and without a trailing slash.
        for path in {base + suffix, base + suffix + "/"}:
            routes.append(Route(path, endpoint, methods=[method], name=f"{operation}:{path}"))
    routes += [
        Route("/amc/accounts", _accounts, methods=["GET"]),
        Route("/amc/instances", _instances, methods=["GET"]),
        Route(DOWNLOAD_PREFIX + "/{instanceId}/{executionId}/{fileName:path}", download_file, methods=["GET"]),
        Route("/_sandbox/health", _health, methods=["GET"]),
        Route("/_sandbox/stats", _stats, methods=["GET"]),
        Route("/_sandbox/reset", _reset, methods=["POST"]),
    ]
    return routes


def create_app(config: SandboxConfig, backend: SandboxBackend, bigquery: BigQueryStandIn | None = None,
               openai: OpenAIStandIn | None = None) -> FaultMiddleware:
    """The ASGI app to serve; ``.app.state.sandbox`` holds the state (call ``.close()`` when done).

    ``bigquery``: the BigQuery stand-in to serve; by default one of the sandbox's size and seed,
    whose data is generated on its first request. ``openai``: the OpenAI stand-in; by default one
    that accepts any key, with no faults.
    """
    # Imported here: the stand-ins import this package's fault helpers.
    from amc_pipelines.sandbox import openai as openai_stand_in
    from amc_pipelines.sandbox.bigquery import BigQueryConfig, BigQueryStandIn, mount

    owns_bigquery = bigquery is None
    if bigquery is None:
        bigquery = BigQueryStandIn(BigQueryConfig(size=config.size, seed=config.seed), config.data_dir / "bigquery")
    stats = SandboxStats()
    state = SandboxState(
        config=config,
        backend=backend,
        stats=stats,
        tokens=TokenIssuer(config),
        workflows=WorkflowStore(),
        executions=ExecutionStore(config, backend, stats),
        faults=FaultInjector(config, stats),
        limiter=RateLimiter(config.rate_limit_per_second, config.rate_limit_burst, config.rate_limit_scope),
        bigquery=bigquery,
        owns_bigquery=owns_bigquery,
        openai=openai or openai_stand_in.OpenAIStandIn(openai_stand_in.OpenAIConfig(seed=config.seed)),
    )
    app = Starlette(
        routes=_routes() + mount(bigquery) + openai_stand_in.mount(state.openai),
        exception_handlers={404: _not_found, 405: _not_found, Exception: _internal_error},
    )
    app.state.sandbox = state
    return FaultMiddleware(app, config, state.faults, state.limiter)
