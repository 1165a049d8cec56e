"""Report backfills as Dagster partition backfills, driven through a running webserver's GraphQL API.

``plan_backfill`` checks everything a user can get wrong (report, instances, weeks) against the
catalog, the registry and the AMC window rules before the webserver is asked anything.
``backfill_api.DagsterGraphQL`` launches, reads, cancels and re-executes them. ``backfill_progress``
counts, per report and instance, the weeks done, running, queued, failed and paused, from the
backfill's runs (one run per partition).

Pausing, which Dagster lacks, lives in ``amc.paused_backfills``: while a backfill is paused, each of
its runs that would submit a new AMC execution refuses (``refuse_if_paused``, called by the report
asset before the runner) and records its partition; runs that reattach to an execution AMC already
has go on, so nothing in flight is cancelled. ``resume_backfill`` lifts the pause and launches the
refused partitions again as a new backfill; partitions the paused backfill has not reached yet run
as usual. No Dagster import here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from amc_pipelines import clock
from amc_pipelines.backfill_api import BackfillInfo, BackfillRun, DagsterGraphQL
from amc_pipelines.partitions import INSTANCE_DIMENSION, WEEK_DIMENSION, ReportPartition

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from amc_pipelines.catalog.definitions import ReportDefinition
    from amc_pipelines.ledger import ExecutionKey
    from amc_pipelines.settings import Settings

BACKFILL_TAG = "dagster/backfill"
RESUMED_FROM_TAG = "amc/resumed_from"
DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"
STATES = ("done", "running", "queued", "failed", "paused", "canceled")
_RUN_STATES = {"SUCCESS": "done", "FAILURE": "failed", "CANCELED": "canceled", "STARTING": "running",
               "STARTED": "running", "CANCELING": "running", "QUEUED": "queued", "NOT_STARTED": "queued",
               "MANAGED": "queued"}


class BackfillInputError(ValueError):
    """The user asked for an invalid backfill; nothing was sent to Dagster. The message says what to fix."""


# ---- planning -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackfillPlan:
    report: str
    instance_ids: tuple[str, ...]
    weeks: dict[str, tuple[date, ...]]  # per instance, oldest first

    @property
    def partitions(self) -> list[ReportPartition]:
        return [ReportPartition(self.report, i, w) for i in self.instance_ids for w in self.weeks[i]]

    @property
    def partition_keys(self) -> list[str]:
        """The partition names ``launchPartitionBackfill`` takes (:attr:`ReportPartition.key`)."""
        return [partition.key for partition in self.partitions]

    @property
    def title(self) -> str:
        first, last = min(ws[0] for ws in self.weeks.values()), max(ws[-1] for ws in self.weeks.values())
        count, instances = max(len(ws) for ws in self.weeks.values()), len(self.instance_ids)
        return (f"{self.report}: {count} week{'s' * (count != 1)} ({first} to {last}) x "
                f"{instances} instance{'s' * (instances != 1)}")


def plan_backfill(engine: Engine, settings: Settings, *, report: str, instance_ids: Sequence[str] | None,
                  from_week: str | None = None, to_week: str | None = None, weeks: int | None = None,
                  now: datetime | None = None,
                  definitions: Mapping[str, ReportDefinition] | None = None) -> BackfillPlan:
    """The partitions of a backfill of a report definition (a template's name: its implicit one),
    every one checked as an asset run would check it (``prepare_run``).

    ``from_week``/``to_week`` (inclusive) name the same weeks for every instance; ``weeks`` takes
    each instance's N newest collectable weeks (they differ by time zone and data lag). Default
    instances: every enabled one in the registry that the definition applies to.
    """
    from amc_pipelines.catalog.definitions import configured_definitions, get_definition
    from amc_pipelines.params import WindowError, latest_collectable_week, week_window
    from amc_pipelines.registry import get_instance, list_instances
    from amc_pipelines.run_request import RunInputError, prepare_run
    from amc_pipelines.scheduling import data_lag_hours, partition_weeks_start, week_start_mismatch

    now = now or clock.now()
    if (weeks is None) == (from_week is None and to_week is None) or (from_week is None) != (to_week is None):
        raise BackfillInputError("give the weeks as --from WEEK --to WEEK (both, inclusive) or as --weeks N")
    if weeks is not None and weeks < 1:
        raise BackfillInputError(f"--weeks {weeks}: give 1 or more weeks")
    try:
        definition = get_definition(report, configured_definitions(settings, check_sql=False)
                                    if definitions is None else definitions)
    except ValueError as err:
        raise BackfillInputError(str(err)) from None
    spec = definition.template
    if instance_ids is None:
        instance_ids = [i.instance_id for i in list_instances(engine, enabled_only=True)
                        if definition.applies_to(i.instance_id)]
        if not instance_ids:
            raise BackfillInputError("no enabled instance is registered: add one with `amc instances add` "
                                     "(or `amc sandbox register`), or name them with --instances")
    instance_ids = list(dict.fromkeys(instance_ids))
    fixed: tuple[date, ...] = ()
    if from_week is not None:
        bounds = []
        for option, text in (("--from", from_week), ("--to", to_week)):
            try:
                bounds.append(week_window(text, timezone="UTC", week_start=settings.week_start).start.date())
            except WindowError as err:
                raise BackfillInputError(f"{option}: {err}") from None
        if bounds[0] > bounds[1]:
            raise BackfillInputError(f"--from {bounds[0]} is after --to {bounds[1]}: swap them")
        fixed = tuple(bounds[0] + timedelta(weeks=n) for n in range((bounds[1] - bounds[0]).days // 7 + 1))
    first_partition = partition_weeks_start(settings, now=now)
    by_instance: dict[str, tuple[date, ...]] = {}
    for instance_id in instance_ids:
        try:
            instance = get_instance(engine, instance_id)
        except ValueError as err:
            raise BackfillInputError(f"--instances: {err}") from None
        mismatch = week_start_mismatch(instance, settings)
        if mismatch:
            raise BackfillInputError(f"--instances: {mismatch}")
        chosen = fixed
        if weeks is not None:
            newest = latest_collectable_week(now=now, timezone=instance.timezone, week_start=instance.week_start,
                                             data_lag_hours=data_lag_hours(instance, spec, settings))
            chosen = tuple(newest - timedelta(weeks=n) for n in reversed(range(weeks)))
        for week in chosen:
            try:  # disabled instance, data lag, retention, parameters: exactly what the asset run would refuse
                prepare_run(engine, settings, report_name=definition.name, instance_id=instance_id, week=week,
                            now=now, definitions={definition.name: definition})
            except RunInputError as err:
                raise BackfillInputError(f"instance {instance_id}, week {week}: {_without_option(str(err))}") from None
            if week < first_partition:  # the week dimension starts at the oldest week retained in UTC
                raise BackfillInputError(f"week {week} is before the first week partition {first_partition}: "
                                         f"start at {first_partition}")
        by_instance[instance_id] = chosen
    return BackfillPlan(definition.name, tuple(instance_ids), by_instance)


def _without_option(message: str) -> str:
    # prepare_run names the `amc run` option that was wrong; here the week and instance are named instead.
    for option in ("--week: ", "--instance: "):
        if message.startswith(option):
            return message[len(option):]
    return message


def check_partitions_known(api: DagsterGraphQL, plan: BackfillPlan) -> None:
    """BackfillInputError when Dagster does not have a partition of the plan yet: an instance the
    instance sync sensor has not added (it runs each minute while the daemon runs), or a week the
    week dimension does not reach yet (a time zone ahead of UTC with a short data lag)."""
    dimensions = api.partition_dimensions(plan.report)
    missing = [i for i in plan.instance_ids if i not in set(dimensions.get(INSTANCE_DIMENSION, []))]
    if missing:
        raise BackfillInputError(
            f"instance(s) {', '.join(missing)} are registered but not yet partitions of {plan.report} in Dagster: "
            "the amc_instance_sync_sensor adds them within a minute while `dagster-daemon` runs; try again then")
    known_weeks = set(dimensions.get(WEEK_DIMENSION, []))
    early = sorted({w.isoformat() for ws in plan.weeks.values() for w in ws} - known_weeks)
    if early:
        raise BackfillInputError(f"week(s) {', '.join(early)} are not week partitions in Dagster yet (the newest is "
                                 f"{max(known_weeks, default='none')}): leave them out or try again later")


# ---- progress -------------------------------------------------------------------------------------


@dataclass
class ProgressRow:
    report: str
    instance_id: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def backfill_progress(info: BackfillInfo, refused: set[ReportPartition] = frozenset()) -> list[ProgressRow]:
    """Per report and instance, how many of the targeted weeks are in each of :data:`STATES`.

    A partition's state is that of its newest run in the backfill (a run retried after a crash
    replaces the crashed one); a partition without a run waits (queued) or, once the backfill
    ended, was cancelled. A failed run that the pause refused counts as paused.
    """
    newest: dict[ReportPartition, BackfillRun] = {}
    for run in sorted(info.runs, key=lambda r: r.created):
        for report in run.reports:
            if run.partition is not None:
                newest[ReportPartition.from_key(report, run.partition)] = run
    rows: dict[tuple[str, str], ProgressRow] = {}
    for report in info.reports:
        for name in info.partition_names:
            partition = ReportPartition.from_key(report, name)
            run = newest.get(partition)
            state = _RUN_STATES.get(run.status, "queued") if run else ("canceled" if info.has_ended else "queued")
            if state == "failed" and partition in refused:
                state = "paused"
            row = rows.setdefault((report, partition.instance_id), ProgressRow(report, partition.instance_id))
            row.counts[state] += 1
    return [rows[key] for key in sorted(rows)]


def progress_bar(counts: Mapping[str, int], width: int = 30) -> str:
    """``[#####>>>x.....]  42%``: done #, running >, failed or paused x, the rest ."""
    total = sum(counts.values()) or 1
    marks, used = "", 0
    for char, n in (("#", counts.get("done", 0)), (">", counts.get("running", 0)),
                    ("x", counts.get("failed", 0) + counts.get("paused", 0))):
        cells = round(width * (used + n) / total) - round(width * used / total)
        marks, used = marks + char * cells, used + n
    return f"[{marks.ljust(width, '.')}] {100 * counts.get('done', 0) // total:3d}%"


# ---- pausing ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PauseRecord:
    backfill_id: str
    paused_at: datetime
    resumed_at: datetime | None
    refused: tuple[ReportPartition, ...]
    resumed_as: tuple[str, ...]

    @property
    def active(self) -> bool:
        return self.resumed_at is None


def pause_record(engine: Engine, backfill_id: str) -> PauseRecord | None:
    from sqlalchemy import select

    from amc_pipelines.db.models import paused_backfills

    with engine.connect() as connection:
        row = connection.execute(select(paused_backfills).where(paused_backfills.c.backfill_id == backfill_id)).first()
    if row is None:
        return None
    # Stored as {report, partition: ReportPartition.key}.
    refused = tuple(dict.fromkeys(ReportPartition.from_key(item["report"], item["partition"])
                                  for item in row.refused_partitions))
    return PauseRecord(row.backfill_id, row.paused_at, row.resumed_at, refused, tuple(row.resumed_as))


def pause_backfill(engine: Engine, backfill_id: str) -> None:
    """Record the pause (again, if an earlier pause was resumed)."""
    from sqlalchemy import text

    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO amc.paused_backfills (backfill_id) VALUES (:id) ON CONFLICT (backfill_id) DO UPDATE SET "
            "paused_at = now(), resumed_at = NULL, refused_partitions = '[]'::jsonb, resumed_as = '[]'::jsonb"
        ), {"id": backfill_id})


def refuse_if_paused(engine: Engine, backfill_id: str, *, partition: ReportPartition,
                     execution_key: ExecutionKey) -> bool:
    """True when the run must not go on: its backfill is paused and it would submit a new AMC
    execution. The refusal is recorded under the pause's row lock, so a concurrent resume either
    sees it (and launches the partition again) or lifted the pause first (and the run goes on)."""
    from sqlalchemy import text

    from amc_pipelines import ledger

    record = pause_record(engine, backfill_id)
    if record is None or not record.active:
        return False
    live = ledger.live_execution(engine, execution_key)
    if live is not None and live.status in ledger.AT_AMC_STATUSES:
        return False  # AMC already has its execution: reattaching submits nothing new
    with engine.begin() as connection:
        refused = connection.execute(text(
            "UPDATE amc.paused_backfills SET refused_partitions = refused_partitions || CAST(:item AS jsonb) "
            "WHERE backfill_id = :id AND resumed_at IS NULL RETURNING backfill_id"
        ), {"id": backfill_id, "item": json.dumps([{"report": partition.report, "partition": partition.key}])}).first()
    return refused is not None


def paused_message(backfill_id: str) -> str:
    return (f"backfill {backfill_id} is paused: this week was not submitted to AMC. "
            f"`amc backfill resume {backfill_id}` runs it again")


@dataclass(frozen=True)
class ResumeOutcome:
    refused: tuple[ReportPartition, ...]
    launched: tuple[str, ...]


def resume_backfill(engine: Engine, api: DagsterGraphQL, backfill_id: str) -> ResumeOutcome:
    """Lift the pause and launch the partitions it refused as a new backfill per report."""
    from sqlalchemy import text

    record = pause_record(engine, backfill_id)
    if record is None or not record.active:
        raise BackfillInputError(f"backfill {backfill_id} is not paused: pause it with `amc backfill pause {backfill_id}`")
    info = api.backfill(backfill_id)
    with engine.begin() as connection:  # from here on no run of the backfill refuses
        connection.execute(text("UPDATE amc.paused_backfills SET resumed_at = now() WHERE backfill_id = :id"),
                           {"id": backfill_id})
    refused = pause_record(engine, backfill_id).refused
    by_report: dict[str, list[str]] = {}
    for partition in refused:
        by_report.setdefault(partition.report, []).append(partition.key)
    launched: list[str] = []
    try:
        for report, partitions in sorted(by_report.items()):
            launched.append(api.launch([report], sorted(partitions), title=f"Resume of {info.title or backfill_id}",
                                       tags={RESUMED_FROM_TAG: backfill_id}))
    finally:
        with engine.begin() as connection:
            if launched or not by_report:
                connection.execute(text("UPDATE amc.paused_backfills SET resumed_as = CAST(:ids AS jsonb) "
                                        "WHERE backfill_id = :id"), {"id": backfill_id, "ids": json.dumps(launched)})
            else:  # nothing was launched again: stay paused so that the refused weeks are not lost
                connection.execute(text("UPDATE amc.paused_backfills SET resumed_at = NULL WHERE backfill_id = :id"),
                                   {"id": backfill_id})
    return ResumeOutcome(refused, tuple(launched))
