"""Post every failed run of this code location to ``AMC_WEBHOOK_URL`` (signed with ``AMC_WEBHOOK_SECRET``).

The payload, signature scheme and retries are in :mod:`amc_pipelines.notifications`; this module
only reads the failed run out of Dagster: partition from the run's tags, assets from its selection
(or, for whole-job runs, its execution plan), error from the failure event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from amc_pipelines import clock
from amc_pipelines.partitions import DIMENSION_TAG_PREFIX, PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG

if TYPE_CHECKING:
    from dagster._utils.error import SerializableErrorInfo

    from amc_pipelines.notifications import RunFailure


@dg.run_failure_sensor(
    name="amc_run_failure_webhook",
    description=(
        "Posts a JSON notification (run, assets, partition, error) for every failed run to "
        "AMC_WEBHOOK_URL, HMAC-SHA256 signed when AMC_WEBHOOK_SECRET is set; skips when no URL is set."
    ),
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def amc_run_failure_webhook(context: dg.RunFailureSensorContext) -> dg.SkipReason | None:
    from amc_pipelines.notifications import WebhookNotifier
    from amc_pipelines.settings import get_settings

    settings = get_settings()
    run_id = context.dagster_run.run_id
    if not settings.webhook_url:
        message = f"AMC_WEBHOOK_URL is not set: no notification sent for failed run {run_id}"
        context.log.info(message)
        return dg.SkipReason(message)
    # The notification links to the run when AMC_DAGSTER_UI_URL is set.
    failure = describe_failed_run(context, ui_base_url=settings.dagster_ui_url)
    notifier = WebhookNotifier(settings.webhook_url, settings.webhook_secret)
    # A WebhookDeliveryError propagates: Dagster records it on this tick and in the failed run's log.
    delivery = notifier.notify(failure)
    context.log.info(
        f"notified {notifier.endpoint} of failed run {run_id} "
        f"(HTTP {delivery.status_code}, attempt {delivery.attempts}, delivery {delivery.delivery_id}, "
        f"{'signed' if settings.webhook_secret else 'unsigned: AMC_WEBHOOK_SECRET is not set'})"
    )
    return None  # None, not a SkipReason: the sensor goes on with the next failed run in this tick


def describe_failed_run(context: dg.RunFailureSensorContext, *, ui_base_url: str | None = None) -> RunFailure:
    from amc_pipelines.notifications import RunFailure, run_url

    run = context.dagster_run
    partition_key, dimensions = _partition(run.tags)
    error = _failure_error(context.failure_event)
    record = context.instance.get_run_record_by_id(run.run_id)
    started = record.start_time if record is not None else None
    ended = record.end_time if record is not None else None
    return RunFailure(
        run_id=run.run_id,
        job=run.job_name,
        asset_keys=_asset_keys(context),
        partition_key=partition_key,
        partition_dimensions=dimensions,
        error_message=_error_text(error) if error is not None else (context.failure_event.message or "run failed"),
        error_class=error.cls_name if error is not None else None,
        started_at=_utc(started),
        failed_at=_utc(ended) or clock.now(),
        dagster_url=run_url(ui_base_url, run.run_id),
        failed_steps=tuple(sorted({e.step_key for e in context.get_step_failure_events() if e.step_key})),
    )


def _partition(tags: Mapping[str, str]) -> tuple[str | None, dict[str, str]]:
    dimensions = {
        tag[len(DIMENSION_TAG_PREFIX):]: value for tag, value in tags.items() if tag.startswith(DIMENSION_TAG_PREFIX)
    }
    key = tags.get(PARTITION_TAG)
    if key is None and RANGE_START_TAG in tags:  # a batched run over a range of partitions
        key = f"{tags[RANGE_START_TAG]}...{tags.get(RANGE_END_TAG, tags[RANGE_START_TAG])}"
    return key, dict(sorted(dimensions.items()))


def _asset_keys(context: dg.RunFailureSensorContext) -> tuple[str, ...]:
    run = context.dagster_run
    keys = set(run.asset_selection or ())
    if not keys and run.execution_plan_snapshot_id:
        # A run of a whole job (or materialize()) has no selection: its plan names the assets.
        plan = context.instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        keys = {
            output.properties.asset_key
            for step in plan.steps
            if run.step_keys_to_execute is None or step.key in run.step_keys_to_execute
            for output in step.outputs
            if output.properties is not None and output.properties.asset_key is not None
        }
    return tuple(sorted(key.to_user_string() for key in keys))


def _failure_error(event: dg.DagsterEvent) -> SerializableErrorInfo | None:
    """The user's exception: Dagster wraps it (DagsterExecutionStepExecutionError) as the cause."""
    data = event.event_specific_data
    error = getattr(data, "error", None)
    if error is None and getattr(data, "first_step_failure_event", None) is not None:
        error = getattr(data.first_step_failure_event.event_specific_data, "error", None)
    while error is not None and error.cls_name and error.cls_name.startswith("Dagster") and error.cause is not None:
        error = error.cause
    return error


def _error_text(error: SerializableErrorInfo) -> str:
    # SerializableErrorInfo.message is "<Class>: <text>\n", sometimes with the module path.
    head, sep, rest = error.message.partition(": ")
    text = rest if sep and error.cls_name and head.endswith(error.cls_name) else error.message
    return text.strip()


def _utc(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp is not None else None


defs = dg.Definitions(sensors=[amc_run_failure_webhook])
