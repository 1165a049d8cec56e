"""Saved workflows: ``/amc/reporting/{instanceId}/workflows`` (create, list, get, update, delete).

Answers are bare workflow objects; the list is ``{"workflows": [...], "nextToken": ...}``.
Creating an id that exists is a 400 (update it with PUT instead).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .responses import ApiError, iso_utc, json_answer, json_body, paginate, utc_now

WORKFLOW_ID = re.compile(r"^[A-Za-z0-9._-]{1,256}$")
PRIVACY_BEHAVIORS = ("REMOVE_ROWS", "REMOVE_VALUES")
# Fields a saved workflow keeps besides id and SQL, as AMC echoes them.
OPTIONAL_FIELDS = (
    "inputParameters",
    "outputColumns",
    "privacyFilteringBehavior",
    "filteredMetricsDiscriminatorColumn",
    "distinctUserCountColumn",
    "filteredReasonColumn",
    "description",
)


@dataclass
class Workflow:
    instance_id: str
    workflow_id: str
    definition: dict[str, Any]  # sqlQuery + OPTIONAL_FIELDS present in the request
    created: datetime
    updated: datetime

    def to_api(self) -> dict[str, Any]:
        return {
            "workflowId": self.workflow_id,
            **self.definition,
            "createTime": iso_utc(self.created),
            "lastUpdatedTime": iso_utc(self.updated),
        }


def workflow_definition(body: dict[str, Any], *, where: str = "") -> dict[str, Any]:
    """The checked definition fields of a workflow (saved or ad hoc); 400 when malformed."""
    sql = body.get("sqlQuery")
    if not isinstance(sql, str) or not sql.strip():
        raise ApiError(400, f"{where}sqlQuery is required and must be a non-empty string.")
    definition: dict[str, Any] = {"sqlQuery": sql}
    for name in OPTIONAL_FIELDS:
        if body.get(name) is not None:
            definition[name] = body[name]
    parameters = definition.get("inputParameters", [])
    if not isinstance(parameters, list) or not all(isinstance(p, dict) and p.get("name") for p in parameters):
        raise ApiError(400, f"{where}inputParameters must be a list of objects, each with a name and dataType.")
    behavior = definition.get("privacyFilteringBehavior", "REMOVE_ROWS")
    if behavior not in PRIVACY_BEHAVIORS:
        raise ApiError(400, f"{where}privacyFilteringBehavior {behavior!r} is not valid; use REMOVE_ROWS or REMOVE_VALUES.")
    return definition


class WorkflowStore:
    """Saved workflows per instance; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workflows: dict[tuple[str, str], Workflow] = {}

    def create(self, instance_id: str, workflow_id: str, definition: dict[str, Any]) -> Workflow:
        now = utc_now()
        with self._lock:
            if (instance_id, workflow_id) in self._workflows:
                raise ApiError(400, f"Workflow with ID {workflow_id} already exists. Use PUT to update it.")
            workflow = self._workflows[(instance_id, workflow_id)] = Workflow(instance_id, workflow_id, definition, now, now)
            return workflow

    def get(self, instance_id: str, workflow_id: str) -> Workflow:
        with self._lock:
            workflow = self._workflows.get((instance_id, workflow_id))
        if workflow is None:
            raise ApiError(404, f"Workflow with ID {workflow_id} not found.")
        return workflow

    def update(self, instance_id: str, workflow_id: str, definition: dict[str, Any]) -> Workflow:
        with self._lock:
            workflow = self._workflows.get((instance_id, workflow_id))
            if workflow is None:
                raise ApiError(404, f"Workflow with ID {workflow_id} not found.")
            workflow.definition = definition
            workflow.updated = utc_now()
            return workflow

    def delete(self, instance_id: str, workflow_id: str) -> None:
        with self._lock:
            if self._workflows.pop((instance_id, workflow_id), None) is None:
                raise ApiError(404, f"Workflow with ID {workflow_id} not found.")

    def list(self, instance_id: str) -> list[Workflow]:
        with self._lock:
            return sorted((w for (i, _), w in self._workflows.items() if i == instance_id), key=lambda w: w.workflow_id)

    def clear(self) -> None:
        with self._lock:
            self._workflows.clear()


def _store(request: Request) -> WorkflowStore:
    return request.app.state.sandbox.workflows


async def create_workflow(request: Request, instance_id: str) -> Response:
    body = await json_body(request)
    workflow_id = body.get("workflowId")
    if not isinstance(workflow_id, str) or not WORKFLOW_ID.match(workflow_id):
        raise ApiError(
            400,
            f"workflowId {workflow_id!r} is not valid: use letters, digits, '.', '-' and '_' only (at most 256).",
        )
    workflow = _store(request).create(instance_id, workflow_id, workflow_definition(body))
    return json_answer(request, workflow.to_api())


async def list_workflows(request: Request, instance_id: str) -> Response:
    workflows = [w.to_api() for w in _store(request).list(instance_id)]
    return json_answer(request, paginate(request, workflows, "workflows", lambda w: w["workflowId"]))


async def get_workflow(request: Request, instance_id: str) -> Response:
    workflow = _store(request).get(instance_id, request.path_params["workflowId"])
    return json_answer(request, workflow.to_api())


async def update_workflow(request: Request, instance_id: str) -> Response:
    workflow_id = request.path_params["workflowId"]
    body = await json_body(request)
    if body.get("workflowId") not in (None, workflow_id):
        raise ApiError(400, f"workflowId in the body ({body['workflowId']}) does not match the path ({workflow_id}).")
    workflow = _store(request).update(instance_id, workflow_id, workflow_definition(body))
    return json_answer(request, workflow.to_api())


async def delete_workflow(request: Request, instance_id: str) -> Response:
    _store(request).delete(instance_id, request.path_params["workflowId"])
    return json_answer(request, {})
