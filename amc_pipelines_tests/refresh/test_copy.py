"""``refresh.copy.copy_table``: one table from the BigQuery stand-in (the real client over HTTP) into a
real Postgres database. First load, a second run that writes nothing, late corrections, source
deletes, schema drift, dry runs, a query source, shadow mode, faults, and a copy SIGKILLed at five
points and resumed.

Tests share the session's database, so each copies into targets of its own (``effective`` gives
a built-in table another name and target).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from amc_pipelines.db.models import refresh_checkpoints, refresh_runs, refresh_table_state
from amc_pipelines.refresh import copy as copy_module
from amc_pipelines.refresh import postgres as pg
from amc_pipelines.refresh.copy import TableOutcome, copy_table, record_skipped, target_schema_for
from amc_pipelines.refresh.models import Source
from amc_pipelines_tests.fixtures.bigquery import BIGQUERY_NOW, PROJECT
from amc_pipelines_tests.refresh.kill_copy import POINTS, effective

REPO = Path(__file__).resolve().parents[2]
SQP = "search_query_performance"
NEWEST_WEEK = "2026-03-01"  # the newest landed week at BIGQUERY_NOW (a Wednesday)
PAGE_SIZE = 1000  # small data: 4,992 SQP rows in 5 pages


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def copy(db_engine, fast_retry, fast_job_retry):
    """copy_table with the test database and the client's retries at short delays."""

    def run(sandbox, table, mode: str | None = None) -> TableOutcome:
        return copy_table(db_engine, sandbox.client, table, mode=mode or table.mode, cycle_id="test-cycle",
                          triggered_by="pytest", retry=fast_retry, job_retry=fast_job_retry)

    return run


def source_rows(sandbox, config) -> dict[tuple, tuple]:
    """The source's rows through the client, by key."""
    if config.source.table is not None:
        query = f"SELECT * FROM `{PROJECT}.{config.source.table}`"
    else:
        query = f"SELECT * FROM ({config.source.query})"
    rows = [dict(row.items()) for row in sandbox.client.query_and_wait(query)]
    return {tuple(row[k] for k in config.key_columns): tuple(row.values()) for row in rows}


def target_rows(engine, schema: str, config) -> dict[tuple, tuple]:
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.execute(f'SELECT * FROM "{schema}"."{config.target_table}"')
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        raw.close()
    return {tuple(row[k] for k in config.key_columns): tuple(row.values()) for row in rows}


def checksum(engine, schema: str, config) -> tuple[int, str]:
    """Row count and the md5 of every row's text in key order: equal tables, equal checksums."""
    keys = ", ".join(f't."{k}"' for k in config.key_columns)
    with engine.connect() as conn:
        return tuple(conn.execute(text(
            f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY {keys})) "
            f'FROM "{schema}"."{config.target_table}" t')).one())


def table_exists(engine, schema: str, table: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": f'"{schema}"."{table}"'}).scalar()


def audit(engine, run_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(refresh_runs).where(refresh_runs.c.id == run_id)).one()


def state(engine, name: str, schema: str = "sqp") -> Any:
    with engine.connect() as conn:
        return conn.execute(select(refresh_table_state).where(
            (refresh_table_state.c.table_name == name) & (refresh_table_state.c.target_schema == schema))).first()


def checkpoint(engine, name: str, schema: str = "sqp") -> Any:
    with engine.connect() as conn:
        return conn.execute(select(refresh_checkpoints).where(
            (refresh_checkpoints.c.table_name == name) & (refresh_checkpoints.c.target_schema == schema))).first()


def assert_written_nothing(outcome: TableOutcome) -> None:
    assert outcome.status == "success", outcome.error
    assert (outcome.rows_inserted, outcome.rows_updated, outcome.rows_deleted) == (0, 0, 0)


# ---- first load, second run, late corrections -----------------------------------------------------

def test_first_load_equals_the_source_and_a_second_run_writes_nothing(db_engine, bigquery_sandbox, copy) -> None:
    table = effective(SQP, _name("sqp"), page_size=PAGE_SIZE)
    config = table.config
    first = copy(bigquery_sandbox, table)

    assert first.status == "success", first.error
    assert (first.rows_read, first.rows_inserted, first.rows_updated, first.rows_deleted) == (4992, 4992, 0, 0)
    assert first.pages_read == 5 and first.target == f"sqp.{config.target_table}" and first.job_id
    assert target_rows(db_engine, "sqp", config) == source_rows(bigquery_sandbox, config)
    row = audit(db_engine, first.run_id)
    assert (row.status, row.mode, row.target, row.cycle_id, row.triggered_by) == (
        "success", "live", first.target, "test-cycle", "pytest")
    assert (row.rows_read, row.rows_inserted, row.pages_read, row.job_id) == (4992, 4992, 5, first.job_id)
    assert row.bytes_processed == first.bytes_processed > 0
    assert row.duration_seconds > 0 and row.peak_memory_bytes > 0 and row.finished_at is not None
    assert row.details["weeks"][NEWEST_WEEK] == {"read": 48, "inserted": 48, "updated": 0, "deleted": 0}
    assert len(row.details["weeks"]) == 104
    loaded = state(db_engine, config.name)
    assert loaded.watermark == BIGQUERY_NOW.replace(hour=6)  # the newest correction, Wednesday 06:00
    assert [f["name"] for f in loaded.source_schema][:4] == ["account_id", "advertiser", "marketplace_id", "start_date"]
    assert checkpoint(db_engine, config.name) is None
    assert not table_exists(db_engine, "refresh_staging", f"{config.target_table}__sqp")
    with db_engine.connect() as conn:
        types = dict(conn.execute(text(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'sqp' "
            "AND table_name = :t"), {"t": config.target_table}).all())
    assert (types["start_date"], types["search_query_volume"], types["asin_click_share"],
            types["asin_median_click_price_amount"], types["updated_at"]) == (
        "date", "bigint", "double precision", "numeric", "timestamp with time zone")

    before = checksum(db_engine, "sqp", config)
    second = copy(bigquery_sandbox, table)
    assert_written_nothing(second)
    # Rows changed in the 3-day overlap: the newest week, read whole.
    assert second.rows_read == 48 and list(second.details["weeks"]) == [NEWEST_WEEK]
    assert second.details["since"] == (BIGQUERY_NOW.replace(hour=6) - timedelta(days=3)).isoformat()
    assert checksum(db_engine, "sqp", config) == before
    assert audit(db_engine, second.run_id).rows_updated == 0


def test_late_corrections_inside_the_overlap_are_picked_up(db_engine, bigquery_sandbox, copy) -> None:
    table = effective(SQP, _name("sqp"), page_size=PAGE_SIZE)
    config = table.config
    assert copy(bigquery_sandbox, table).status == "success"
    asin = next(iter(target_rows(db_engine, "sqp", config)))[2]

    # A day later the newest week has its third correction (the stand-in regenerated as of Thursday).
    bigquery_sandbox.control("clock", {"now": (BIGQUERY_NOW + timedelta(days=1)).isoformat()})
    thursday = copy(bigquery_sandbox, table)
    assert thursday.status == "success", thursday.error
    assert thursday.rows_updated > 0 and thursday.rows_inserted == thursday.rows_deleted == 0
    assert list(thursday.details["weeks"]) == [NEWEST_WEEK]
    assert target_rows(db_engine, "sqp", config) == source_rows(bigquery_sandbox, config)

    # A correction of a year-old week stamped a day before the watermark (it arrived late, but inside
    # the 3-day overlap) is read, with the rest of its week; one stamped five days before is not.
    watermark = state(db_engine, config.name).watermark
    inside = bigquery_sandbox.control("corrections", {"table": SQP, "start_date": "2025-03-02", "asin": asin,
                                                      "factor": 1.5, "at": (watermark - timedelta(days=1)).isoformat()})
    outside = bigquery_sandbox.control("corrections", {"table": SQP, "start_date": "2025-03-09", "asin": asin,
                                                       "factor": 1.5, "at": (watermark - timedelta(days=5)).isoformat()})
    assert inside["rows_changed"] == outside["rows_changed"] == 8
    late = copy(bigquery_sandbox, table)
    assert late.status == "success", late.error
    assert late.details["weeks"]["2025-03-02"] == {"read": 48, "inserted": 0, "updated": 8, "deleted": 0}
    assert "2025-03-09" not in late.details["weeks"]
    expected = source_rows(bigquery_sandbox, config)
    loaded = target_rows(db_engine, "sqp", config)
    differing = {key[1].isoformat() for key in expected if expected[key] != loaded[key]}
    assert differing == {"2025-03-09"}  # the correction older than the overlap is not seen: the documented limit


# ---- source deletes ---------------------------------------------------------------------------------

def test_a_row_deleted_at_the_source_is_deleted_or_kept_as_configured(db_engine, bigquery_sandbox, copy) -> None:
    # A copy of the SQP table that the test can replace by one without a row.
    bigquery_sandbox.control("tables", {"table": "sqp_copy", "query": f"SELECT * FROM brand_analytics.{SQP}"})
    deleting = effective(SQP, _name("del"), page_size=PAGE_SIZE, on_source_delete="delete",
                         source=Source(table="brand_analytics.sqp_copy"))
    keeping = effective(SQP, _name("keep"), page_size=PAGE_SIZE, source=Source(table="brand_analytics.sqp_copy"))
    assert keeping.config.on_source_delete == "ignore"
    for table in (deleting, keeping):
        assert copy(bigquery_sandbox, table).status == "success"
    gone = sorted(target_rows(db_engine, "sqp", deleting.config))[-1]  # a row of the newest week
    assert gone[1].isoformat() == NEWEST_WEEK and "'" not in gone[3]

    response = httpx.delete(f"{bigquery_sandbox.server.url}/_sandbox/bigquery/tables/sqp_copy", timeout=30)
    assert response.status_code == 200, response.text
    bigquery_sandbox.control("tables", {"table": "sqp_copy", "query": (
        f"SELECT * FROM brand_analytics.{SQP} WHERE NOT (account_id = '{gone[0]}' AND start_date = DATE '{gone[1]}' "
        f"AND asin = '{gone[2]}' AND search_query = '{gone[3]}')")})

    plan = copy(bigquery_sandbox, deleting, "dry_run")
    assert (plan.rows_inserted, plan.rows_updated, plan.rows_deleted) == (0, 0, 1)
    assert plan.details["weeks"] == {NEWEST_WEEK: {"read": 47, "inserted": 0, "updated": 0, "deleted": 1}}
    deleted = copy(bigquery_sandbox, deleting)
    assert deleted.status == "success", deleted.error
    assert (deleted.rows_inserted, deleted.rows_updated, deleted.rows_deleted) == (0, 0, 1)
    assert deleted.details["weeks"][NEWEST_WEEK]["deleted"] == 1
    assert gone not in target_rows(db_engine, "sqp", deleting.config)
    assert target_rows(db_engine, "sqp", deleting.config) == source_rows(bigquery_sandbox, deleting.config)

    kept = copy(bigquery_sandbox, keeping)
    assert_written_nothing(kept)
    assert gone in target_rows(db_engine, "sqp", keeping.config)


# ---- schema drift -----------------------------------------------------------------------------------

def test_schema_drift_adds_columns_when_configured_and_stops_otherwise(db_engine, bigquery_sandbox, copy) -> None:
    adding = effective(SQP, _name("add"), page_size=PAGE_SIZE, on_schema_drift="add_columns")
    stopping = effective(SQP, _name("stop"), page_size=PAGE_SIZE)
    for table in (adding, stopping):
        assert copy(bigquery_sandbox, table).status == "success"
    before = checksum(db_engine, "sqp", stopping.config)

    bigquery_sandbox.control("schema", {"table": SQP, "add": {"name": "promotion_id", "type": "STRING"}})
    added = copy(bigquery_sandbox, adding)
    assert added.status == "success", added.error
    assert added.details["schema_drift"] == {"added": [{"name": "promotion_id", "type": "STRING"}], "removed": [],
                                             "retyped": [], "applied": True}
    assert target_rows(db_engine, "sqp", adding.config) == source_rows(bigquery_sandbox, adding.config)
    assert [f["name"] for f in state(db_engine, adding.config.name).source_schema][-1] == "promotion_id"

    stopped = copy(bigquery_sandbox, stopping)
    assert stopped.status == "failed"
    assert "promotion_id (STRING) added at the source" in stopped.error
    assert "on_schema_drift: stop" in stopped.error and "search_query_performance.yaml" in stopped.error
    assert stopped.details["schema_drift"]["applied"] is False and stopped.details["retryable"] is False
    assert audit(db_engine, stopped.run_id).status == "failed"
    assert checksum(db_engine, "sqp", stopping.config) == before
    assert checkpoint(db_engine, stopping.config.name) is None
    assert stopped.job_id is None  # stopped before any query job

    bigquery_sandbox.control("schema", {"table": SQP, "retype": {"name": "search_query_score", "type": "FLOAT64"}})
    retyped = copy(bigquery_sandbox, adding)
    assert retyped.status == "failed"
    assert "search_query_score is FLOAT64 at the source but bigint" in retyped.error
    assert retyped.details["schema_drift"]["retyped"] == [
        {"name": "search_query_score", "type": "FLOAT64", "target_type": "bigint"}]

    bigquery_sandbox.control("schema", {"table": SQP, "retype": {"name": "search_query_score", "type": "INT64"}})
    bigquery_sandbox.control("schema", {"table": SQP, "drop": "asin_click_share"})
    dropped = copy(bigquery_sandbox, adding)
    assert dropped.status == "failed"
    assert f"asin_click_share of sqp.{adding.config.target_table} no longer at the source" in dropped.error
    assert dropped.details["schema_drift"]["removed"] == ["asin_click_share"]


@pytest.mark.parametrize(("expression", "kind"), [("DATE(updated_at)", "date"),
                                                ("DATETIME(updated_at)", "timestamp without time zone")])
def test_date_and_datetime_watermarks(db_engine, bigquery_sandbox, copy, expression: str, kind: str) -> None:
    bigquery_sandbox.control("tables", {"table": "sqp_typed", "query": (
        f"SELECT * EXCEPT (updated_at), {expression} AS changed FROM brand_analytics.{SQP}")})
    base = effective(SQP, "x", page_size=PAGE_SIZE).config
    table = effective(SQP, _name("typed"), page_size=PAGE_SIZE, source=Source(table="brand_analytics.sqp_typed"),
                      watermark=base.watermark.model_copy(update={"column": "changed"}))
    first = copy(bigquery_sandbox, table)
    assert first.status == "success", first.error
    assert first.rows_inserted == 4992
    assert state(db_engine, table.name).watermark == BIGQUERY_NOW.replace(hour=6 if kind != "date" else 0)
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT data_type FROM information_schema.columns WHERE table_schema = 'sqp' "
                                 "AND table_name = :t AND column_name = 'changed'"), {"t": table.name}).scalar() == kind
    second = copy(bigquery_sandbox, table)
    assert_written_nothing(second)
    assert list(second.details["weeks"]) == [NEWEST_WEEK]


def test_bad_columns_and_changed_keys_are_refused_naming_file_and_field(db_engine, bigquery_sandbox, copy) -> None:
    watermark = effective(SQP, _name("wm"), page_size=PAGE_SIZE,
                          watermark=effective(SQP, "x", page_size=PAGE_SIZE).config.watermark.model_copy(
                              update={"column": "search_query_score"}))
    refused = copy(bigquery_sandbox, watermark)
    assert refused.status == "failed"
    assert "search_query_performance.yaml: watermark.column: 'search_query_score' is INT64" in refused.error
    assert "TIMESTAMP, DATETIME or DATE" in refused.error

    keys = effective(SQP, _name("keys"), page_size=PAGE_SIZE, key_columns=["account_id", "start_date", "asin_id"])
    refused = copy(bigquery_sandbox, keys)
    assert refused.status == "failed"
    assert "search_query_performance.yaml: key_columns: 'asin_id' is not a column of " \
           "brand_analytics.search_query_performance" in refused.error
    assert bigquery_sandbox.stats()["jobs_created"] == 0

    # key_columns changed after the first load: the upsert cannot use them; refused, nothing staged kept.
    loaded = effective(SQP, _name("rekeyed"), page_size=PAGE_SIZE)
    assert copy(bigquery_sandbox, loaded).status == "success"
    rekeyed = copy(bigquery_sandbox, effective(SQP, loaded.name, page_size=PAGE_SIZE,
                                               key_columns=["account_id", "start_date", "search_query"]))
    assert rekeyed.status == "failed"
    assert (f"key_columns: account_id, start_date, search_query is not the primary key of sqp.{loaded.name} "
            "(account_id, start_date, asin, search_query)") in rekeyed.error
    assert checkpoint(db_engine, loaded.name) is None


# ---- dry run, query source, shadow ----------------------------------------------------------------

def test_dry_run_writes_only_its_audit_row_and_reports_the_plan(db_engine, bigquery_sandbox, copy) -> None:
    table = effective(SQP, _name("dry"), page_size=PAGE_SIZE, on_source_delete="delete")
    config = table.config
    first = copy(bigquery_sandbox, table, "dry_run")  # no live table yet: everything would be inserted
    assert first.status == "success", first.error
    assert (first.target, first.rows_read, first.rows_inserted) == (None, 4992, 4992)
    assert first.details["compared_with"] is None and first.bytes_processed > 0
    assert not table_exists(db_engine, "sqp", config.target_table)
    assert state(db_engine, config.name) is None and checkpoint(db_engine, config.name) is None

    assert copy(bigquery_sandbox, table).status == "success"
    before, watermark = checksum(db_engine, "sqp", config), state(db_engine, config.name).watermark
    bigquery_sandbox.control("clock", {"now": (BIGQUERY_NOW + timedelta(days=1)).isoformat()})

    plan = copy(bigquery_sandbox, table, "dry_run")
    assert plan.status == "success", plan.error
    assert plan.mode == "dry_run" and plan.rows_updated > 0 and plan.rows_inserted == plan.rows_deleted == 0
    assert plan.details["weeks"] == {NEWEST_WEEK: {"read": 48, "inserted": 0, "updated": plan.rows_updated,
                                                   "deleted": 0}}
    assert plan.details["bytes_processed"] == plan.bytes_processed > 0
    assert plan.details["compared_with"] == f"sqp.{config.target_table}"
    row = audit(db_engine, plan.run_id)
    assert (row.mode, row.target, row.status, row.rows_updated) == ("dry_run", None, "success", plan.rows_updated)
    assert checksum(db_engine, "sqp", config) == before
    assert state(db_engine, config.name).watermark == watermark
    assert not table_exists(db_engine, "refresh_staging", f"{config.target_table}__sqp")

    live = copy(bigquery_sandbox, table)  # does what the dry run said
    assert (live.rows_inserted, live.rows_updated, live.rows_deleted) == (0, plan.rows_updated, 0)
    assert live.details["weeks"] == plan.details["weeks"]


def test_a_query_source_is_copied_and_follows_its_tables_corrections(db_engine, bigquery_sandbox, copy) -> None:
    table = effective("brand_search_query_weekly", _name("brand"), page_size=PAGE_SIZE)
    config = table.config
    first = copy(bigquery_sandbox, table)
    assert first.status == "success", first.error
    expected = source_rows(bigquery_sandbox, config)
    assert first.rows_inserted == len(expected) > 4000
    assert target_rows(db_engine, "sqp", config) == expected
    assert_written_nothing(copy(bigquery_sandbox, table))

    bigquery_sandbox.control("corrections", {"table": SQP, "start_date": "2025-06-01", "factor": 1.2})
    corrected = copy(bigquery_sandbox, table)
    assert corrected.status == "success", corrected.error
    assert corrected.rows_updated > 0 and list(corrected.details["weeks"]) == ["2025-06-01", NEWEST_WEEK]
    assert target_rows(db_engine, "sqp", config) == source_rows(bigquery_sandbox, config)


def test_shadow_mode_writes_the_shadow_schema_only(db_engine, bigquery_sandbox, copy) -> None:
    name = _name("shadow")
    table = effective(SQP, name, page_size=PAGE_SIZE, mode="shadow")
    assert target_schema_for("shadow") == "sqp_shadow" and target_schema_for("live") == "sqp"
    shadow = copy(bigquery_sandbox, table)
    assert shadow.status == "success", shadow.error
    assert shadow.target == f"sqp_shadow.{name}" and audit(db_engine, shadow.run_id).target == shadow.target
    assert table_exists(db_engine, "sqp_shadow", name) and not table_exists(db_engine, "sqp", name)
    assert state(db_engine, name, "sqp_shadow") is not None and state(db_engine, name) is None
    assert target_rows(db_engine, "sqp_shadow", table.config) == source_rows(bigquery_sandbox, table.config)
    assert_written_nothing(copy(bigquery_sandbox, table))

    live = copy(bigquery_sandbox, table, "live")  # the same table live: its own state, a full first load
    assert live.rows_inserted == 4992
    assert checksum(db_engine, "sqp", table.config) == checksum(db_engine, "sqp_shadow", table.config)


def test_record_skipped_writes_a_finished_audit_row(db_engine) -> None:
    table = effective(SQP, _name("skip"), page_size=PAGE_SIZE)
    outcome = record_skipped(db_engine, table, mode="live", cycle_id="c1", triggered_by="pytest",
                             reason="hard dependency x failed")
    assert (outcome.status, outcome.target, outcome.error) == ("skipped", None, "hard dependency x failed")
    row = audit(db_engine, outcome.run_id)
    assert (row.status, row.mode, row.error, row.finished_at is not None) == (
        "skipped", "live", "hard dependency x failed", True)
    assert outcome.summary() == {
        "table": table.name, "status": "skipped", "rows_read": 0, "rows_inserted": 0, "rows_updated": 0,
        "rows_deleted": 0, "mode": "live", "target": None, "bytes_processed": None, "job_id": None,
        "run_id": outcome.run_id, "error": "hard dependency x failed"}


def test_a_table_is_copied_by_one_process_at_a_time(db_engine, bigquery_sandbox, copy, monkeypatch) -> None:
    monkeypatch.setattr(copy_module, "LOCK_TIMEOUT", "200ms")
    table = effective(SQP, _name("locked"), page_size=PAGE_SIZE)
    with db_engine.connect() as holder:  # another process copying the same table into sqp
        holder.execute(text("SELECT pg_advisory_lock(hashtextextended(:name, 0))"),
                       {"name": f"refresh:{table.name}:sqp"})
        refused = copy(bigquery_sandbox, table)
        shadow = copy(bigquery_sandbox, table, "shadow")  # another target: not blocked
        holder.execute(text("SELECT pg_advisory_unlock(hashtextextended(:name, 0))"),
                       {"name": f"refresh:{table.name}:sqp"})
    assert refused.status == "failed" and f"another process is copying {table.name} into sqp" in refused.error
    assert refused.details["retryable"] is True
    assert audit(db_engine, refused.run_id).status == "failed" and refused.job_id is None
    assert shadow.status == "success", shadow.error
    assert copy(bigquery_sandbox, table).status == "success"


def test_a_copy_whose_checkpoint_is_removed_meanwhile_stops(db_engine, bigquery_sandbox, copy, monkeypatch) -> None:
    """Another process (a cutover) deleting a live copy's checkpoint while pages are read stops the
    copy rather than loading rows that process gave up."""
    table = effective(SQP, _name("removed"), page_size=PAGE_SIZE)
    copy_rows, calls = pg.copy_rows, []

    def copy_rows_then_remove(*args):
        calls.append(1)
        if len(calls) == 2:
            with db_engine.begin() as other:
                other.execute(refresh_checkpoints.delete().where(refresh_checkpoints.c.table_name == table.name))
        return copy_rows(*args)

    monkeypatch.setattr(pg, "copy_rows", copy_rows_then_remove)
    outcome = copy(bigquery_sandbox, table)
    assert outcome.status == "failed" and "was removed by another process" in outcome.error
    assert outcome.details["retryable"] is True and outcome.pages_read == 1
    assert not table_exists(db_engine, "sqp", table.name)
    assert not table_exists(db_engine, "refresh_staging", f"{table.name}__sqp")

    # Removed after every page was staged, before the upsert.
    later, read = effective(SQP, _name("removed"), page_size=PAGE_SIZE), copy_module._Copy._read

    def read_then_remove(self, conn, checkpoint):
        staged = read(self, conn, checkpoint)
        with db_engine.begin() as other:
            other.execute(refresh_checkpoints.delete().where(refresh_checkpoints.c.table_name == later.name))
        return staged

    monkeypatch.setattr(pg, "copy_rows", copy_rows)
    monkeypatch.setattr(copy_module._Copy, "_read", read_then_remove)
    outcome = copy(bigquery_sandbox, later)
    assert outcome.status == "failed" and "removed by another process before the upsert" in outcome.error
    assert not table_exists(db_engine, "sqp", later.name)


# ---- faults -----------------------------------------------------------------------------------------

def test_faults_give_the_same_table_as_a_fault_free_run(db_engine, make_bigquery, copy) -> None:
    sandbox = make_bigquery()
    clean = effective(SQP, _name("clean"), page_size=PAGE_SIZE)
    assert copy(sandbox, clean).status == "success"
    expected = checksum(db_engine, "sqp", clean.config)

    sandbox.faults("5xx=0.25,429=0.25", seed=3)
    flaky = effective(SQP, _name("flaky"), page_size=PAGE_SIZE)
    outcome = copy(sandbox, flaky)
    assert outcome.status == "success", outcome.error
    injected = sandbox.stats()["faults_injected"]
    assert injected.get("server_error", 0) > 0 and injected.get("rate_limited", 0) > 0
    assert checksum(db_engine, "sqp", flaky.config) == expected

    # Results that expire while pages are read: the table restarts with a new job, once per expiry.
    sandbox.faults("expire=1", operations=["tabledata.list"], limit=2)
    expiring = effective(SQP, _name("expiring"), page_size=PAGE_SIZE)
    jobs_before = sandbox.stats()["jobs_created"]
    outcome = copy(sandbox, expiring)
    assert outcome.status == "success", outcome.error
    assert outcome.details["restarted"] == 2 and sandbox.stats()["jobs_created"] - jobs_before == 3
    assert checksum(db_engine, "sqp", expiring.config) == expected
    assert checkpoint(db_engine, expiring.config.name) is None

    sandbox.faults("quota=1", operations=["tables.get"], limit=1)  # not retried by the client
    over_quota = copy(sandbox, effective(SQP, _name("quota"), page_size=PAGE_SIZE))
    assert over_quota.status == "failed" and over_quota.error.startswith("BigQuery: 403 ")
    assert "Quota exceeded: Your project exceeded quota" in over_quota.error
    assert over_quota.details["retryable"] is False and over_quota.job_id is None

    sandbox.faults("expire=1", operations=["tabledata.list"])  # every later page expires: give up
    doomed = effective(SQP, _name("doomed"), page_size=PAGE_SIZE)
    outcome = copy(sandbox, doomed)
    assert outcome.status == "failed" and "expired before all pages were read, for the 4th time" in outcome.error
    assert outcome.details["retryable"] is True
    assert not table_exists(db_engine, "sqp", doomed.config.target_table)
    assert checkpoint(db_engine, doomed.config.name) is None


# ---- the kill test ----------------------------------------------------------------------------------

def test_a_copy_killed_at_five_points_resumes_to_the_same_table(db_engine, database_url, bigquery_sandbox,
                                                                copy) -> None:
    reference = effective(SQP, _name("ref"), page_size=PAGE_SIZE)
    bigquery_sandbox.control("reset", {})
    assert copy(bigquery_sandbox, reference).status == "success"
    pages = bigquery_sandbox.stats()["pages_served"]
    assert pages == 5
    expected = checksum(db_engine, "sqp", reference.config)

    for point in POINTS:
        name = _name(point)
        bigquery_sandbox.control("reset", {})
        spec = {"database_url": database_url, "endpoint": bigquery_sandbox.server.url, "base": SQP, "name": name,
                "page_size": PAGE_SIZE, "point": point}
        killed = subprocess.run([sys.executable, "-m", "amc_pipelines_tests.refresh.kill_copy", json.dumps(spec)],
                                cwd=REPO, capture_output=True, text=True, timeout=120,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        assert killed.returncode == -9, f"{point}: {killed.returncode} {killed.stdout} {killed.stderr}"
        left = checkpoint(db_engine, name)
        assert left is not None, point
        assert (left.pages_loaded, left.state) == {
            "after_job_start": (0, "reading"), "mid_copy": (1, "reading"), "after_page": (2, "reading"),
            "after_last_page": (5, "read"), "mid_upsert": (5, "read")}[point]
        assert not table_exists(db_engine, "sqp", name), point  # created in the upsert's transaction, if at all

        resumed = copy(bigquery_sandbox, effective(SQP, name, page_size=PAGE_SIZE))
        assert resumed.status == "success", f"{point}: {resumed.error}"
        assert resumed.details["resumed"] is True and resumed.details["resumed_from_page"] == left.pages_loaded
        assert resumed.rows_inserted == 4992 and resumed.pages_read == 5 - left.pages_loaded
        assert checksum(db_engine, "sqp", reference.config.model_copy(update={"target": name})) == expected, point
        stats = bigquery_sandbox.stats()
        # One job for both processes; at most the page in flight read twice.
        assert stats["jobs_created"] == 1, point
        assert pages <= stats["pages_served"] <= pages + 1, (point, stats)
        assert stats["pages_served"] == pages + (point == "mid_copy")
        assert stats["calls"]["tabledata.list"] == stats["pages_served"], point  # pages come from tabledata.list only
        assert checkpoint(db_engine, name) is None
        assert not table_exists(db_engine, "refresh_staging", f"{name}__sqp")
        with db_engine.connect() as conn:
            statuses = conn.execute(select(refresh_runs.c.status, refresh_runs.c.error).where(
                refresh_runs.c.table_name == name).order_by(refresh_runs.c.id)).all()
        assert [s for s, _ in statuses] == ["failed", "success"], point
        assert statuses[0].error.startswith("interrupted: the process ended"), point
