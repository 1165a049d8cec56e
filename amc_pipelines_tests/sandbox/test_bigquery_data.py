"""The BigQuery stand-in's synthetic data: deterministic, consistent (SQP.md's definitions), weeks
Sunday to Saturday, late corrections by rule and on demand, schema drift and new tables for tests."""

from __future__ import annotations

import datetime as dt

import pytest
from google.cloud import bigquery as bq

from amc_pipelines.sandbox.bigquery import BigQueryConfig
from amc_pipelines.sandbox.bigquery.data import (
    COUNT_FAMILIES,
    WEEKS,
    corrections_applied,
    landed_weeks,
    landing_time,
)
from amc_pipelines.sandbox.bigquery.warehouse import Warehouse
from amc_pipelines_tests.fixtures.bigquery import ASIN, BIGQUERY_NOW, DATASET, PROJECT, SQP

CHECKSUM = """SELECT md5(string_agg(t::VARCHAR, '|' ORDER BY account_id, start_date, asin{extra}))
              FROM "brand_analytics"."{table}" t"""


def _checksums(warehouse: Warehouse) -> tuple[str, str]:
    cursor = warehouse.cursor()
    return (cursor.execute(CHECKSUM.format(table="search_query_performance", extra=", search_query")).fetchone()[0],
            cursor.execute(CHECKSUM.format(table="asin_performance", extra="")).fetchone()[0])


def test_same_size_seed_and_now_give_the_same_data(tmp_path) -> None:
    config = BigQueryConfig(size="small", now=BIGQUERY_NOW)
    first, second = Warehouse(config, tmp_path), Warehouse(config, tmp_path)
    other_seed = Warehouse(BigQueryConfig(size="small", now=BIGQUERY_NOW, seed=8), tmp_path)
    try:
        assert _checksums(first) == _checksums(second)
        assert _checksums(first) != _checksums(other_seed)
        assert first.rows == {"search_query_performance": 4992, "asin_performance": 624}
    finally:
        for warehouse in (first, second, other_seed):
            warehouse.close()


def test_weeks_land_on_monday_and_are_corrected_three_days() -> None:
    weeks = landed_weeks(BIGQUERY_NOW)
    assert len(weeks) == WEEKS and all(week.weekday() == 6 for week in weeks)  # Sundays
    assert weeks[-1] == dt.date(2026, 3, 1) and landing_time(weeks[-1]) == dt.datetime(2026, 3, 9, 6, tzinfo=dt.UTC)
    assert [corrections_applied(week, BIGQUERY_NOW) for week in weeks[-3:]] == [3, 3, 2]
    # Sunday night the week just ended has not landed yet.
    assert landed_weeks(dt.datetime(2026, 3, 8, 23, tzinfo=dt.UTC))[-1] == dt.date(2026, 2, 22)


def _sqp_violations(client) -> dict[str, int]:
    """How many rows break each of SQP.md's definitions (all zero when consistent)."""
    checks = [
        "end_date = start_date + 6", "extract(dayofweek FROM start_date) = 1",  # Sunday
        "asin_impression_count <= total_query_impression_count",
        "abs(asin_impression_share - round(safe_divide(asin_impression_count, total_query_impression_count), 4)) < 1e-9",
    ]
    for family in COUNT_FAMILIES:
        checks += [
            f"asin_{family}_count <= total_{family}_count",
            f"abs(total_{family}_rate - round(total_{family}_count / search_query_volume, 4)) < 1e-9",
            f"abs(asin_{family}_share - round(ifnull(safe_divide(asin_{family}_count, total_{family}_count), 0), 4)) < 1e-9",
            f"total_same_day_shipping_{family}_count + total_one_day_shipping_{family}_count "
            f"+ total_two_day_shipping_{family}_count <= total_{family}_count",
            f"(asin_median_{family}_price_amount IS NULL) = (asin_{family}_count = 0)",
        ]
    failing = ", ".join(f"countif(NOT ({check}))" for check in checks)
    (row,) = client.query_and_wait(f"SELECT {failing} FROM {SQP}")
    return {check: count for check, count in zip(checks, row.values(), strict=True) if count}


def test_sqp_rows_are_consistent(bigquery_sandbox) -> None:
    assert _sqp_violations(bigquery_sandbox.client) == {}
    (scores,) = bigquery_sandbox.client.query_and_wait(
        f"SELECT countif(search_query_score = 1) AS firsts, count(DISTINCT concat(asin, CAST(start_date AS STRING))) AS weeks "
        f"FROM {SQP}")
    assert scores["firsts"] == scores["weeks"]
    (asin,) = bigquery_sandbox.client.query_and_wait(
        f"SELECT countif(a.clicks < s.clicks OR a.purchases < s.purchases) AS below, count(*) AS n FROM {ASIN} a JOIN "
        f"(SELECT asin, start_date, sum(asin_click_count) AS clicks, sum(asin_purchase_count) AS purchases FROM {SQP} "
        f"GROUP BY 1, 2) s USING (asin, start_date)")
    assert asin["below"] == 0 and asin["n"] == 624


def test_updated_at_follows_the_correction_rule(bigquery_sandbox) -> None:
    rows = bigquery_sandbox.client.query_and_wait(
        f"SELECT start_date, min(updated_at) AS first, max(updated_at) AS last, countif(updated_at > min_at) AS corrected "
        f"FROM (SELECT *, min(updated_at) OVER (PARTITION BY start_date) AS min_at FROM {SQP}) "
        f"GROUP BY start_date ORDER BY start_date DESC LIMIT 3")
    newest, previous, older = list(rows)
    landed = dt.datetime(2026, 3, 9, 6, tzinfo=dt.UTC)
    assert (newest["first"], newest["last"]) == (landed, landed + dt.timedelta(days=2))
    assert 0 < newest["corrected"] < 4992 / WEEKS  # about a fifth of the week's rows
    assert previous["last"] == previous["first"] + dt.timedelta(days=3)
    assert older["first"] == landed - dt.timedelta(weeks=2)


def test_correction_endpoint_changes_rows_and_updated_at(bigquery_sandbox) -> None:
    client = bigquery_sandbox.client
    week = dt.date(2025, 6, 1)
    before = {tuple(r.values())[:2]: r for r in client.query_and_wait(
        f"SELECT asin, search_query, total_click_count, asin_click_share, updated_at FROM {SQP} WHERE start_date = '{week}'")}
    at = dt.datetime(2026, 3, 11, 13, tzinfo=dt.UTC)
    answer = bigquery_sandbox.control("corrections", {"table": "search_query_performance", "start_date": str(week),
                                                      "factor": 1.5, "at": at.isoformat()})
    assert answer["rows_changed"] == len(before) == 48
    watermark = bq.QueryJobConfig(query_parameters=[bq.ScalarQueryParameter("since", "TIMESTAMP", BIGQUERY_NOW)])
    changed = list(client.query_and_wait(
        f"SELECT asin, search_query, total_click_count, updated_at FROM {SQP} WHERE updated_at > @since", job_config=watermark))
    assert len(changed) == 48 and {row["updated_at"] for row in changed} == {at}
    for row in changed:
        assert row["total_click_count"] == int(before[(row["asin"], row["search_query"])]["total_click_count"] * 1.5)
    assert _sqp_violations(client) == {}  # shares and rates recomputed
    answer = bigquery_sandbox.control("corrections", {"table": "asin_performance", "start_date": str(week), "factor": 1.1})
    assert answer["rows_changed"] == 6


def test_schema_drift_and_new_tables(bigquery_sandbox) -> None:
    client, table_id = bigquery_sandbox.client, f"{PROJECT}.{DATASET}.asin_performance"
    bigquery_sandbox.control("schema", {"table": "asin_performance", "add": {"name": "brand", "type": "STRING"}})
    bigquery_sandbox.control("schema", {"table": "asin_performance", "drop": "page_views"})
    bigquery_sandbox.control("schema", {"table": "asin_performance", "retype": {"name": "sessions", "type": "FLOAT64"}})
    fields = {field.name: field.field_type for field in client.get_table(table_id).schema}
    assert fields["brand"] == "STRING" and "page_views" not in fields and fields["sessions"] == "FLOAT"
    (row,) = client.query_and_wait(f"SELECT brand, sessions FROM `{table_id}` LIMIT 1")
    assert row["brand"] is None and isinstance(row["sessions"], float)
    created = bigquery_sandbox.control("tables", {"table": "daily_sqp_data", "query": (
        "SELECT asin, start_date AS day, sum(search_query_volume) AS volume FROM search_query_performance GROUP BY 1, 2")})
    assert created["rows"] == 624
    assert "daily_sqp_data" in [t.table_id for t in client.list_tables(DATASET)]
    with pytest.raises(AssertionError, match="notFound"):
        bigquery_sandbox.control("schema", {"table": "asin_performance", "drop": "no_such_column"})


def test_advancing_the_clock_lands_a_week(bigquery_sandbox) -> None:
    newest = f"SELECT max(start_date) AS week, max(updated_at) AS updated FROM {SQP}"
    (before,) = bigquery_sandbox.client.query_and_wait(newest)
    answer = bigquery_sandbox.control("clock", {"now": "2026-03-16T07:00:00+00:00"})
    assert answer["rows"]["search_query_performance"] == 4992
    (after,) = bigquery_sandbox.client.query_and_wait(newest)
    assert (before["week"], after["week"]) == (dt.date(2026, 3, 1), dt.date(2026, 3, 8))
    assert after["updated"] == dt.datetime(2026, 3, 16, 6, tzinfo=dt.UTC)
