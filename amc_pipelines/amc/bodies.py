"""JSON bodies of the AMC requests that carry a definition: saved workflows and executions."""

from __future__ import annotations

from typing import Any


def workflow_body(
    *,
    workflow_id: str,
    sql: str,
    input_parameters: list[dict] | None = None,
    output_columns: list[Any] | None = None,
    privacy_filtering_behavior: str = "REMOVE_ROWS",
    filtered_metrics_discriminator_column: str | None = None,
) -> dict[str, Any]:
    """The JSON of a saved workflow (create and PUT take the same body)."""
    body: dict[str, Any] = {
        "workflowId": workflow_id,
        "sqlQuery": sql,
        "inputParameters": list(input_parameters or []),
        "privacyFilteringBehavior": privacy_filtering_behavior,
    }
    if output_columns:
        body["outputColumns"] = list(output_columns)
    if filtered_metrics_discriminator_column:
        body["filteredMetricsDiscriminatorColumn"] = filtered_metrics_discriminator_column
    return body


def workflow_differs(stored: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """True when a stored workflow's definition is not the wanted one (absent and empty count as equal)."""
    return any((stored.get(key) or None) != (value or None) for key, value in wanted.items())


def execution_body(
    *,
    window: Any,
    parameter_values: dict[str, Any],
    workflow_id: str | None,
    sql: str | None,
    input_parameters: list[dict] | None,
    dry_run: bool,
    timeout_seconds: int,
) -> dict[str, Any]:
    """The JSON of an execution request: a saved workflow or an ad hoc one, over an EXPLICIT window."""
    if (workflow_id is None) == (sql is None):
        raise ValueError("create_execution needs either workflow_id (a saved workflow) or sql (ad hoc), not both")
    body: dict[str, Any] = {}
    if workflow_id is not None:
        body["workflowId"] = workflow_id
    else:
        body["workflow"] = {"sqlQuery": sql, "inputParameters": list(input_parameters or [])}
    body.update(
        {
            "timeWindowType": "EXPLICIT",
            "timeWindowStart": window.amc_start(),
            "timeWindowEnd": window.amc_end(),
            "timeWindowTimeZone": window.timezone,
            "parameterValues": dict(parameter_values),
            "workflowExecutionTimeoutSeconds": int(timeout_seconds),
        }
    )
    if dry_run:
        body["dryRun"] = True
    return body
