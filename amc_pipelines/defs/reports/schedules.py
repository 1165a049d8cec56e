"""Report schedules: one per report from its cron, plus the settle schedule.

A report's cron (default Tuesday 06:00) is meant in each instance's own time zone, and instances
come and go at run time, so a schedule cannot carry one execution time zone. A report without an
explicit ``schedule.timezone`` therefore ticks hourly in UTC and asks
:func:`amc_pipelines.scheduling.scheduled_partitions` which instances' crons fired during the
hour (instances in half-hour zones are served up to 30 minutes late). A report with an explicit
time zone ticks on its own cron there. Either way each request carries the run key
``<report>|<instance>|<week>``: Dagster keeps a retried tick from launching a run key twice, and the
selection itself never asks for one week twice across ticks.

Both start stopped: turn them on in the UI (or ``dagster schedule start``) when AMC should be
collected automatically, so that a new deployment or a test never launches AMC work by itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from amc_pipelines import clock
from amc_pipelines.defs.reports.assets import report_asset_key
from amc_pipelines.defs.resources import DatabaseResource

if TYPE_CHECKING:
    from amc_pipelines.catalog.definitions import ReportDefinition
    from amc_pipelines.partitions import ReportPartition

HOURLY = "0 * * * *"
SETTLE_CRON = "0 7 * * *"  # daily; a week settles on one day, and waiting a day more costs nothing
_IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING,
]


def partition_in_progress(instance: dg.DagsterInstance, partition: ReportPartition) -> bool:
    """Whether a queued or running Dagster run covers this report's week x instance partition."""
    runs = instance.get_runs(dg.RunsFilter(statuses=_IN_PROGRESS, tags=partition.run_tags))
    key = report_asset_key(partition.report)
    return any(run.asset_selection is None or key in run.asset_selection for run in runs)


def known_instances(instance: dg.DagsterInstance) -> set[str]:
    from amc_pipelines.defs.instances import amc_instances_partitions

    return set(instance.get_dynamic_partitions(amc_instances_partitions.name))


def has_instance(definition: ReportDefinition, instance_id: str, synced: set[str]) -> bool:
    """Whether the definition's asset has partitions for the instance: its own instances, or else
    those the instance sync has added to Dagster."""
    return instance_id in (synced if definition.instances is None else definition.instances)


def tick_time(context: dg.ScheduleEvaluationContext) -> datetime:
    scheduled = context.scheduled_execution_time
    return scheduled.astimezone(UTC) if scheduled is not None else clock.now()


def build_report_schedule(definition: ReportDefinition) -> dg.ScheduleDefinition:
    schedule = definition.schedule
    cron, zone = (schedule.cron, schedule.timezone) if schedule.timezone else (HOURLY, "UTC")
    where = schedule.timezone or "each instance's time zone"
    instances = "every enabled instance" if definition.instances is None else ", ".join(definition.instances)

    @dg.schedule(
        name=f"{definition.name}_schedule",
        cron_schedule=cron,
        execution_timezone=zone,
        target=[report_asset_key(definition.name)],
        description=(f"Collects the newest collectable week of `{definition.name}` for {instances} when "
                     f"`{schedule.cron}` fires in {where}."),
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def report_schedule(context: dg.ScheduleEvaluationContext, database: DatabaseResource):
        from croniter import croniter

        from amc_pipelines.registry import list_instances
        from amc_pipelines.scheduling import partition_weeks_start, scheduled_partitions
        from amc_pipelines.settings import get_settings

        settings = get_settings()
        tick = tick_time(context)
        previous = croniter(cron, tick.astimezone(_zone(zone))).get_prev(datetime).astimezone(UTC)
        wanted, skipped = scheduled_partitions(
            definition, list_instances(database.get_engine(), enabled_only=True), settings,
            tick=tick, previous_tick=previous, first_week=partition_weeks_start(settings, now=tick),
        )
        synced = known_instances(context.instance)
        for item in skipped:
            context.log.info(f"{item.instance_id}: {item.reason}")
        requests = []
        for partition in wanted:
            if not has_instance(definition, partition.instance_id, synced):
                context.log.info(f"{partition.instance_id}: not in amc_instances yet (the instance sync adds it)")
                continue
            requests.append(dg.RunRequest(run_key=partition.run_key, partition_key=partition.dagster_key()))
        if not requests:
            return dg.SkipReason(f"no instance is due for {definition.name} at {tick.isoformat()}")
        return requests

    return report_schedule


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def build_settle_schedule(definitions: dict[str, ReportDefinition]) -> dg.ScheduleDefinition:
    keys = [report_asset_key(name) for name in definitions]

    @dg.schedule(
        name="amc_settle_schedule",
        cron_schedule=SETTLE_CRON,
        execution_timezone="UTC",
        target=keys,
        description=("Collects once more every week that was loaded while provisional (its attributed "
                     "conversions still arriving) once its settle period (AMC_SETTLE_DAYS) is over."),
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def amc_settle_schedule(context: dg.ScheduleEvaluationContext, database: DatabaseResource):
        from amc_pipelines.scheduling import partition_weeks_start, settled_partitions
        from amc_pipelines.settings import get_settings

        settings = get_settings()
        tick = tick_time(context)
        first_week = partition_weeks_start(settings, now=tick)
        synced = known_instances(context.instance)
        requests = []
        for partition in settled_partitions(database.get_engine(), definitions, settings, now=tick):
            if not has_instance(definitions[partition.report], partition.instance_id, synced) \
                    or partition.week < first_week:
                continue
            if partition_in_progress(context.instance, partition):
                continue  # that run sees the settled window and re-collects
            requests.append(dg.RunRequest(run_key=partition.settled_run_key, partition_key=partition.dagster_key(),
                                          asset_selection=[report_asset_key(partition.report)]))
        return requests or dg.SkipReason("no provisional week has settled")

    return amc_settle_schedule
