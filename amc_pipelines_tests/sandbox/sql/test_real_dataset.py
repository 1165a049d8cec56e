"""The engine over the generated ``small`` sandbox dataset."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from amc_pipelines.sandbox.sql import QueryRequest, SqlEngine


@pytest.fixture(scope="module")
def real_engine(sandbox_dataset) -> SqlEngine:
    return SqlEngine(sandbox_dataset)


@pytest.fixture(scope="module")
def last_week(sandbox_dataset) -> tuple[datetime, datetime]:
    end = datetime.combine(sandbox_dataset.end_date, datetime.min.time()) - timedelta(days=2)
    return end - timedelta(days=7), end


def run(engine, dataset, sql, start, end, **options):
    instance = dataset.instances[0]
    request = QueryRequest(sql=sql, time_window_start=start, time_window_end=end, time_zone=instance.timezone, **options)
    return engine.run(request, instance.instance_id)


def test_campaign_report_has_rows_above_threshold(real_engine, sandbox_dataset, last_week):
    result = run(
        real_engine,
        sandbox_dataset,
        "SELECT campaign, ad_product_type, SUM(impressions) AS impressions, SUM(clicks) AS clicks, "
        "SUM(spend) / 100000000 AS spend, COUNT(DISTINCT user_id) AS users FROM sponsored_ads_traffic GROUP BY 1, 2",
        *last_week,
    )
    assert result.rows
    assert all(row[5] >= 2 for row in result.rows)
    assert result.column_types[:3] == ["STRING", "STRING", "LONG"]


def test_two_halves_add_up_to_the_week(real_engine, sandbox_dataset, last_week):
    sql = "SELECT SUM(impressions) AS impressions FROM dsp_impressions"
    start, end = last_week
    middle = start + (end - start) / 2
    week = run(real_engine, sandbox_dataset, sql, start, end).rows[0][0] or 0
    halves = [run(real_engine, sandbox_dataset, sql, a, b).rows[0][0] or 0 for a, b in ((start, middle), (middle, end))]
    assert week == sum(halves)


def test_extended_window_reads_more_events(real_engine, sandbox_dataset, last_week):
    plain = "SELECT COUNT(*) AS events FROM sponsored_ads_traffic"
    extended = "SELECT COUNT(*) AS events FROM TABLE(EXTEND_TIME_WINDOW('sponsored_ads_traffic', 'P14D', 'P0D'))"
    assert run(real_engine, sandbox_dataset, extended, *last_week).rows[0][0] > run(
        real_engine, sandbox_dataset, plain, *last_week
    ).rows[0][0]


def test_fine_grained_medium_dimension_is_filtered(real_engine, sandbox_dataset, last_week):
    result = run(
        real_engine,
        sandbox_dataset,
        "SELECT event_dt_utc, SUM(impressions) AS impressions FROM sponsored_ads_traffic GROUP BY 1",
        *last_week,
        filtered_metrics_discriminator_column="filtered",
    )
    assert result.rows_removed > 0
    assert all(row[0] is None for row in result.rows if row[-1])
