"""What a scheduler needs from the refresh, without any scheduler (the Dagster wiring in
``defs/bigquery_refresh`` adapts it): one schedule per distinct cron with its tables' highest
priority, the newest week a table should hold by now (freshness), the tables an earlier attempt of
the same run already loaded (so a retry copies only the rest), and an outcome as plain metadata.

Freshness. SQP weeks run Sunday to Saturday and land in BigQuery some days after they end (the
stand-in lands a week on the Monday 06:00 UTC after it and corrects it until Thursday; Amazon's
Brand Analytics reports are usually there within two or three days). A week is *expected* once
:data:`LANDING_DELAY` has passed since its end (the Sunday 00:00 UTC after its Saturday) at the
last scheduled refresh that has had :data:`REFRESH_ALLOWANCE` to finish. So a daily 02:00 UTC
refresh is expected to hold the week that ended on Saturday from Wednesday 04:00 UTC on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from amc_pipelines.refresh.models import TableConfig

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from amc_pipelines.refresh.copy import TableOutcome
    from amc_pipelines.refresh.overrides import EffectiveTable

LANDING_DELAY = timedelta(days=3)
REFRESH_ALLOWANCE = timedelta(hours=2)
_LOADED = ("success", "warning")


@dataclass(frozen=True)
class RefreshSchedule:
    """The tables refreshed when ``cron`` (UTC) fires, in one run at their highest priority."""

    cron: str
    tables: tuple[str, ...]
    priority: int

    @property
    def name(self) -> str:
        """``bigquery_refresh_<cron>`` with the cron's characters spelled out (stable, a valid name)."""
        spelled = self.cron.replace("*/", "every").replace("*", "x").replace("/", "every").replace(",", "and").replace("-", "to")
        return "bigquery_refresh_" + re.sub(r"[^A-Za-z0-9]+", "_", spelled).strip("_")


def refresh_schedules(registry: Mapping[str, TableConfig]) -> list[RefreshSchedule]:
    """One schedule per distinct cron, its tables by name, ordered by cron."""
    by_cron: dict[str, list[TableConfig]] = {}
    for config in registry.values():
        by_cron.setdefault(config.schedule, []).append(config)
    return [RefreshSchedule(cron, tuple(sorted(c.name for c in configs)), max(c.priority for c in configs))
            for cron, configs in sorted(by_cron.items())]


def week_start(day: date) -> date:
    """The Sunday starting the Sunday-to-Saturday week of ``day``."""
    return day - timedelta(days=(day.weekday() + 1) % 7)


def last_refresh(cron: str, now: datetime) -> datetime:
    """The latest time ``cron`` (UTC) fired at or before ``now``."""
    from croniter import croniter

    now = now.astimezone(UTC)
    # croniter's get_prev from an exact tick returns the tick before it: start just after now.
    return croniter(cron, now + timedelta(microseconds=1)).get_prev(datetime).astimezone(UTC).replace(fold=0)


def expected_week(cron: str, now: datetime) -> tuple[date, datetime]:
    """The newest week (its Sunday) a table refreshed on ``cron`` should hold at ``now``, and the
    scheduled refresh that should have loaded it (see the module docstring)."""
    refresh = last_refresh(cron, now - REFRESH_ALLOWANCE)
    # Week W has landed by the refresh when (W + 7 days, 00:00 UTC) + LANDING_DELAY <= refresh.
    landed_by = refresh - LANDING_DELAY
    return week_start(landed_by.date()) - timedelta(days=7), refresh


@dataclass(frozen=True)
class Freshness:
    table: str
    passed: bool
    description: str
    target: str | None = None
    newest_week: date | None = None
    expected_week: date | None = None
    expected_since: datetime | None = None  # the scheduled refresh that should have loaded it

    def metadata(self) -> dict[str, Any]:
        return {"target": self.target, "newest_week": _iso(self.newest_week), "expected_week": _iso(self.expected_week),
                "expected_since": _iso(self.expected_since)}


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def freshness(engine: Engine, table: EffectiveTable, now: datetime) -> Freshness:
    """Whether ``table``'s target holds the week expected by ``now``: the live table, or the shadow
    table in shadow mode. A table in dry-run mode (or not refreshing) writes nothing and is not judged."""
    from sqlalchemy import column, func, inspect, select
    from sqlalchemy import table as sql_table

    from amc_pipelines.db.models import SHADOW_SCHEMA
    from amc_pipelines.refresh.models import TARGET_SCHEMA

    config = table.config
    if not table.refreshes or table.mode == "dry_run":
        why = "its mode is dry_run" if table.refreshes else "it does not refresh (disabled or paused)"
        return Freshness(config.name, True, f"Not judged: {why}, so no table is written.")
    schema = SHADOW_SCHEMA if table.mode == "shadow" else TARGET_SCHEMA
    target = f"{schema}.{config.target_table}"
    week, since = expected_week(config.schedule, now)
    expected = {"target": target, "expected_week": week, "expected_since": since}
    if config.partition_column is None:
        return Freshness(config.name, True, f"Not judged: {config.name} has no partition_column (no week to compare).",
                         **expected)
    with engine.connect() as connection:
        if not inspect(connection).has_table(config.target_table, schema=schema):
            return Freshness(config.name, False, f"{target} does not exist: no refresh has loaded it yet; the week of "
                                                 f"{week} was expected after the refresh of {since:%Y-%m-%d %H:%M} UTC.",
                             **expected)
        newest = connection.execute(select(func.max(column(config.partition_column)))
                                    .select_from(sql_table(config.target_table, schema=schema))).scalar()
    if isinstance(newest, datetime):
        newest = newest.date()
    if newest is not None and newest >= week:
        return Freshness(config.name, True, f"{target} holds the week of {newest} (expected: {week}).",
                         newest_week=newest, **expected)
    held = "no rows" if newest is None else f"the week of {newest} at the newest"
    return Freshness(config.name, False, f"{target} holds {held}; the week of {week} was expected after the "
                                         f"refresh of {since:%Y-%m-%d %H:%M} UTC.", newest_week=newest, **expected)


def loaded_by_earlier_attempt(engine: Engine, triggered_by: str) -> set[str]:
    """Tables a cycle triggered by ``triggered_by`` (a Dagster run id) already loaded: a retry of that
    run's step copies only the others (their materializations were reported by the attempt that loaded them)."""
    from sqlalchemy import select

    from amc_pipelines.db.models import refresh_runs

    query = (select(refresh_runs.c.table_name).distinct()
             .where(refresh_runs.c.triggered_by == triggered_by, refresh_runs.c.status.in_(_LOADED),
                    refresh_runs.c.mode != "dry_run"))
    with engine.connect() as connection:
        return set(connection.execute(query).scalars())


def outcome_metadata(outcome: TableOutcome) -> dict[str, Any]:
    """The audit row as metadata: counts, bytes, job, duration, memory, mode and target, the weeks
    that changed, warnings. Values are plain (numbers, strings, dicts)."""
    weeks = outcome.details.get("weeks") or {}
    changed = {week: counts for week, counts in sorted(weeks.items())
               if any(counts.get(kind) for kind in ("inserted", "updated", "deleted"))}
    metadata: dict[str, Any] = {
        "mode": outcome.mode, "target": outcome.target, "status": outcome.status,
        "rows_read": outcome.rows_read, "rows_inserted": outcome.rows_inserted, "rows_updated": outcome.rows_updated,
        "rows_deleted": outcome.rows_deleted, "bytes_processed": outcome.bytes_processed, "job_id": outcome.job_id,
        "pages_read": outcome.pages_read, "duration_seconds": round(outcome.duration_seconds, 3),
        "peak_memory_bytes": outcome.peak_memory_bytes, "audit_run_id": outcome.run_id,
        "weeks_changed": changed,
    }
    if outcome.details.get("warnings"):
        metadata["warnings"] = "\n".join(outcome.details["warnings"])
    for flag in ("resumed", "restarted"):
        if outcome.details.get(flag):
            metadata[flag] = outcome.details[flag]
    return metadata
