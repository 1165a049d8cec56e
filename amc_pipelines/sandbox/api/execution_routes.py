"""``/amc/reporting/{instanceId}/workflowExecutions`` routes: create (saved or ad hoc), list, get, cancel.

Response shapes: create, get and delete answer the bare execution object (as AMC's samples show);
cancel (PUT) answers it wrapped as ``{"workflowExecution": {...}}``; the list is
``{"executions": [...], "nextToken": ...}``. A dry run answers 200 with the would-be execution
(no id, ``"dryRun": true``) or 400 with the rejection reason.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from .backend import QueryRejectedError, QuerySpec
from .executions import FINISHED, ExecutionStore
from .responses import ApiError, json_answer, json_body, paginate
from .windows import parse_window_value, resolve_window
from .workflows import workflow_definition

STATUSES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "REJECTED", "CANCELLED")


def _executions(request: Request) -> ExecutionStore:
    return request.app.state.sandbox.executions


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ApiError(400, f"{name} must be true or false, not {value!r}.")


def _timeout_seconds(body: dict[str, Any], default: int) -> int:
    raw = body.get("workflowExecutionTimeoutSeconds")
    if raw is None:
        return default
    try:
        seconds = int(raw)  # the AMC sample notebook sends it as a string
    except (TypeError, ValueError):
        raise ApiError(400, f"workflowExecutionTimeoutSeconds {raw!r} is not a whole number of seconds.") from None
    if seconds < 1:
        raise ApiError(400, f"workflowExecutionTimeoutSeconds must be positive, not {seconds}.")
    return seconds


async def create_execution(request: Request, instance_id: str) -> Response:
    sandbox = request.app.state.sandbox
    body = await json_body(request)
    has_saved, has_ad_hoc = body.get("workflowId") is not None, body.get("workflow") is not None
    if has_saved == has_ad_hoc:
        raise ApiError(400, "Give either workflowId (a saved workflow) or workflow (an ad hoc workflow), not both or neither.")
    if has_saved:
        workflow_id = str(body["workflowId"])
        definition = sandbox.workflows.get(instance_id, workflow_id).definition
    else:
        if not isinstance(body["workflow"], dict):
            raise ApiError(400, "workflow must be an object with at least sqlQuery.")
        definition = workflow_definition(body["workflow"], where="workflow.")
        workflow_id = f"transient_{uuid.uuid4()}"
    window_type, window = resolve_window(body)
    parameter_values = body.get("parameterValues") or {}
    if not isinstance(parameter_values, dict):
        raise ApiError(400, "parameterValues must be an object mapping parameter names to values.")
    dry_run = _flag(body, "dryRun")
    timeout_seconds = _timeout_seconds(body, sandbox.config.default_execution_timeout_seconds)
    spec = QuerySpec(
        sql=definition["sqlQuery"],
        window_start=window.start,
        window_end=window.end,
        time_zone=window.time_zone,
        parameter_values=parameter_values,
        input_parameters=tuple(definition.get("inputParameters", ())),
        privacy_filtering_behavior=definition.get("privacyFilteringBehavior", "REMOVE_ROWS"),
        filtered_metrics_discriminator_column=definition.get("filteredMetricsDiscriminatorColumn"),
    )
    rejection: str | None = None
    try:
        await run_in_threadpool(sandbox.backend.validate, spec)
    except QueryRejectedError as exc:
        rejection = str(exc)
    if dry_run:
        if rejection is not None:
            raise ApiError(400, rejection)
        return json_answer(request, _dry_run_answer(workflow_id, window_type, window, parameter_values, timeout_seconds))
    answer = _executions(request).submit(
        instance_id=instance_id,
        workflow_id=workflow_id,
        spec=spec,
        window_type=window_type,
        window=window,
        timeout_seconds=timeout_seconds,
        rejection=rejection,
    )
    return json_answer(request, answer)


def _dry_run_answer(workflow_id, window_type, window, parameter_values, timeout_seconds) -> dict[str, Any]:
    return {
        "dryRun": True,
        "workflowId": workflow_id,
        "status": "SUCCEEDED",
        "statusReason": "Dry run: the workflow execution request is valid.",
        "timeWindowType": window_type,
        "timeWindowStart": window.start_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timeWindowEnd": window.end_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timeWindowStartOriginal": window.start.strftime("%Y-%m-%dT%H:%M:%S"),
        "timeWindowEndOriginal": window.end.strftime("%Y-%m-%dT%H:%M:%S"),
        "timeWindowTimeZone": window.time_zone,
        "parameterValues": parameter_values,
        "workflowExecutionTimeoutSeconds": timeout_seconds,
    }


def _creation_filter(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    return None if raw is None else parse_window_value(name, raw).replace(tzinfo=UTC)


async def list_executions(request: Request, instance_id: str) -> Response:
    status = request.query_params.get("status")
    if status is not None and status not in STATUSES:
        raise ApiError(400, f"status {status!r} is not valid; use one of {', '.join(STATUSES)}.")
    executions = _executions(request).list(
        instance_id,
        workflow_id=request.query_params.get("workflowId"),
        status=status,
        min_created=_creation_filter(request, "minCreationTime"),
        max_created=_creation_filter(request, "maxCreationTime"),
    )
    page = paginate(request, executions, "executions", lambda e: e["_sequence"])
    for execution in page["executions"]:
        del execution["_sequence"]
    return json_answer(request, page)


async def get_execution(request: Request, instance_id: str) -> Response:
    return json_answer(request, _executions(request).describe(instance_id, request.path_params["executionId"]))


async def update_execution(request: Request, instance_id: str) -> Response:
    body = await json_body(request)
    if body.get("status") != "CANCELLED":
        raise ApiError(400, 'Only cancellation is supported: send {"status": "CANCELLED"}.')
    execution = _executions(request).cancel(instance_id, request.path_params["executionId"])
    return json_answer(request, {"workflowExecution": execution})


async def delete_execution(request: Request, instance_id: str) -> Response:
    """AMC's documented way to clear a queued execution: cancels it if it has not finished."""
    store = _executions(request)
    execution_id = request.path_params["executionId"]
    if store.get(instance_id, execution_id).status not in FINISHED:
        try:
            return json_answer(request, store.cancel(instance_id, execution_id))
        except ApiError as error:
            if error.status != 400:  # 400: it finished meanwhile; answer its final state
                raise
    return json_answer(request, store.describe(instance_id, execution_id))
