"""The SQP summaries (dbt_project/models/sqp/) over refresh tables written with plain SQL: periods,
counting a query's totals once, shares recomputed, their dbt tests, and a database the refresh has
never reached. The refresh itself feeding them runs in amc_pipelines_tests/defs/test_bigquery_refresh.py."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from amc_pipelines.db import get_engine, upgrade
from amc_pipelines.marts import run_dbt

pytestmark = pytest.mark.slow  # dbt builds

SUMMARIES = ["weekly_summary", "monthly_summary", "quarterly_summary", "yearly_summary", "search_performance_summary"]
SELECT = ["--select", "path:models/sqp"]
_FAMILIES = ("click", "cart_add", "purchase")
_SHIPPING = [f"total_{speed}_shipping_{family}_count" for family in _FAMILIES for speed in ("same_day", "one_day", "two_day")]

# The refresh tables as the copy creates them from BigQuery's schema (INT64 bigint, FLOAT64 double
# precision, NUMERIC numeric, STRING text, DATE date, TIMESTAMP timestamptz), with a median price
# and a share the summaries must not combine.
SQP_DDL = f"""
CREATE TABLE sqp.search_query_performance (
    account_id text, advertiser text, marketplace_id text, start_date date, end_date date, asin text,
    search_query text, search_query_score bigint, search_query_volume bigint,
    total_query_impression_count bigint, asin_impression_count bigint, asin_impression_share double precision,
    total_click_count bigint, asin_click_count bigint, total_cart_add_count bigint, asin_cart_add_count bigint,
    total_purchase_count bigint, asin_purchase_count bigint, asin_median_click_price_amount numeric,
    {", ".join(f"{c} bigint" for c in _SHIPPING)}, updated_at timestamptz,
    PRIMARY KEY (account_id, start_date, asin, search_query))
"""
ASIN_DDL = """
CREATE TABLE sqp.asin_performance (
    account_id text, advertiser text, marketplace_id text, start_date date, end_date date, asin text,
    impressions bigint, clicks bigint, cart_adds bigint, purchases bigint, units_ordered bigint,
    ordered_product_sales_amount numeric, currency_code text, sessions bigint, page_views bigint,
    unit_session_percentage double precision, updated_at timestamptz,
    PRIMARY KEY (account_id, start_date, asin))
"""


def sqp_row(account: str, week: date, asin: str, query: str, *, volume: int, total: int, asin_count: int,
            marketplace: str = "ATVPDKIKX0DER") -> dict:
    """One SQP row: every total_* count is ``total``, every asin_* count ``asin_count``."""
    return {
        "account_id": account, "advertiser": f"Brand {account}", "marketplace_id": marketplace,
        "start_date": week, "end_date": week + timedelta(days=6), "asin": asin, "search_query": query,
        "search_query_score": 1, "search_query_volume": volume,
        "total_query_impression_count": total * 10, "asin_impression_count": asin_count * 10,
        "asin_impression_share": round(asin_count / total, 4),
        **{f"total_{f}_count": total for f in _FAMILIES}, **{f"asin_{f}_count": asin_count for f in _FAMILIES},
        "asin_median_click_price_amount": Decimal("19.99"), **{c: total // 4 for c in _SHIPPING},
        "updated_at": datetime.combine(week + timedelta(days=8), datetime.min.time()).astimezone(),
    }


def asin_row(account: str, week: date, asin: str, *, clicks: int, marketplace: str = "ATVPDKIKX0DER") -> dict:
    return {
        "account_id": account, "advertiser": f"Brand {account}", "marketplace_id": marketplace, "start_date": week,
        "end_date": week + timedelta(days=6), "asin": asin, "impressions": clicks * 20, "clicks": clicks,
        "cart_adds": clicks // 2, "purchases": clicks // 4, "units_ordered": clicks // 4,
        "ordered_product_sales_amount": Decimal(clicks // 4) * Decimal("24.50"), "currency_code": "USD",
        "sessions": clicks * 2, "page_views": clicks * 3, "unit_session_percentage": 0.1,
        "updated_at": datetime.combine(week + timedelta(days=8), datetime.min.time()).astimezone(),
    }


def insert(engine, table: str, rows: list[dict]) -> None:
    columns = list(rows[0])
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO sqp.{table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"),
                     rows)


def dbt(url: str, target: Path, *args: str):
    return run_dbt(list(args), url=url, target_dir=target, capture=True)


def rows(engine, sql: str, **values) -> list:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), values))


# Sundays. 2025-12-28 ends on 2026-01-03 (its Wednesday is 2025-12-31: December, 2025); 2026-03-22 is
# March; 2026-03-29 ends in April and has its Wednesday (2026-04-01) there: April, Q2.
W_DEC, W_MAR, W_APR = date(2025, 12, 28), date(2026, 3, 22), date(2026, 3, 29)


@pytest.fixture
def sqp_database(make_database):
    url = make_database()
    upgrade(url)
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE SCHEMA IF NOT EXISTS sqp"))
        conn.execute(text(SQP_DDL))
        conn.execute(text(ASIN_DDL))
    sqp = []
    for week in (W_DEC, W_MAR, W_APR):
        # "tent" is searched by two of the brand's ASINs: its totals repeat on both rows and count once.
        sqp += [sqp_row("A1", week, "B01", "tent", volume=1000, total=400, asin_count=40),
                sqp_row("A1", week, "B02", "tent", volume=1000, total=400, asin_count=60),
                sqp_row("A1", week, "B01", "rain jacket", volume=500, total=100, asin_count=50)]
    # Another account (in another marketplace) searched for the same query: its own rows and totals.
    sqp.append(sqp_row("A2", W_MAR, "B01", "tent", volume=300, total=90, asin_count=9, marketplace="A1PA6795UKMFR9"))
    insert(engine, "search_query_performance", sqp)
    insert(engine, "asin_performance", [asin_row("A1", W_MAR, "B01", clicks=400), asin_row("A1", W_MAR, "B03", clicks=80)])
    return url, engine


def test_summaries_count_query_totals_once_recompute_shares_and_place_weeks_by_their_wednesday(sqp_database, tmp_path):
    url, engine = sqp_database
    built = dbt(url, tmp_path / "build", "build", *SELECT)
    assert built.returncode == 0, built.stdout[-6000:]
    assert "PASS=" in built.stdout and " ERROR=0 " in built.stdout and " WARN=0 " in built.stdout

    week = rows(engine, "SELECT * FROM sqp_summary.weekly_summary WHERE period_start = :w AND marketplace_id = 'ATVPDKIKX0DER'",
                w=W_MAR)[0]
    # tent 1000 + rain jacket 500 searches; clicks: tent's 400 once + rain jacket's 100; the brand's 40 + 60 + 50.
    assert (week.search_query_volume, week.total_click_count, week.asin_click_count) == (1500, 500, 150)
    assert (week.asins, week.search_queries, week.period_end, week.weeks, week.expected_weeks, week.complete) == (
        2, 2, W_MAR + timedelta(days=6), 1, 1, True)
    assert float(week.asin_click_share) == pytest.approx(150 / 500)  # not an average of the rows' shares
    assert float(week.total_click_rate) == pytest.approx(500 / 1500)
    assert week.total_one_day_shipping_click_count == 100 + 25
    columns = {c for c in week._fields}
    assert not any("median" in c or "score" in c for c in columns)  # medians and scores do not combine

    months = {r.period_start: r for r in rows(engine, "SELECT * FROM sqp_summary.monthly_summary "
                                                      "WHERE marketplace_id = 'ATVPDKIKX0DER'")}
    assert sorted(months) == [date(2025, 12, 1), date(2026, 3, 1), date(2026, 4, 1)]
    assert months[date(2026, 4, 1)].first_week_start == W_APR  # starts in March, most of its days in April
    assert months[date(2025, 12, 1)].first_week_start == W_DEC
    # March 2026 has 4 Wednesdays, April 5: one week of each refreshed, so neither is complete.
    assert [(months[m].weeks, months[m].expected_weeks, months[m].complete) for m in (date(2026, 3, 1), date(2026, 4, 1))] == [
        (1, 4, False), (1, 5, False)]
    quarters = rows(engine, "SELECT period_start, weeks, expected_weeks, search_query_volume FROM sqp_summary.quarterly_summary "
                            "WHERE marketplace_id = 'ATVPDKIKX0DER' ORDER BY 1")
    assert [(q.period_start, q.weeks, q.search_query_volume) for q in quarters] == [
        (date(2025, 10, 1), 1, 1500), (date(2026, 1, 1), 1, 1500), (date(2026, 4, 1), 1, 1500)]
    assert [q.expected_weeks for q in quarters] == [14, 12, 13]  # Q4 2025 starts and ends on a Wednesday
    years = rows(engine, "SELECT period_start, weeks, period_end, expected_weeks FROM sqp_summary.yearly_summary "
                         "WHERE marketplace_id = 'ATVPDKIKX0DER' ORDER BY 1")
    assert [(y.period_start, y.weeks, y.period_end) for y in years] == [
        (date(2025, 1, 1), 1, date(2025, 12, 31)), (date(2026, 1, 1), 2, date(2026, 12, 31))]
    assert [y.expected_weeks for y in years] == [53, 52]  # 2025 starts and ends on a Wednesday

    other = rows(engine, "SELECT account_id, asin_click_count, total_click_count FROM sqp_summary.monthly_summary "
                         "WHERE marketplace_id = 'A1PA6795UKMFR9'")
    assert [tuple(r) for r in other] == [("A2", 9, 90)]

    per_asin = {r.asin: r for r in rows(engine, "SELECT * FROM sqp_summary.search_performance_summary WHERE period_start = :w "
                                                "AND marketplace_id = 'ATVPDKIKX0DER'", w=W_MAR)}
    b01, b02, b03 = per_asin["B01"], per_asin["B02"], per_asin["B03"]
    assert (b01.search_queries, b01.asin_click_count, b01.total_click_count, b01.clicks) == (2, 90, 500, 400)
    assert float(b01.search_click_share) == pytest.approx(90 / 400)
    assert (b01.has_search_query_data, b01.has_asin_performance) == (True, True)
    assert (b02.has_asin_performance, b02.clicks) == (False, None)  # SQP without an ASIN report row
    assert (b03.has_search_query_data, b03.clicks, b03.asin_click_count) == (False, 80, None)
    assert float(b01.unit_session_percentage) == pytest.approx(100 / 800)


def test_the_dbt_tests_catch_broken_summaries(sqp_database, tmp_path):
    url, engine = sqp_database
    assert dbt(url, tmp_path / "build", "build", *SELECT).returncode == 0
    with engine.begin() as conn:
        # A week counted twice and a share beyond 1.
        conn.execute(text("INSERT INTO sqp_summary.monthly_summary SELECT * FROM sqp_summary.monthly_summary "
                          "WHERE period_start = '2026-03-01'"))
        conn.execute(text("UPDATE sqp_summary.weekly_summary SET asin_click_share = 1.5 WHERE period_start = :w"), {"w": W_MAR})
    tested = dbt(url, tmp_path / "test", "test", *SELECT)
    assert tested.returncode == 1
    joined = "\n".join(line for line in tested.stdout.splitlines() if "FAIL" in line)
    assert "monthly_summary_unique_key" in joined and "monthly_summary_sums_match_source" in joined, tested.stdout[-4000:]
    assert "in_range_weekly_summary_asin_click_share" in joined, tested.stdout[-4000:]


def test_a_database_the_refresh_never_reached_builds_empty_summaries(make_database, tmp_path):
    url = make_database()
    upgrade(url)
    built = dbt(url, tmp_path / "build", "build", *SELECT)
    assert built.returncode == 0, built.stdout[-6000:]
    assert "does not exist (the BigQuery refresh has not copied it yet): read as empty" in built.stdout
    engine = get_engine(url)
    for summary in SUMMARIES:
        assert rows(engine, f"SELECT count(*) AS n FROM sqp_summary.{summary}")[0].n == 0
