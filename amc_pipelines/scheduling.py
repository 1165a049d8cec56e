"""Which week x instance partitions of the report assets need a run, and when (no Dagster here).

The Dagster schedules and sensors in ``defs/reports`` are thin wrappers around these functions:

- :func:`partition_weeks_start` / :func:`week_day_offset`: the shape of the global ``week``
  partition dimension (calendar weeks starting on ``AMC_WEEK_START``, from the oldest retained week).
- :func:`scheduled_partitions`: the weeks a report definition's schedule tick asks for. Its cron is read
  in each instance's own time zone (or the schedule's ``timezone``); a tick covers the
  period since the previous tick, and an instance is due when its cron fired in that period. It then
  gets the newest week collectable at that fire time, unless the previous fire already asked for
  the same week (a daily cron asks for each week once). Stateless and deterministic, so a retried
  tick asks for exactly the same partitions with the same run keys.
- :func:`settled_partitions`: loaded provisional weeks whose settle period is over.
- :func:`unfinished_executions`: ledger executions whose run stopped before loading them.
- :func:`discovered_instance_specs`: ``GET /amc/instances`` answers as registry specs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from amc_pipelines import clock
from amc_pipelines.partitions import ReportPartition

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from amc_pipelines.catalog import ReportSpec
    from amc_pipelines.catalog.definitions import ReportDefinition
    from amc_pipelines.ledger import ExecutionRecord
    from amc_pipelines.registry import Instance, InstanceSpec
    from amc_pipelines.settings import Settings

# Ledger statuses of an execution that AMC has (or finished) but that was never loaded.
UNLOADED_STATUSES = ("SUBMITTED", "PENDING", "RUNNING", "SUCCEEDED")
# Dagster's WeeklyPartitionsDefinition day_offset: 0 = Sunday, 1 = Monday.
_DAY_OFFSETS = {"sunday": 0, "monday": 1}


@dataclass(frozen=True)
class SkippedInstance:
    instance_id: str
    reason: str


@dataclass(frozen=True)
class UnfinishedExecution:
    """A ledger execution AMC has or finished, whose partition was never loaded."""

    partition: ReportPartition
    amc_execution_id: str
    status: str
    ledger_id: int


def week_day_offset(week_start: str) -> int:
    from amc_pipelines.params import check_week_start

    return _DAY_OFFSETS[check_week_start(week_start)]


def partition_weeks_start(settings: Settings, *, now: datetime | None = None) -> date:
    """The first week of the ``week`` dimension: the oldest week AMC still retains (read in UTC;
    an instance far from UTC may find that first week just out of retention, and its run says so)."""
    from amc_pipelines.params import earliest_retained_week

    return earliest_retained_week(now=now or clock.now(), timezone="UTC", week_start=settings.week_start,
                                  retention_months=settings.retention_months)


def data_lag_hours(instance: Instance, report: ReportSpec, settings: Settings) -> int:
    """The longer of the instance's and the report's lags (neither may be cut short), else the default."""
    lags = [lag for lag in (instance.data_lag_hours, report.data_lag_hours) if lag is not None]
    return max(lags) if lags else settings.data_lag_hours


def week_start_mismatch(instance: Instance, settings: Settings) -> str | None:
    """Why the instance cannot use the global week dimension, or None.

    Dagster has one ``week`` dimension for every instance, so weeks start on ``AMC_WEEK_START``
    everywhere; an instance registered with another week start would need windows the dimension
    cannot name. Rejected with the fix rather than silently shifted by a day.
    """
    if instance.week_start == settings.week_start:
        return None
    return (f"instance {instance.instance_id} starts its weeks on {instance.week_start}, but the week partitions "
            f"start on {settings.week_start} (AMC_WEEK_START): re-register the instance with week start "
            f"{settings.week_start}, or set AMC_WEEK_START={instance.week_start} for the whole deployment")


def cron_fire_in(cron: str, timezone: str, *, after: datetime, until: datetime) -> datetime | None:
    """The latest time in ``(after, until]`` at which ``cron`` fires, read in ``timezone`` (aware, UTC)."""
    from croniter import croniter

    zone = ZoneInfo(timezone)
    fire = croniter(cron, until.astimezone(zone) + timedelta(microseconds=1)).get_prev(datetime)
    return fire.astimezone(UTC) if fire > after else None


def _previous_fire(cron: str, timezone: str, fire: datetime) -> datetime:
    from croniter import croniter

    return croniter(cron, fire.astimezone(ZoneInfo(timezone))).get_prev(datetime).astimezone(UTC)


def scheduled_partitions(
    definition: ReportDefinition,
    instances: Iterable[Instance],
    settings: Settings,
    *,
    tick: datetime,
    previous_tick: datetime,
    first_week: date,
) -> tuple[list[ReportPartition], list[SkippedInstance]]:
    """The partitions a schedule tick at ``tick`` requests (see the module docstring)."""
    from amc_pipelines.params import latest_collectable_week

    report, schedule = definition.template, definition.schedule
    wanted: list[ReportPartition] = []
    skipped: list[SkippedInstance] = []
    for instance in instances:
        if not instance.enabled or not definition.applies_to(instance.instance_id):
            continue
        zone = schedule.timezone or instance.timezone
        fire = cron_fire_in(schedule.cron, zone, after=previous_tick, until=tick)
        if fire is None:
            continue  # the cron did not fire in this instance's zone during this tick's period
        mismatch = week_start_mismatch(instance, settings)
        if mismatch:
            skipped.append(SkippedInstance(instance.instance_id, mismatch))
            continue
        lag = data_lag_hours(instance, report, settings)

        def newest(at: datetime, instance: Instance = instance, lag: int = lag) -> date:
            return latest_collectable_week(now=at, timezone=instance.timezone, week_start=instance.week_start,
                                           data_lag_hours=lag)

        week = newest(fire)
        if week == newest(_previous_fire(schedule.cron, zone, fire)):
            skipped.append(SkippedInstance(instance.instance_id,
                                           f"week {week} was already requested at the previous fire of the cron"))
        elif week < first_week:
            skipped.append(SkippedInstance(instance.instance_id, f"week {week} is before the first partition {first_week}"))
        else:
            wanted.append(ReportPartition(definition.name, instance.instance_id, week))
    return wanted, skipped


def _partition_of(record: ExecutionRecord, definitions: Mapping[str, ReportDefinition],
                  week_start: str) -> ReportPartition | None:
    """The asset partition a ledger row belongs to, or None when an asset run would not make its key:
    an ad hoc window or parameters, a definition no longer configured, or an older SQL version."""
    definition = definitions.get(record.report_name)
    if (definition is None or record.sql_hash != definition.template.sql_hash
            or record.parameters_hash != definition.parameters_hash):
        return None
    partition = ReportPartition.of_execution(record, week_start=week_start)
    return partition if partition is not None and definition.applies_to(partition.instance_id) else None


def _ledger_rows(engine: Engine, statuses: Sequence[str], *, provisional: bool | None = None) -> list[ExecutionRecord]:
    from sqlalchemy import select

    from amc_pipelines.db.models import executions
    from amc_pipelines.ledger import ExecutionRecord

    statement = select(executions).where(executions.c.status.in_(list(statuses))).order_by(executions.c.id)
    if provisional is not None:
        statement = statement.where(executions.c.provisional.is_(provisional))
    with engine.connect() as connection:
        return [ExecutionRecord.from_row(row) for row in connection.execute(statement).mappings()]


def settled_partitions(engine: Engine, definitions: Mapping[str, ReportDefinition], settings: Settings, *,
                       now: datetime) -> list[ReportPartition]:
    """Partitions loaded while provisional whose settle period has now passed (to collect once more;
    the runner sees the settled window and supersedes the provisional result)."""
    from amc_pipelines.params import TimeWindow, is_provisional

    found = set()
    for record in _ledger_rows(engine, ("LOADED",), provisional=True):
        partition = _partition_of(record, definitions, settings.week_start)
        if partition is None:
            continue
        spec = definitions[record.report_name].template
        settle = spec.settle_days if spec.settle_days is not None else settings.settle_days
        window = TimeWindow(record.window_start, record.window_end, record.timezone)
        if not is_provisional(window, now=now, settle_days=settle):
            found.add(partition)
    return sorted(found)


def unfinished_executions(engine: Engine, definitions: Mapping[str, ReportDefinition],
                          settings: Settings) -> list[UnfinishedExecution]:
    """Live ledger executions that AMC has or finished and nobody loaded (SUBMITTED, PENDING, RUNNING,
    SUCCEEDED), for partitions an asset run can load. A LOADED row cannot coexist with them: the
    ledger keeps one live row per key. Whether a run is still working on one is Dagster's to say."""
    found = []
    for record in _ledger_rows(engine, UNLOADED_STATUSES):
        partition = _partition_of(record, definitions, settings.week_start)
        if partition is not None and record.amc_execution_id:
            found.append(UnfinishedExecution(partition, record.amc_execution_id, record.status, record.id))
    return found


def discovered_instance_specs(found: Iterable[Mapping[str, Any]], settings: Settings, *,
                              account_id: str | None = None,
                              default_timezone: str | None = None) -> tuple[list[InstanceSpec], list[SkippedInstance]]:
    """Registry specs for the instances ``GET /amc/instances`` listed; those that cannot be
    registered (no time zone in AMC's answer and no default, or invalid fields) are skipped with why."""
    from amc_pipelines.registry import RegistryError, spec_from_amc

    specs, skipped = [], []
    for item in found:
        try:
            specs.append(spec_from_amc(item, account_id=account_id or settings.account_id,
                                       marketplace_id=settings.marketplace_id, week_start=settings.week_start,
                                       default_timezone=default_timezone))
        except RegistryError as err:
            skipped.append(SkippedInstance(str(item.get("instanceId") or "?"), str(err)))
    return specs, skipped
