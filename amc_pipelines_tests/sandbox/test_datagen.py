"""The synthetic AMC data: schema fidelity, determinism, consistency, units, NTB, anomalies, caching."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from amc_pipelines.sandbox.datagen import GENERATOR_VERSION, SIZES, Dataset, ensure_dataset
from amc_pipelines.sandbox.tables import sandbox_tables

TABLES = sorted(sandbox_tables())
DENSE_TRAFFIC = ("dsp_impressions", "dsp_views", "sponsored_ads_traffic")


@pytest.fixture(scope="module")
def con(sandbox_dataset: Dataset):
    connection = sandbox_dataset.connect()
    yield connection
    connection.close()


def _q(con, sql: str, *params):
    return con.execute(sql, list(params)).fetchall()


def _checksums(dataset: Dataset) -> list[tuple]:
    """Row count and content hash of every stored table (the documented tables are views over them)."""
    with dataset.connect() as connection:
        stored = connection.execute("SELECT schema_name, table_name FROM duckdb_tables() ORDER BY ALL").fetchall()
        positions = {i.schema: n for n, i in enumerate(dataset.instances)}
        return [(positions[schema], name, *connection.execute(
                    f'SELECT count(*), sum(hash(t)) FROM "{schema}"."{name}" t').fetchone())
                for schema, name in stored]


def test_unknown_size_names_the_valid_sizes(tmp_path: Path):
    with pytest.raises(ValueError, match="small, demo, large"):
        ensure_dataset(tmp_path, size="huge")


def test_instances_are_well_formed(sandbox_dataset: Dataset):
    assert len(sandbox_dataset.instances) == SIZES["small"].instances
    for instance in sandbox_dataset.instances:
        assert re.fullmatch(r"amc[a-z0-9]{8,16}", instance.instance_id)
        assert re.fullmatch(r"ENTITY[A-Z0-9]{8,20}", instance.account_id)
        assert instance.region in ("NA", "EU", "FE")
        ZoneInfo(instance.timezone)
        assert sandbox_dataset.instance(instance.instance_id) == instance
    assert len({i.timezone for i in sandbox_dataset.instances}) == len(sandbox_dataset.instances)
    with pytest.raises(KeyError, match="amcnosuchinstance"):
        sandbox_dataset.instance("amcnosuchinstance")


def test_every_table_has_every_documented_column_and_type(sandbox_dataset: Dataset, con):
    for instance in sandbox_dataset.instances:
        for name, table in sandbox_tables().items():
            described = _q(con, "SELECT column_name, data_type FROM information_schema.columns "
                                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                           instance.schema, name)
            assert described == [(c.name, c.duckdb_type) for c in table.columns], name
            assert _q(con, f'SELECT count(*) FROM "{instance.schema}"."{name}"')[0][0] > 0, name


def test_time_coverage_is_thirteen_months_ending_at_end_date(sandbox_dataset: Dataset, con):
    assert sandbox_dataset.end_date == datetime.now(UTC).date() or sandbox_dataset.end_date == (
        datetime.now(UTC).date() - timedelta(days=1))  # the run may straddle midnight
    assert sandbox_dataset.start_date <= sandbox_dataset.end_date - timedelta(days=396)
    for instance in sandbox_dataset.instances:
        for name in TABLES:
            column = sandbox_tables()[name].event_time_column
            first, last = _q(con, f'SELECT min("{column}")::DATE, max("{column}")::DATE FROM "{instance.schema}"."{name}"')[0]
            assert first >= sandbox_dataset.start_date and last <= sandbox_dataset.end_date, name
            if name in DENSE_TRAFFIC:
                assert first == sandbox_dataset.start_date and last == sandbox_dataset.end_date, name


def test_same_seed_same_data_and_other_seed_other_data(sandbox_dataset: Dataset, tmp_path: Path):
    again = ensure_dataset(tmp_path / "again", size="small", seed=7, end_date=sandbox_dataset.end_date)
    assert [i.instance_id for i in again.instances] == [i.instance_id for i in sandbox_dataset.instances]
    assert _checksums(again) == _checksums(sandbox_dataset)
    other = ensure_dataset(tmp_path / "other", size="small", seed=8, end_date=sandbox_dataset.end_date)
    assert [i.instance_id for i in other.instances] != [i.instance_id for i in sandbox_dataset.instances]
    assert _checksums(other) != _checksums(sandbox_dataset)


def test_attributed_rows_point_at_real_traffic_within_14_days(sandbox_dataset: Dataset, con):
    for i in sandbox_dataset.instances:
        s = f'"{i.schema}"'
        checks = {
            "dsp impressions": f"""a.ad_product_type IS NULL AND a.traffic_event_subtype = 'AD_IMP' AND NOT EXISTS (
                SELECT 1 FROM {s}.dsp_impressions t WHERE t.request_tag = a.traffic_event_id AND t.user_id = a.user_id
                AND t.campaign_id_string = a.campaign_id_string AND t.impression_dt_utc = a.traffic_event_dt_utc)""",
            "dsp clicks": f"""a.ad_product_type IS NULL AND a.traffic_event_subtype = 'AD_CLICK' AND NOT EXISTS (
                SELECT 1 FROM {s}.dsp_clicks t WHERE t.request_tag = a.traffic_event_id AND t.user_id = a.user_id
                AND t.campaign_id_string = a.campaign_id_string AND t.click_dt_utc = a.traffic_event_dt_utc)""",
            "sponsored ads": f"""a.ad_product_type IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM {s}.sponsored_ads_traffic t WHERE t.event_id = a.traffic_event_id AND t.user_id = a.user_id
                AND t.campaign_id_string = a.campaign_id_string AND t.ad_product_type = a.ad_product_type
                AND t.event_dt_utc = a.traffic_event_dt_utc
                AND t.clicks = (CASE WHEN a.traffic_event_subtype = 'AD_CLICK' THEN 1 ELSE 0 END))""",
            "14-day window": """a.conversion_event_dt_utc < a.traffic_event_dt_utc
                OR a.conversion_event_dt_utc > a.traffic_event_dt_utc + INTERVAL 14 DAY""",
            "DSP rows have NULL ad_product_type": "(a.request_tag IS NULL) <> (a.ad_product_type IS NOT NULL)",
        }
        for label, condition in checks.items():
            bad = _q(con, f"SELECT count(*) FROM {s}.amazon_attributed_events_by_conversion_time a WHERE {condition}")[0][0]
            assert bad == 0, f"{i.instance_id}: {bad} attributed rows fail: {label}"
        products = {r[0] for r in _q(con, f"SELECT DISTINCT ad_product_type FROM {s}.amazon_attributed_events_by_traffic_time")}
        assert products >= {None, "sponsored_products", "sponsored_brands", "sponsored_television"}
        # Both attributed tables hold the same conversions.
        assert _q(con, f"""SELECT count(*) FROM (SELECT * FROM {s}.amazon_attributed_events_by_conversion_time
                           EXCEPT ALL SELECT * FROM {s}.amazon_attributed_events_by_traffic_time)""")[0][0] == 0
        # Every attributed purchase is a purchase event in conversions (same user, time, ASIN, sales).
        missing = _q(con, f"""SELECT count(*) FROM {s}.amazon_attributed_events_by_conversion_time a
            WHERE a.total_purchases = 1 AND NOT EXISTS (SELECT 1 FROM {s}.conversions c
              WHERE c.user_id = a.user_id AND c.event_dt_utc = a.conversion_event_dt_utc AND c.tracked_asin = a.tracked_asin
              AND c.total_product_sales = a.total_product_sales AND c.new_to_brand = a.new_to_brand)""")[0][0]
        assert missing == 0


def test_entities_are_consistent_across_tables(sandbox_dataset: Dataset, con):
    for i in sandbox_dataset.instances:
        s = f'"{i.schema}"'
        union = " UNION ALL ".join(
            f"SELECT campaign_id_string, campaign, advertiser, advertiser_timezone FROM {s}.{t}"
            for t in ("dsp_impressions", "dsp_clicks", "dsp_views", "sponsored_ads_traffic",
                      "amazon_attributed_events_by_conversion_time", "conversions_with_relevance"))
        rows = _q(con, f"SELECT campaign_id_string, count(DISTINCT campaign), min(advertiser), max(advertiser), "
                       f"min(advertiser_timezone) FROM ({union}) GROUP BY 1")
        assert all(r[1] == 1 and r[2] == r[3] == i.advertiser and r[4] == i.timezone for r in rows)
        products = {r[0] for r in _q(con, f"SELECT DISTINCT ad_product_type FROM {s}.sponsored_ads_traffic")}
        assert products == {"sponsored_products", "sponsored_brands", "sponsored_display", "sponsored_television"}
        bad_asins = _q(con, f"""SELECT count(*) FROM (SELECT tracked_item AS asin FROM {s}.conversions_all
            UNION ALL SELECT creative_asin FROM {s}.sponsored_ads_traffic) WHERE NOT regexp_full_match(asin, '[A-Z0-9]{{10}}')""")
        assert bad_asins[0][0] == 0
        # conversions holds ad-exposed users only: every one of them was served traffic.
        unexposed = _q(con, f"""SELECT count(DISTINCT user_id) FROM {s}.conversions WHERE user_id NOT IN (
            SELECT user_id FROM {s}.dsp_impressions UNION SELECT user_id FROM {s}.sponsored_ads_traffic)""")
        assert unexposed[0][0] == 0


def test_units_rates_and_local_times_are_plausible(sandbox_dataset: Dataset, con):
    us = next(i for i in sandbox_dataset.instances if i.marketplace_id == "ATVPDKIKX0DER")
    s = f'"{us.schema}"'
    cpm, dsp_ctr = _q(con, f"""SELECT sum(total_cost) / 1e5 / count(*) * 1000,
        (SELECT count(*) FROM {s}.dsp_clicks) / count(*) FROM {s}.dsp_impressions""")[0]
    assert 2 <= cpm <= 15 and 0.0015 <= dsp_ctr <= 0.006
    cpc, sp_ctr = _q(con, f"""SELECT sum(spend) / 1e8 / sum(clicks), sum(clicks) / sum(impressions)
        FROM {s}.sponsored_ads_traffic WHERE ad_product_type = 'sponsored_products'""")[0]
    assert 0.3 <= cpc <= 3 and 0.003 <= sp_ctr <= 0.008
    price = _q(con, f"SELECT avg(purchase_unit_price) FROM {s}.conversions WHERE event_subtype = 'order'")[0][0]
    assert 5 <= price <= 200
    for i in sandbox_dataset.instances:
        zone = ZoneInfo(i.timezone)
        sample = _q(con, f"""SELECT impression_dt_utc, impression_dt, impression_date, impression_hour, impression_day_utc
            FROM "{i.schema}".dsp_impressions USING SAMPLE 200 ROWS (reservoir, 1)""")
        for utc, local, local_date, local_hour, utc_day in sample:
            expected = utc.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)
            assert (local, local_date, local_hour, utc_day) == (expected, expected.date(), expected.hour, utc.day)


def test_new_to_brand_follows_the_12_month_lookback(sandbox_dataset: Dataset, con):
    for i in sandbox_dataset.instances:
        rows = _q(con, f"""WITH p AS (SELECT user_id, event_dt_utc, new_to_brand,
                lag(event_dt_utc) OVER (PARTITION BY user_id ORDER BY event_dt_utc) AS previous
              FROM "{i.schema}".conversions_all WHERE event_subtype = 'order')
            SELECT
              count(*) FILTER (WHERE new_to_brand AND previous > event_dt_utc - INTERVAL 365 DAY),
              count(*) FILTER (WHERE NOT new_to_brand AND event_dt_utc >= ?::TIMESTAMP + INTERVAL 365 DAY
                               AND (previous IS NULL OR previous <= event_dt_utc - INTERVAL 365 DAY)),
              count(*) FILTER (WHERE new_to_brand), count(*)
            FROM p""", sandbox_dataset.start_date)
        wrong_ntb, wrong_repeat, ntb, purchases = rows[0]
        assert wrong_ntb == 0 and wrong_repeat == 0
        assert 0.1 < ntb / purchases < 0.7


def test_anomalies_file_lists_planted_effects(sandbox_dataset: Dataset):
    anomalies = json.loads(sandbox_dataset.anomalies_path.read_text())
    assert {a["kind"] for a in anomalies} == {"spend_spike", "ctr_collapse", "conversion_drop", "ntb_surge"}
    assert {a["instance_id"] for a in anomalies} == {i.instance_id for i in sandbox_dataset.instances}
    for a in anomalies:
        assert a["table"] in TABLES and a["direction"] in ("up", "down")
        assert sandbox_dataset.start_date < date.fromisoformat(a["start_date"]) <= date.fromisoformat(a["end_date"])
        assert date.fromisoformat(a["end_date"]) < sandbox_dataset.end_date


# kind -> (table, advertiser-local date column, metric, whether the metric is a per-week count)
ANOMALY_METRICS = {
    "spend_spike": ("dsp_impressions", "impression_date", "sum(total_cost)", True),
    "ctr_collapse": ("sponsored_ads_traffic", "event_date", "sum(clicks) / sum(impressions)", False),
    "conversion_drop": ("amazon_attributed_events_by_conversion_time", "conversion_event_date", "sum(conversions)", True),
    "ntb_surge": ("amazon_attributed_events_by_traffic_time", "traffic_event_date", "sum(new_to_brand_purchases)", True),
}


def test_planted_anomalies_are_visible_in_the_data(sandbox_dataset: Dataset, con):
    for a in sandbox_dataset.anomalies():
        table, day, metric, per_week = ANOMALY_METRICS[a["kind"]]
        start, end = date.fromisoformat(a["start_date"]), date.fromisoformat(a["end_date"])
        # The same campaign inside the window vs the 8 weeks before and after it.
        rows = _q(con, f"""SELECT {day} BETWEEN ? AND ? AS inside, {metric}, count(DISTINCT date_trunc('week', {day}))
            FROM "{a['instance_id']}".{table}
            WHERE campaign_id_string = ? AND {day} BETWEEN ? AND ? GROUP BY 1""",
                   start, end, a["campaign_id_string"], start - timedelta(weeks=8), end + timedelta(weeks=8))
        values = {inside: float(value) / (weeks if per_week else 1) for inside, value, weeks in rows}
        ratio = values[True] / values[False]
        if a["direction"] == "up":
            assert ratio > 1.8, (a["anomaly_id"], ratio)
        else:
            assert ratio < 0.6, (a["anomaly_id"], ratio)


def test_concurrent_processes_generate_once(tmp_path: Path):
    script = ("import sys; from datetime import date; from pathlib import Path; "
              "from amc_pipelines.sandbox.datagen.store import ensure; "
              "ds, generated = ensure(Path(sys.argv[1]), size='small', seed=11, end_date=date(2025, 6, 30)); "
              "print(generated, ds.path)")
    processes = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0].split() for p in processes]
    assert all(p.returncode == 0 for p in processes)
    assert sorted(o[0] for o in outputs) == ["False", "True"]
    assert outputs[0][1] == outputs[1][1]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        f"amc-sandbox-small-seed11-20250630-v{GENERATOR_VERSION}{suffix}"
        for suffix in (".anomalies.json", ".duckdb", ".manifest.json")]
