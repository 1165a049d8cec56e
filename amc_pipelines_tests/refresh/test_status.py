"""``amc refresh status`` and ``history`` from audit rows written directly into a real Postgres
database, at times taken from the test clock (so the rules hold on any day and at any hour)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from croniter import croniter
from sqlalchemy import insert, text

from amc_pipelines.cli import main
from amc_pipelines.db import get_engine, upgrade
from amc_pipelines.db.models import refresh_runs
from amc_pipelines.refresh.overrides import set_table
from amc_pipelines.refresh.registry import RefreshConfigError, load_registry
from amc_pipelines.refresh.status import OVERDUE_GRACE, refresh_status, run_history

SQP, ASIN, BRAND = "search_query_performance", "asin_performance", "brand_search_query_weekly"


@pytest.fixture
def engine(make_database):
    url = make_database()
    upgrade(url)
    return get_engine(url)


def _run(engine, table: str, status: str, started_at: datetime, *, mode: str = "live", cycle: str = "c1",
         duration: float | None = 10.0, **values: Any) -> int:
    finished = None if status == "running" else started_at + timedelta(seconds=duration or 0)
    row = {"cycle_id": cycle, "table_name": table, "mode": mode, "status": status, "started_at": started_at,
           "finished_at": finished, "duration_seconds": None if status == "running" else duration,
           "target": None if mode == "dry_run" else f"sqp.{table}", "triggered_by": "test", **values}
    with engine.begin() as connection:
        return connection.execute(insert(refresh_runs).values(row).returning(refresh_runs.c.id)).scalar_one()


def _by_table(state) -> dict:
    return {t.table: t for t in state.tables}


def test_never_refreshed_tables_are_degraded_and_the_next_run_follows_the_cron(engine, clock) -> None:
    now = clock.now()
    state = refresh_status(engine, load_registry(), clock=lambda: now)
    assert state.health == "degraded" and state.last_cycle is None
    expected_next = croniter("0 2 * * *", now).get_next(datetime)
    assert state.next_cycle == expected_next and now < expected_next <= now + timedelta(days=1)
    for table in state.tables:
        assert (table.health, table.reasons, table.last_run, table.rows) == ("degraded", ["never refreshed"], None, None)
        assert table.next_run == expected_next and table.failures_24h == 0


def test_health_rules(engine, clock) -> None:
    now = clock.now()
    registry = load_registry()
    # A run at least OVERDUE_GRACE after the schedule's last fire is never overdue, whatever the hour.
    fired = croniter("0 2 * * *", now - OVERDUE_GRACE).get_prev(datetime)
    recent = fired + (now - OVERDUE_GRACE - fired) / 2 if now - OVERDUE_GRACE > fired else fired
    for table in (SQP, ASIN, BRAND):
        _run(engine, table, "success", recent - timedelta(days=3), duration=20.0, cycle="old")
        _run(engine, table, "success", recent, duration=40.0, cycle="new", rows_read=7)
    state = refresh_status(engine, registry, clock=lambda: now)
    assert state.health == "healthy", [t.reasons for t in state.tables]
    sqp = _by_table(state)[SQP]
    assert sqp.average_duration_seconds == 30.0 and sqp.last_run.rows_read == 7 and sqp.last_run.cycle_id == "new"
    assert state.last_cycle.cycle_id == "new" and state.last_cycle.statuses == {"success": 3}

    # A failure within 24 h, then a success: degraded. A failure older than 24 h is forgotten.
    _run(engine, ASIN, "failed", now - timedelta(days=2), error="old failure")
    _run(engine, ASIN, "failed", recent - timedelta(minutes=30), duration=1.0, error="boom")
    state = refresh_status(engine, registry, clock=lambda: now)
    asin = _by_table(state)[ASIN]
    assert (state.health, asin.health, asin.failures_24h) == ("degraded", "degraded", 1)
    assert asin.reasons == ["1 failed run in the last 24 h"]

    # The newest finished run failed: failing; a run still in progress does not hide it.
    _run(engine, SQP, "failed", now - timedelta(seconds=30), error="BigQuery said no", cycle="latest")
    _run(engine, BRAND, "skipped", now - timedelta(seconds=20), duration=0.0, cycle="latest",
         error="hard dependency search_query_performance failed")
    _run(engine, ASIN, "running", now - timedelta(seconds=10), cycle="latest")
    state = refresh_status(engine, registry, clock=lambda: now)
    tables = _by_table(state)
    assert state.health == "failing"
    assert (tables[SQP].health, tables[SQP].reasons) == ("failing", ["last run failed: BigQuery said no"])
    assert tables[BRAND].health == "degraded" and "last run skipped: hard dependency" in tables[BRAND].reasons[0]
    assert tables[ASIN].last_run.status == "running" and tables[ASIN].health == "degraded"
    assert state.last_cycle.cycle_id == "latest" and state.last_cycle.finished_at is None

    # Only runs in the table's effective mode count: a failed forced dry run says nothing about live.
    _run(engine, SQP, "success", now - timedelta(seconds=5), cycle="fixed")
    _run(engine, SQP, "failed", now - timedelta(seconds=1), mode="dry_run", cycle="dry", error="dry failure")
    assert _by_table(refresh_status(engine, registry, clock=lambda: now))[SQP].reasons == [
        "1 failed run in the last 24 h"]


def test_overdue_and_not_refreshing_tables(engine, clock) -> None:
    now = clock.now()
    registry = load_registry()
    for table in (SQP, ASIN, BRAND):  # two days ago: the schedule fired since
        _run(engine, table, "success", now - timedelta(days=2))
    set_table(engine, registry, ASIN, by="test", mode="disabled")
    set_table(engine, registry, BRAND, by="test", enabled=False)
    state = refresh_status(engine, registry, clock=lambda: now)
    tables = _by_table(state)
    assert tables[SQP].health == "degraded" and tables[SQP].reasons[0].startswith("overdue: no run since its schedule fired")
    assert (tables[ASIN].health, tables[ASIN].refreshes, tables[ASIN].next_run) == (None, False, None)
    assert (tables[BRAND].health, tables[BRAND].mode) == (None, "live")
    assert state.health == "degraded"


def test_rows_count_the_target_the_mode_writes(engine, clock) -> None:
    registry = load_registry()
    with engine.begin() as connection:
        connection.execute(text("CREATE SCHEMA IF NOT EXISTS sqp"))  # the copy creates it on its first load
        connection.execute(text("CREATE TABLE sqp.search_query_performance (id int)"))
        connection.execute(text("INSERT INTO sqp.search_query_performance SELECT generate_series(1, 5)"))
        connection.execute(text("CREATE TABLE sqp_shadow.search_query_performance (id int)"))
    assert _by_table(refresh_status(engine, registry, clock=clock.now))[SQP].rows == 5
    set_table(engine, registry, SQP, by="test", mode="shadow")
    shadow = _by_table(refresh_status(engine, registry, clock=clock.now))[SQP]
    assert (shadow.rows, shadow.target) == (0, "sqp_shadow.search_query_performance")


def test_history_newest_first_with_table_filter_and_limit(engine, clock) -> None:
    now = clock.now()
    registry = load_registry()
    first = _run(engine, SQP, "success", now - timedelta(hours=3), rows_read=10, rows_inserted=10)
    second = _run(engine, ASIN, "failed", now - timedelta(hours=2), error="x")
    third = _run(engine, SQP, "success", now - timedelta(hours=1))
    assert [r.id for r in run_history(engine, registry)] == [third, second, first]
    assert [r.id for r in run_history(engine, registry, table=SQP)] == [third, first]
    assert [r.id for r in run_history(engine, registry, limit=1)] == [third]
    assert run_history(engine, registry, table=BRAND) == []
    with pytest.raises(RefreshConfigError, match="unknown table 'search_query_perf'.*did you mean"):
        run_history(engine, registry, table="search_query_perf")
    _run(engine, "retired_table", "success", now)  # no longer configured, still in the audit
    assert [r.table for r in run_history(engine, registry, table="retired_table")] == ["retired_table"]
    summary = run_history(engine, registry, table=SQP)[1].summary()
    assert (summary["rows_read"], summary["rows_inserted"], summary["status"]) == (10, 10, "success")
    assert datetime.fromisoformat(summary["started_at"]) == (now - timedelta(hours=3)).astimezone(UTC)


def test_status_and_history_commands(engine, clock, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("AMC_REFRESH_TABLES_DIR", raising=False)
    monkeypatch.setenv("AMC_HOME", str(tmp_path))
    monkeypatch.setenv("AMC_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    now = clock.now()
    _run(engine, SQP, "failed", now - timedelta(minutes=5), error="BigQuery said no", cycle="cy")
    _run(engine, BRAND, "skipped", now - timedelta(minutes=4), duration=0.0, cycle="cy",
         error="hard dependency search_query_performance failed")
    runner = CliRunner()
    result = runner.invoke(main, ["refresh", "status", "--json"])
    assert result.exit_code == 0, result.output
    state = json.loads(result.stdout)
    assert state["health"] == "failing" and state["last_cycle"]["cycle_id"] == "cy"
    assert [t["table"] for t in state["tables"]] == [ASIN, SQP, BRAND]
    assert state["tables"][1]["last_run"]["status"] == "failed" and state["tables"][1]["failures_24h"] == 1
    text_out = runner.invoke(main, ["refresh", "status"]).stdout
    assert text_out.startswith("refresh: failing") and "search_query_performance: last run failed: BigQuery said no" in text_out
    assert "next cycle: " in text_out and "last cycle: cy by test" in text_out

    history = json.loads(runner.invoke(main, ["refresh", "history", "--json"]).stdout)
    assert [(h["table"], h["status"]) for h in history] == [(BRAND, "skipped"), (SQP, "failed")]
    assert len(json.loads(runner.invoke(main, ["refresh", "history", "--json", "--limit", "1"]).stdout)) == 1
    out = runner.invoke(main, ["refresh", "history", "--table", SQP]).stdout
    assert "BigQuery said no" in out and BRAND not in out
    assert runner.invoke(main, ["refresh", "history", "--table", ASIN]).stdout.strip() == f"no refresh runs for {ASIN}"
    bad = runner.invoke(main, ["refresh", "history", "--table", "asin_perf"])
    assert bad.exit_code == 2 and "unknown table 'asin_perf'" in bad.stderr
