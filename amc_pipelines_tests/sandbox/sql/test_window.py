"""Every AMC table is limited to the execution window (converted from its time zone to UTC)."""

from __future__ import annotations

from datetime import datetime

import pytest

from amc_pipelines.sandbox.sql import QueryRejected
from amc_pipelines.sandbox.sql.engine import compile_query
from amc_pipelines.sandbox.sql.window import parse_duration

from .conftest import INSTANCE, SCHEMA, request

TOTAL = "SELECT SUM(impressions) AS impressions FROM {source}"


def total(engine, source: str = "sponsored_ads_traffic", **overrides) -> int:
    return engine.run(request(TOTAL.format(source=source), **overrides), INSTANCE).rows[0][0]


def test_window_is_start_inclusive_end_exclusive(engine):
    # in the window: 10 + 20 + 30 + 5 + 7; the rows at 23:00 the day before and at the end are out
    assert total(engine) == 72


def test_window_follows_the_time_zone(engine):
    # New York midnight is 05:00 UTC: the 00:00 UTC row drops out, the row at the UTC end comes in
    assert total(engine, time_zone="America/New_York") == 72 - 10 + 2000


def test_narrow_window(engine):
    assert total(engine, time_window_start=datetime(2024, 1, 2), time_window_end=datetime(2024, 1, 3)) == 20


def test_extend_time_window_widens_both_ends(engine):
    source = "TABLE(EXTEND_TIME_WINDOW('sponsored_ads_traffic', 'P14D', 'P1D'))"
    assert total(engine, source) == 72 + 1000 + 2000 + 3


def test_extend_time_window_in_hours_only_before(engine):
    source = "TABLE(EXTEND_TIME_WINDOW('sponsored_ads_traffic', 'PT1H', 'P0D'))"
    assert total(engine, source) == 72 + 1000


def test_extension_applies_to_its_reference_only(engine):
    result = engine.run(
        request(
            "WITH wide AS (SELECT SUM(impressions) AS n FROM TABLE(EXTEND_TIME_WINDOW('sponsored_ads_traffic', 'P14D', 'P1D'))), "
            "narrow AS (SELECT SUM(impressions) AS n FROM sponsored_ads_traffic) "
            "SELECT wide.n AS wide_n, narrow.n AS narrow_n FROM wide CROSS JOIN narrow"
        ),
        INSTANCE,
    )
    assert result.rows == [(3075, 72)]


def test_every_reference_is_a_filtered_subquery(engine):
    sql, values = engine.translate(request(TOTAL.format(source="dsp_impressions")), SCHEMA)
    assert '"impression_dt_utc" >= CAST($amc_window_from_0 AS TIMESTAMP)' in sql
    assert '"impression_dt_utc" < CAST($amc_window_to_0 AS TIMESTAMP)' in sql
    assert values["amc_window_from_0"] == datetime(2024, 1, 1)


@pytest.mark.parametrize(
    ("text", "seconds"), [("P14D", 14 * 86400), ("P1W", 7 * 86400), ("PT12H", 12 * 3600), ("P1DT30M", 86400 + 1800)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["14D", "P", "P1Y", "forever"])
def test_bad_durations_are_rejected(text):
    with pytest.raises(QueryRejected, match="Invalid duration"):
        compile_query(request(TOTAL.format(source=f"TABLE(EXTEND_TIME_WINDOW('dsp_clicks', '{text}', 'P1D'))")))


def test_extend_time_window_of_an_unknown_table_is_rejected():
    with pytest.raises(QueryRejected, match="Table or view not found: nope"):
        compile_query(request(TOTAL.format(source="TABLE(EXTEND_TIME_WINDOW('nope', 'P1D', 'P1D'))")))


def test_end_before_start_is_rejected():
    with pytest.raises(QueryRejected, match="timeWindowEnd must be after"):
        compile_query(request(TOTAL.format(source="dsp_clicks"), time_window_end=datetime(2023, 1, 1)))
