"""What ``amc refresh status`` and ``amc refresh history`` show, read from the audit (``refresh.runs``).

Health of a table that refreshes, from its runs in its effective mode (a ``--dry-run`` of a live
table is in the history but says nothing about the live table); a run still ``running`` is not yet
a result and is ignored:

- **failing**: its newest finished run failed.
- **degraded**: its newest finished run was skipped (a hard dependency failed) or ended with a
  warning; or a run failed in the last 24 hours although the newest succeeded; or it was never
  refreshed; or it is overdue: no run started since its schedule last fired (more than
  ``OVERDUE_GRACE`` ago, the time a run may take).
- **healthy**: otherwise.

The refresh is failing if any table is failing, else degraded if any is degraded, else healthy.
Tables that do not refresh (disabled or paused) are listed without a health and count for nothing.
"Now" comes from :func:`amc_pipelines.clock.now` (or the ``clock`` argument), so tests can move it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, table

from amc_pipelines.db.models import SHADOW_SCHEMA, refresh_runs
from amc_pipelines.refresh.models import TARGET_SCHEMA, TableConfig
from amc_pipelines.refresh.registry import get_table

HEALTHY, DEGRADED, FAILING = "healthy", "degraded", "failing"
FAILURE_WINDOW = timedelta(hours=24)
OVERDUE_GRACE = timedelta(hours=1)
RECENT_RUNS = 10  # successful runs averaged for the duration


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@dataclass(frozen=True)
class RunRecord:
    """One audit row of ``refresh.runs``."""

    id: int
    cycle_id: str
    table: str
    mode: str
    target: str | None
    status: str
    started_at: datetime
    finished_at: datetime | None
    rows_read: int
    rows_inserted: int
    rows_updated: int
    rows_deleted: int
    bytes_processed: int | None
    job_id: str | None
    pages_read: int
    duration_seconds: float | None
    peak_memory_bytes: int | None
    error: str | None
    details: dict = field(default_factory=dict)
    triggered_by: str | None = None

    @classmethod
    def from_row(cls, row) -> RunRecord:
        values = row._mapping
        return cls(**{name: values["table_name" if name == "table" else name] for name in cls.__dataclass_fields__})

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"], data["finished_at"] = _iso(self.started_at), _iso(self.finished_at)
        return data


def run_history(engine: Engine, registry: Mapping[str, TableConfig] | None = None, *, table: str | None = None,
                limit: int = 50) -> list[RunRecord]:
    """Audit rows, newest first, of one table or all. A table name that is neither in ``registry``
    nor in the audit is refused (RefreshConfigError from get_table, with a close match)."""
    runs = refresh_runs
    query = select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit)
    if table is not None:
        query = query.where(runs.c.table_name == table)
    with engine.connect() as connection:
        records = [RunRecord.from_row(row) for row in connection.execute(query)]
        if table is not None and not records and registry is not None and table not in registry:
            audited = connection.execute(select(runs.c.table_name).where(runs.c.table_name == table).limit(1)).first()
            if audited is None:
                get_table(table, registry)  # raises, naming the known tables
    return records


def latest_run_id(engine: Engine, table: str, *, mode: str) -> int | None:
    """The newest run of ``table`` in ``mode`` that loaded (success or warning), if any."""
    runs = refresh_runs
    with engine.connect() as connection:
        return connection.execute(select(func.max(runs.c.id)).where(
            runs.c.table_name == table, runs.c.mode == mode, runs.c.status.in_(("success", "warning")))).scalar()


@dataclass(frozen=True)
class TableStatus:
    table: str
    mode: str
    refreshes: bool
    schedule: str
    target: str  # what the mode writes (the live table for a dry run: what it is compared with)
    health: str | None  # None: the table does not refresh
    reasons: list[str]
    last_run: RunRecord | None
    last_success_at: datetime | None
    next_run: datetime | None
    failures_24h: int
    average_duration_seconds: float | None
    rows: int | None  # rows in the target now; None when it does not exist yet

    def summary(self) -> dict[str, Any]:
        last = self.last_run
        return {
            "table": self.table, "mode": self.mode, "refreshes": self.refreshes, "schedule": self.schedule,
            "target": self.target, "health": self.health, "reasons": self.reasons,
            "last_run": None if last is None else {
                "run_id": last.id, "cycle_id": last.cycle_id, "mode": last.mode, "status": last.status,
                "started_at": _iso(last.started_at), "finished_at": _iso(last.finished_at),
                "duration_seconds": last.duration_seconds, "rows_read": last.rows_read,
                "rows_inserted": last.rows_inserted, "rows_updated": last.rows_updated,
                "rows_deleted": last.rows_deleted, "error": last.error},
            "last_success_at": _iso(self.last_success_at), "next_run": _iso(self.next_run),
            "failures_24h": self.failures_24h, "average_duration_seconds": self.average_duration_seconds,
            "rows": self.rows,
        }


@dataclass(frozen=True)
class CycleSummary:
    cycle_id: str
    started_at: datetime
    finished_at: datetime | None  # None while a table is still running
    triggered_by: str | None
    statuses: dict[str, int]

    def summary(self) -> dict[str, Any]:
        return {"cycle_id": self.cycle_id, "started_at": _iso(self.started_at), "finished_at": _iso(self.finished_at),
                "triggered_by": self.triggered_by, "statuses": self.statuses}


@dataclass(frozen=True)
class RefreshStatus:
    health: str
    now: datetime
    tables: list[TableStatus]
    last_cycle: CycleSummary | None
    next_cycle: datetime | None

    def summary(self) -> dict[str, Any]:
        return {"health": self.health, "now": _iso(self.now),
                "last_cycle": None if self.last_cycle is None else self.last_cycle.summary(),
                "next_cycle": _iso(self.next_cycle), "tables": [t.summary() for t in self.tables]}


def _cron_times(schedule: str, now: datetime) -> tuple[datetime, datetime]:
    """(the schedule's last fire at least OVERDUE_GRACE before now, its next fire after now), UTC."""
    from croniter import croniter

    previous = croniter(schedule, now - OVERDUE_GRACE).get_prev(datetime)
    return previous, croniter(schedule, now).get_next(datetime)


def _row_count(connection, schema: str, name: str) -> int | None:
    exists = connection.execute(select(func.to_regclass(f'"{schema}"."{name}"'))).scalar()
    if exists is None:
        return None
    return connection.execute(select(func.count()).select_from(table(name, schema=schema))).scalar_one()


def _health(refreshes: bool, finished: list[RunRecord], failures: int, overdue_since: datetime
            ) -> tuple[str | None, list[str]]:
    if not refreshes:
        return None, []
    if not finished:
        return DEGRADED, ["never refreshed"]
    newest = finished[0]
    if newest.status == "failed":
        return FAILING, [f"last run failed: {newest.error or 'no error recorded'}"]
    reasons = []
    if newest.status == "skipped":
        reasons.append(f"last run skipped: {newest.error or newest.details.get('reason') or 'a hard dependency failed'}")
    elif newest.status == "warning":
        warnings = newest.details.get("warnings") or []
        reasons.append("last run warned" + (f": {'; '.join(map(str, warnings))}" if warnings else ""))
    if failures:
        reasons.append(f"{failures} failed run{'s' if failures != 1 else ''} in the last 24 h")
    if newest.started_at < overdue_since:
        reasons.append(f"overdue: no run since its schedule fired at {overdue_since.isoformat(timespec='minutes')}")
    return (DEGRADED, reasons) if reasons else (HEALTHY, [])


def refresh_status(engine: Engine, registry: Mapping[str, TableConfig], *,
                   clock: Callable[[], datetime] | None = None) -> RefreshStatus:
    """Health, per-table state and the last and next cycle; tables in dependency order."""
    from amc_pipelines import clock as project_clock
    from amc_pipelines.refresh.overrides import effective_tables
    from amc_pipelines.refresh.registry import dependency_order

    now = clock() if clock is not None else project_clock.now()
    effective = effective_tables(engine, registry)
    runs = refresh_runs
    statuses: list[TableStatus] = []
    with engine.connect() as connection:
        for config in dependency_order(registry):
            current = effective[config.name]
            mine = (runs.c.table_name == config.name) & (runs.c.mode == current.mode)
            finished = [RunRecord.from_row(row) for row in connection.execute(
                select(runs).where(mine, runs.c.status != "running")
                .order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(1))]
            last = connection.execute(select(runs).where(mine).order_by(runs.c.started_at.desc(), runs.c.id.desc())
                                      .limit(1)).first()
            failures = connection.execute(select(func.count()).where(
                mine, runs.c.status == "failed", runs.c.started_at >= now - FAILURE_WINDOW)).scalar_one()
            recent = (select(runs.c.duration_seconds, runs.c.finished_at)
                      .where(mine, runs.c.status.in_(("success", "warning")))
                      .order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(RECENT_RUNS).subquery())
            average, last_success = connection.execute(
                select(func.avg(recent.c.duration_seconds), func.max(recent.c.finished_at))).one()
            due, next_run = _cron_times(config.schedule, now)
            health, reasons = _health(current.refreshes, finished, failures, due)
            schema = SHADOW_SCHEMA if current.mode == "shadow" else TARGET_SCHEMA
            statuses.append(TableStatus(
                table=config.name, mode=current.mode, refreshes=current.refreshes, schedule=config.schedule,
                target=f"{schema}.{config.target_table}", health=health, reasons=reasons,
                last_run=RunRecord.from_row(last) if last is not None else None, last_success_at=last_success,
                next_run=next_run if current.refreshes else None, failures_24h=failures,
                average_duration_seconds=float(average) if average is not None else None,
                rows=_row_count(connection, schema, config.target_table)))
        last_cycle = _last_cycle(connection)
    healths = {status.health for status in statuses}
    overall = FAILING if FAILING in healths else DEGRADED if DEGRADED in healths else HEALTHY
    upcoming = [status.next_run for status in statuses if status.next_run is not None]
    return RefreshStatus(overall, now, statuses, last_cycle, min(upcoming) if upcoming else None)


def _last_cycle(connection) -> CycleSummary | None:
    runs = refresh_runs
    newest = connection.execute(select(runs.c.cycle_id).order_by(runs.c.started_at.desc(), runs.c.id.desc())
                                .limit(1)).scalar()
    if newest is None:
        return None
    rows = connection.execute(select(runs.c.status, runs.c.started_at, runs.c.finished_at, runs.c.triggered_by)
                              .where(runs.c.cycle_id == newest)).all()
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
    running = any(row.status == "running" for row in rows)
    return CycleSummary(
        cycle_id=newest, started_at=min(row.started_at for row in rows),
        finished_at=None if running else max((row.finished_at or row.started_at) for row in rows),
        triggered_by=rows[0].triggered_by, statuses=statuses)
