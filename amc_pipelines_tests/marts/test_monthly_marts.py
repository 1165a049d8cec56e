"""The monthly marts (calendar months, from the daily grain of campaign_performance) against a sandbox
run of the same report over exactly that calendar month, and against an independent pandas computation.

One module database: for 2 instances, every week overlapping a calendar month whose first and last
days fall in weeks that straddle the month's edges, loaded through the runner, plus the newest
collectable week (provisional). Before any of them, one older week of instance 0 is loaded with the
report as it was before it had event_date: the result table is created without the column, the next
load adds it, and that week's rows stay undated. Planted: a campaign-day whose measures AMC withheld
(privacy_filtered, NULL measures; the small sandbox rarely withholds one by itself) and a campaign
with no delivery (zero denominators). Marked slow (dbt builds).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from amc_pipelines.catalog import load_catalog
from amc_pipelines.catalog.definitions import implicit_definition, load_definitions
from amc_pipelines.marts import marketplace_currencies
from amc_pipelines.params.windows import add_months, week_start_of
from amc_pipelines_tests.fixtures.database import create_database, drop_database
from amc_pipelines_tests.ledger.conftest import LedgerEnv, register_sandbox_instances
from amc_pipelines_tests.marts.conftest import TEMPLATE, MartsEnv
from amc_pipelines_tests.marts.test_weekly_marts import (
    BASE,
    INTEGERS,
    RATIOS,
    _frame,
    _ratio,
    assert_same,
    checksum,
    mart,
)

pytestmark = pytest.mark.slow

KEYS_CAMPAIGN = ["instance_id", "month_start", "ad_product", "campaign_id"]
KEYS_INSTANCE = ["instance_id", "month_start"]
MONEY = ["spend", "sales", "ntb_sales"]
CHANGES = ["spend_mom", "sales_mom", "roas_mom", "spend_yoy", "sales_yoy", "roas_yoy"]
MONTH_MARTS = ("fct_campaign_month", "fct_instance_month")
NO_DELIVERY = "no-delivery"


def next_month(month: date) -> date:
    return add_months(month, 1)


def days_of(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1]


def straddled_month(ledger: LedgerEnv) -> date:
    """The latest calendar month whose every week is collectable in both instances' zones, whose first
    day is not a week's first day and whose last day not a week's last day (weeks start on Monday)."""
    latest = min(ledger.week(weeks_back=0, instance=index) for index in (0, 1))
    month = next_month(latest.replace(day=1))
    while True:
        month = add_months(month, -1)
        last = next_month(month) - timedelta(days=1)
        if week_start_of(last, "monday") <= latest and month.weekday() != 0 and last.weekday() != 6:
            return month


def report_before_event_date():
    """campaign_performance as it was before it had event_date (weekly rows, privacy REMOVE_ROWS)."""
    from amc_pipelines.sandbox.sql.engine import parse_amc

    spec = load_catalog(None, check_sql=False)[TEMPLATE]
    tree = parse_amc(spec.sql)
    tree.set("expressions", [e for e in tree.expressions if e.alias_or_name != "event_date"])
    group = tree.args["group"]
    group.set("expressions", [e for e in group.expressions if e.name != "event_date"])
    return spec.model_copy(update={
        "sql": tree.sql(dialect="spark", pretty=True),
        "output_columns": [c for c in spec.output_columns if c.name not in ("event_date", "privacy_filtered")],
        "privacy": type(spec.privacy)(),
    })


def run_report_of(env: MartsEnv, instance_id: str, **window):
    """One run through the runner, of the catalog's report or (``definitions``) another version of it."""
    from amc_pipelines.runner import prepare_run, run_report

    request = prepare_run(env.engine, env.ledger.settings, report_name=TEMPLATE, instance_id=instance_id, **window)
    with env.ledger.client() as client:
        return request, run_report(env.engine, env.ledger.settings, client, request)


def result_columns(env: MartsEnv) -> set[str]:
    return set(_frame(env, "SELECT column_name FROM information_schema.columns "
                           "WHERE table_schema = 'amc_results' AND table_name = 'campaign_performance'").column_name)


@dataclass
class MonthEnv:
    marts: MartsEnv
    month: date
    month_weeks: list[date]  # the weeks overlapping the month, oldest first
    undated_week: date  # instance 0, loaded with the report before event_date
    columns_before_upgrade: set[str]
    withheld: dict | None = None  # the planted withheld campaign-day and the measures AMC withheld

    @property
    def engine(self):
        return self.marts.engine


@pytest.fixture(scope="module")
def month_env(postgres_server_url, sandbox_server, clock, tmp_path_factory):
    from amc_pipelines.db import get_engine, upgrade

    url = create_database(postgres_server_url)
    try:
        upgrade(url)
        engine = get_engine(url)
        register_sandbox_instances(engine, sandbox_server)
        home = tmp_path_factory.mktemp("monthly-marts-home")
        ledger = LedgerEnv(url, engine, sandbox_server, home, clock)
        month = straddled_month(ledger)
        first, last = week_start_of(month, "monday"), week_start_of(next_month(month) - timedelta(days=1), "monday")
        month_weeks = [first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]
        # weeks_back=1: collectable in every zone at any hour, and still provisional
        weeks = sorted({*month_weeks, ledger.week(weeks_back=1)})
        env = MartsEnv(ledger, weeks, [i.instance_id for i in ledger.instances[:2]], target=home / "dbt")
        i0 = env.instance_ids[0]

        undated_week = first - timedelta(weeks=2)
        old = implicit_definition(report_before_event_date())
        _, env.loaded[i0, undated_week] = run_report_of(env, i0, week=undated_week, definitions={TEMPLATE: old})
        columns_before_upgrade = result_columns(env)
        for instance_id in env.instance_ids:
            for week in weeks:
                env.loaded[instance_id, week] = env.run(instance_id, week)
        yield MonthEnv(env, month, month_weeks, undated_week, columns_before_upgrade)
    finally:
        drop_database(postgres_server_url, url)


@pytest.fixture(scope="module")
def built(month_env):
    """The planted withheld campaign-day and no-delivery campaign, then the marts built once."""
    env = month_env.marts
    i0, i1 = env.instance_ids
    inner_week = month_env.month_weeks[1]  # wholly inside the month, never re-collected below
    row = _frame(env, f"SELECT ad_product, campaign_id, event_date, {', '.join(BASE)} "
                      f"FROM amc_results.campaign_performance WHERE instance_id = '{i0}' AND week_start = '{inner_week}' "
                      f"AND window_end = week_start + interval '7 days' ORDER BY impressions DESC LIMIT 1").iloc[0]
    env.execute(f"UPDATE amc_results.campaign_performance SET {', '.join(f'{m} = NULL' for m in BASE)}, "
                f"privacy_filtered = true WHERE instance_id = :i AND week_start = :w AND ad_product = :p "
                f"AND campaign_id = :c AND event_date = :d AND window_end = week_start + interval '7 days'",
                i=i0, w=inner_week, p=row.ad_product, c=row.campaign_id, d=row.event_date)
    month_env.withheld = {"instance_id": i0, "week_start": inner_week, **row.to_dict()}
    loader = "definition, parameters_hash, instance_id, week_start, window_end, amc_execution_id"
    env.execute(f"INSERT INTO amc_results.campaign_performance (ad_product, campaign_id, campaign, event_date, "
                f"{', '.join(BASE)}, privacy_filtered, {loader}) "
                f"SELECT ad_product, '{NO_DELIVERY}', 'No delivery', event_date, 0, 0, 0, 0, 12.5, 0, 0, false, {loader} "
                f"FROM amc_results.campaign_performance WHERE instance_id = :i AND week_start = :w "
                f"AND event_date >= :m AND event_date < :n AND window_end = week_start + interval '7 days' LIMIT 1",
                i=i1, w=month_env.month_weeks[-1], m=month_env.month, n=next_month(month_env.month))
    env.dbt("build")
    return month_env


def test_monthly_marts_equal_a_month_run_and_pandas_and_rebuild_incrementally(built):
    """One test, not several: each test of a module may run on another xdist worker, and each worker
    would load the weeks and build the marts again."""
    _old_rows_count_in_their_week_and_are_marked_in_months(built)
    _a_month_equals_a_sandbox_run_over_that_calendar_month(built)
    _marts_equal_an_independent_computation(built)
    _recollecting_a_straddling_week_rebuilds_its_two_months_and_a_full_refresh_is_identical(built)


def _old_rows_count_in_their_week_and_are_marked_in_months(env: MonthEnv):
    i0 = env.marts.instance_ids[0]
    assert "event_date" not in env.columns_before_upgrade and "ad_product" in env.columns_before_upgrade
    assert {"event_date", "privacy_filtered"} <= result_columns(env.marts)
    old = _frame(env.marts, f"SELECT event_date, spend FROM amc_results.campaign_performance "
                            f"WHERE instance_id = '{i0}' AND week_start = '{env.undated_week}'")
    assert len(old) and old.event_date.isna().all()
    week = mart(env.marts, "fct_instance_week").set_index(["instance_id", "week_start"]).loc[(i0, env.undated_week)]
    assert week.has_rows and np.isclose(week.spend, old.spend.sum(), rtol=1e-9)
    months = mart(env.marts, "fct_instance_month").set_index(["instance_id", "month_start"])
    for day in (env.undated_week, env.undated_week + timedelta(days=6)):
        month = months.loc[(i0, day.replace(day=1))]
        assert month.undated_weeks == 1 and not month.complete


def _campaign_month_run(env: MonthEnv, instance_id: str) -> pd.DataFrame:
    """The report run through the runner over exactly the calendar month (local midnight to midnight in
    the instance's zone), summed per campaign; withheld campaign-days counted, their NULLs as 0."""
    request, outcome = run_report_of(env.marts, instance_id, start=env.month.isoformat(),
                                     end=next_month(env.month).isoformat())
    assert outcome.status == "LOADED"
    assert (outcome.window.start, outcome.window.end) == (datetime.combine(env.month, datetime.min.time()),
                                                          datetime.combine(next_month(env.month), datetime.min.time()))
    assert outcome.window.timezone == env.marts.ledger.instances[env.marts.instance_ids.index(instance_id)].timezone
    rows = pd.DataFrame(env.marts.ledger.loaded_rows(request), columns=request.report.column_names)
    assert set(rows.event_date) == {env.month + timedelta(days=n) for n in range(days_of(env.month))}
    rows[BASE] = rows[BASE].astype(float).fillna(0)
    rows["withheld_day"] = rows.privacy_filtered.astype(bool)
    return rows.groupby(["ad_product", "campaign_id"]).agg(
        **{m: (m, "sum") for m in BASE}, privacy_withheld_days=("withheld_day", "sum")).reset_index()


def _a_month_equals_a_sandbox_run_over_that_calendar_month(env: MonthEnv):
    campaigns = mart(env.marts, "fct_campaign_month")
    instances = mart(env.marts, "fct_instance_month")
    withheld = env.withheld
    for instance_id in env.marts.instance_ids:
        run = _campaign_month_run(env, instance_id)
        built = campaigns[(campaigns.instance_id == instance_id) & (campaigns.month_start == env.month)]
        assert set(built.campaign_id) - set(run.campaign_id) <= {NO_DELIVERY}
        planted_campaign = built[built.campaign_id == NO_DELIVERY]  # only in the marts: sales 12.5, nothing else
        built = built[built.campaign_id != NO_DELIVERY]
        merged = run.merge(built, on=["ad_product", "campaign_id"], how="outer", suffixes=("_run", ""), indicator=True)
        assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
        assert len(merged) >= 2 and merged.impressions_run.sum() > 0
        assert built.complete.all() and (built.days_covered == days_of(env.month)).all()
        planted = ((merged.ad_product == withheld["ad_product"]) & (merged.campaign_id == withheld["campaign_id"])
                   if instance_id == withheld["instance_id"] else pd.Series(False, index=merged.index))
        for m in BASE:
            # the mart is below the month run by exactly the campaign-day AMC withheld, and says so
            want = merged[f"{m}_run"] - np.where(planted, float(withheld[m]), 0.0)
            got = merged[m].astype(float)
            if m in INTEGERS:
                assert (got == want).all(), m
            else:
                assert np.allclose(got, want, rtol=1e-9, atol=0), m
        assert (merged.privacy_withheld_days == merged.privacy_withheld_days_run + planted.astype(int)).all()
        if planted.any():
            row = merged[planted].iloc[0]
            assert row.privacy_withheld_days >= 1 and row.impressions < row.impressions_run
        total = instances[(instances.instance_id == instance_id) & (instances.month_start == env.month)].iloc[0]
        assert total.complete and total.days_covered == days_of(env.month) and total.undated_weeks == 0
        assert total.privacy_withheld_days == merged.privacy_withheld_days.sum()
        for m in BASE:
            want = run[m].sum() - (float(withheld[m]) if planted.any() else 0.0) + planted_campaign[m].astype(float).sum()
            if m in INTEGERS:
                assert total[m] == want, m
            else:
                assert np.isclose(float(total[m]), want, rtol=1e-9, atol=0), m
    assert env.withheld["instance_id"] in env.marts.instance_ids
    weekly = mart(env.marts, "fct_campaign_week").set_index(["instance_id", "week_start", "ad_product", "campaign_id"])
    assert weekly.loc[(withheld["instance_id"], withheld["week_start"], withheld["ad_product"],
                       withheld["campaign_id"])].privacy_withheld_days >= 1


# ---------------------------------------------------------------- the independent computation


def _months_of_loads(env: MonthEnv, raw: pd.DataFrame) -> pd.DataFrame:
    """Per instance and month touched by a loaded week: days covered by dated weeks, undated weeks,
    provisional (any overlapping week), from the run outcomes and the raw rows."""
    undated = raw.groupby(["instance_id", "week_start"]).event_date.apply(lambda days: days.isna().any())
    records = []
    for (instance_id, week), outcome in env.marts.loaded.items():
        is_undated = bool(undated.get((instance_id, week), False))
        for offset in range(7):
            day = week + timedelta(days=offset)
            records.append({"instance_id": instance_id, "month_start": day.replace(day=1), "day": day, "week": week,
                            "undated": is_undated, "provisional": bool(outcome.provisional)})
    days = pd.DataFrame(records)
    months = days.groupby(KEYS_INSTANCE).agg(provisional=("provisional", "any")).reset_index()
    covered = days[~days.undated].groupby(KEYS_INSTANCE).day.nunique().rename("days_covered")
    undated_weeks = days[days.undated].groupby(KEYS_INSTANCE).week.nunique().rename("undated_weeks")
    months = (months.merge(covered, left_on=KEYS_INSTANCE, right_index=True, how="left")
              .merge(undated_weeks, left_on=KEYS_INSTANCE, right_index=True, how="left")
              .fillna({"days_covered": 0, "undated_weeks": 0}))
    months["complete"] = months.days_covered == months.month_start.map(days_of)
    return months


def _metrics(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    frame["ctr"] = _ratio(frame.clicks, frame.impressions)
    frame["cpc"] = _ratio(frame.spend, frame.clicks)
    frame["cpm"] = 1000 * _ratio(frame.spend, frame.impressions)
    frame["cvr"] = _ratio(frame.purchases, frame.clicks)
    frame["roas"] = _ratio(frame.sales, frame.spend)
    frame["acos"] = _ratio(frame.spend, frame.sales)
    frame["ntb_purchase_share"] = _ratio(frame.ntb_purchases, frame.purchases)
    frame["ntb_sales_share"] = _ratio(frame.ntb_sales, frame.sales)
    for suffix, months in (("mom", 1), ("yoy", 12)):
        earlier = frame[[*keys, "spend", "sales", "roas"]].copy()
        earlier["month_start"] = earlier["month_start"].map(lambda m, n=months: add_months(m, n))
        joined = frame[keys].merge(earlier, on=keys, how="left")
        for column in ("spend", "sales", "roas"):
            frame[f"{column}_{suffix}"] = _ratio(frame[column], joined[column]) - 1
    return frame


def expected_monthly_marts(env: MonthEnv) -> tuple[pd.DataFrame, pd.DataFrame]:
    """fct_campaign_month and fct_instance_month from the raw rows, the run outcomes and the registry."""
    current_hash = load_definitions(load_catalog(None, check_sql=False))[TEMPLATE].parameters_hash
    raw = _frame(env.marts, "SELECT * FROM amc_results.campaign_performance")
    raw = raw[(raw.definition == TEMPLATE) & (raw.parameters_hash == current_hash)
              & (pd.to_datetime(raw.window_end) == pd.to_datetime(raw.week_start) + pd.Timedelta(days=7))].copy()
    raw[BASE] = raw[BASE].astype(float).fillna(0)
    raw["withheld"] = raw.privacy_filtered.eq(True)
    currencies = marketplace_currencies()
    registry = _frame(env.marts, "SELECT instance_id, marketplace_id FROM amc.instances")
    currency = {row.instance_id: currencies[row.marketplace_id] for row in registry.itertuples()}
    months = _months_of_loads(env, raw)

    dated = raw[raw.event_date.notna()].copy()
    dated["month_start"] = dated.event_date.map(lambda day: day.replace(day=1))
    per_name = dated.groupby([*KEYS_CAMPAIGN, "campaign"], as_index=False).impressions.sum()
    named = per_name.sort_values(["impressions", "campaign"], ascending=[False, True]).drop_duplicates(KEYS_CAMPAIGN)
    withheld = dated[dated.withheld].groupby(KEYS_CAMPAIGN).event_date.nunique().rename("privacy_withheld_days")
    campaigns = (dated.groupby(KEYS_CAMPAIGN, as_index=False)[BASE].sum()
                 .merge(named[[*KEYS_CAMPAIGN, "campaign"]], on=KEYS_CAMPAIGN)
                 .merge(withheld, left_on=KEYS_CAMPAIGN, right_index=True, how="left")
                 .merge(months[[*KEYS_INSTANCE, "days_covered", "complete", "provisional"]], on=KEYS_INSTANCE))
    campaigns["privacy_withheld_days"] = campaigns.privacy_withheld_days.fillna(0)
    campaigns["currency"] = campaigns.instance_id.map(currency)

    totals = campaigns.groupby(KEYS_INSTANCE, as_index=False).agg(
        campaigns=("campaign_id", "size"), **{c: (c, "sum") for c in [*BASE, "privacy_withheld_days"]})
    instances = months.merge(totals, on=KEYS_INSTANCE, how="left")
    instances["has_rows"] = instances.campaigns.notna()
    filled = ["campaigns", *BASE, "privacy_withheld_days"]
    instances[filled] = instances[filled].fillna(0)
    instances["currency"] = instances.instance_id.map(currency)
    return _metrics(campaigns, KEYS_CAMPAIGN), _metrics(instances, KEYS_INSTANCE)


CLOSE = [*MONEY, *RATIOS, *CHANGES]
CAMPAIGN_EXACT = [*INTEGERS, "campaign", "currency", "provisional", "complete", "days_covered", "privacy_withheld_days"]
INSTANCE_EXACT = [*INTEGERS, "campaigns", "currency", "provisional", "complete", "days_covered", "has_rows",
                  "undated_weeks", "privacy_withheld_days"]


def _marts_equal_an_independent_computation(env: MonthEnv):
    campaigns, instances = expected_monthly_marts(env)
    actual_campaigns, actual_instances = mart(env.marts, "fct_campaign_month"), mart(env.marts, "fct_instance_month")
    assert_same(actual_campaigns, campaigns, KEYS_CAMPAIGN, CAMPAIGN_EXACT, CLOSE)
    assert_same(actual_instances, instances, KEYS_INSTANCE, INSTANCE_EXACT, CLOSE)

    # Every case the scenario plants is really there: >= 2 months x 2 instances, a provisional month,
    # partial months at both edges, a zero denominator, a withheld campaign-day, month-over-month changes.
    assert actual_instances.groupby("instance_id").month_start.nunique().min() >= 2
    assert set(actual_instances.currency) == {"USD", "EUR"}
    assert actual_instances.provisional.any() and (~actual_instances.provisional).any()
    assert (~actual_instances.complete).sum() >= 2 and actual_instances.complete.sum() == 2
    no_delivery = actual_campaigns[actual_campaigns.campaign_id == NO_DELIVERY].iloc[0]
    assert no_delivery.spend == 0 and no_delivery.sales == 12.5 and no_delivery.acos == 0
    assert all(pd.isna(no_delivery[m]) for m in ("ctr", "cpc", "cpm", "cvr", "roas"))
    assert actual_instances.privacy_withheld_days.sum() >= 1
    assert actual_instances.spend_mom.notna().any() and actual_campaigns.spend_mom.notna().any()


def _recollecting_a_straddling_week_rebuilds_its_two_months_and_a_full_refresh_is_identical(env: MonthEnv):
    marts = env.marts
    i0 = marts.instance_ids[0]
    week = env.month_weeks[0]  # starts in the month before
    touched = {week.replace(day=1), (week + timedelta(days=6)).replace(day=1)}
    assert len(touched) == 2
    before = {name: mart(marts, name) for name in MONTH_MARTS}

    outcome = marts.run(i0, week, force=True)
    assert outcome.status == "LOADED" and outcome.amc_execution_id != marts.loaded[i0, week].amc_execution_id
    marts.loaded[i0, week] = outcome
    marts.execute("UPDATE amc_results.campaign_performance SET spend = spend * 2 WHERE instance_id = :i "
                  "AND week_start = :w AND window_end = week_start + interval '7 days'", i=i0, w=week)
    marts.dbt("build", "--vars", f'{{"weeks": ["{week.isoformat()}"]}}')

    after = {name: mart(marts, name) for name in MONTH_MARTS}

    def rows(frame: pd.DataFrame, months) -> pd.Series:
        return (frame.instance_id == i0) & frame.month_start.isin(months)

    def sorted_rows(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        return frame.sort_values(keys).reset_index(drop=True)

    follows = {next_month(max(touched))}  # its month-over-month columns read the later touched month
    for name, keys in (("fct_campaign_month", KEYS_CAMPAIGN), ("fct_instance_month", KEYS_INSTANCE)):
        old, new = before[name], after[name]
        assert new[rows(new, touched)].spend.sum() > old[rows(old, touched)].spend.sum()
        others_new, others_old = ~rows(new, touched | follows), ~rows(old, touched | follows)
        pd.testing.assert_frame_equal(sorted_rows(new[others_new], keys), sorted_rows(old[others_old], keys))
        unchanged = [c for c in new.columns if not c.endswith("_mom")]
        pd.testing.assert_frame_equal(sorted_rows(new[rows(new, follows)][unchanged], keys),
                                      sorted_rows(old[rows(old, follows)][unchanged], keys))
    campaigns, instances = expected_monthly_marts(env)
    assert_same(after["fct_campaign_month"], campaigns, KEYS_CAMPAIGN, CAMPAIGN_EXACT, CLOSE)
    assert_same(after["fct_instance_month"], instances, KEYS_INSTANCE, INSTANCE_EXACT, CLOSE)

    incremental = {name: checksum(marts, name) for name in MONTH_MARTS}
    marts.dbt("build", "--full-refresh", "--select", *MONTH_MARTS)
    assert {name: checksum(marts, name) for name in MONTH_MARTS} == incremental
