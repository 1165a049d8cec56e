"""The weekly marts against an independent pandas computation from the raw result tables.

One module database (marts_env): 3 weeks x 2 instances loaded through the runner, then rows the
marts must ignore (an ad hoc run, rows of older default parameters, an ad hoc window), a campaign
renamed within a week, a campaign with no delivery (zero denominators) and a loaded week whose rows
are gone (explicit zeros). Marked slow (dbt builds): run once in `make test`, not in the clock sweep.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from amc_pipelines.catalog import load_catalog
from amc_pipelines.catalog.definitions import load_definitions
from amc_pipelines.marts import marketplace_currencies

pytestmark = pytest.mark.slow

KEYS_CAMPAIGN = ["instance_id", "week_start", "ad_product", "campaign_id"]
KEYS_INSTANCE = ["instance_id", "week_start"]
BASE = ["impressions", "clicks", "spend", "purchases", "sales", "ntb_purchases", "ntb_sales"]
INTEGERS = ["impressions", "clicks", "purchases", "ntb_purchases"]
RATIOS = ["ctr", "cpc", "cpm", "cvr", "roas", "acos", "ntb_purchase_share", "ntb_sales_share"]
CHANGES = ["spend_wow", "sales_wow", "roas_wow", "spend_yoy", "sales_yoy", "roas_yoy"]
NAME_KEYS = ["instance_id", "week_start", "ad_product", "campaign_id", "campaign"]


def _frame(env, query: str) -> pd.DataFrame:
    with env.engine.connect() as conn:
        return pd.read_sql_query(query, conn)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    numerator, denominator = numerator.astype(float), denominator.astype(float)
    return (numerator / denominator.where(denominator != 0)).astype(float)


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
    for suffix, days in (("wow", 7), ("yoy", 364)):
        earlier = frame[[*keys, "spend", "sales", "roas"]].copy()
        earlier["week_start"] = earlier["week_start"] + timedelta(days=days)
        joined = frame[keys].merge(earlier, on=keys, how="left")
        for column in ("spend", "sales", "roas"):
            frame[f"{column}_{suffix}"] = _ratio(frame[column], joined[column]) - 1
    return frame


def expected_marts(env) -> tuple[pd.DataFrame, pd.DataFrame]:
    """fct_campaign_week and fct_instance_week computed from the raw table, the ledger and the registry."""
    current_hash = load_definitions(load_catalog(None, check_sql=False))["campaign_performance"].parameters_hash
    raw = _frame(env, "SELECT * FROM amc_results.campaign_performance")
    raw = raw[(raw.definition == "campaign_performance") & (raw.parameters_hash == current_hash)
              & (pd.to_datetime(raw.window_end) == pd.to_datetime(raw.week_start) + pd.Timedelta(days=7))]
    for column in BASE:
        raw[column] = raw[column].fillna(0)
    raw["spend"] = raw["spend"].astype(float)
    raw["sales"] = raw["sales"].astype(float)
    raw["ntb_sales"] = raw["ntb_sales"].astype(float)
    ledger = _frame(env, "SELECT amc_execution_id, provisional FROM amc.executions WHERE status = 'LOADED'")
    currencies = marketplace_currencies()
    instances = _frame(env, "SELECT instance_id, marketplace_id FROM amc.instances")
    currency = {row.instance_id: currencies[row.marketplace_id] for row in instances.itertuples()}
    loads = pd.DataFrame([{"instance_id": i, "week_start": w, "provisional": bool(outcome.provisional)}
                          for (i, w), outcome in env.loaded.items()])

    # Rows are campaign-days: a campaign renamed within the week is named after the name with the most
    # impressions in the week; withheld days (AMC's privacy threshold) are counted, their NULLs are 0.
    per_name = raw.groupby(NAME_KEYS, as_index=False)["impressions"].sum()
    named = per_name.sort_values(["impressions", "campaign"], ascending=[False, True]).drop_duplicates(KEYS_CAMPAIGN)
    withheld = (raw[raw.privacy_filtered.eq(True)].groupby(KEYS_CAMPAIGN).event_date.nunique()
                .rename("privacy_withheld_days"))
    campaigns = (raw.groupby(KEYS_CAMPAIGN, as_index=False)[BASE].sum()
                 .merge(named[[*KEYS_CAMPAIGN, "campaign"]], on=KEYS_CAMPAIGN)
                 .merge(withheld, left_on=KEYS_CAMPAIGN, right_index=True, how="left")
                 .merge(loads, on=KEYS_INSTANCE))
    campaigns["privacy_withheld_days"] = campaigns["privacy_withheld_days"].fillna(0)
    # The ledger's loading execution of a week says provisional; it must agree with the run outcomes.
    by_execution = raw[[*KEYS_INSTANCE, "amc_execution_id"]].drop_duplicates().merge(ledger, on="amc_execution_id")
    check = by_execution.merge(loads, on=KEYS_INSTANCE, suffixes=("_ledger", ""))
    assert (check.provisional_ledger == check.provisional).all()
    campaigns["currency"] = campaigns.instance_id.map(currency)

    totals = campaigns.groupby(KEYS_INSTANCE, as_index=False).agg(
        campaigns=("campaign_id", "size"), **{c: (c, "sum") for c in [*BASE, "privacy_withheld_days"]})
    instances_week = loads.merge(totals, on=KEYS_INSTANCE, how="left")
    instances_week["has_rows"] = instances_week.campaigns.notna()
    filled = ["campaigns", *BASE, "privacy_withheld_days"]
    instances_week[filled] = instances_week[filled].fillna(0)
    instances_week["currency"] = instances_week.instance_id.map(currency)
    return _metrics(campaigns, KEYS_CAMPAIGN), _metrics(instances_week, KEYS_INSTANCE)


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame, keys: list[str], exact: list[str],
                close: list[str] | None = None) -> None:
    """Same rows by ``keys``; ``exact`` columns equal, ``close`` ones (default: the weekly money, ratios
    and changes) equal to 1e-9 relative with NULLs in the same places."""
    assert len(actual) == len(expected)
    merged = expected.merge(actual, on=keys, how="outer", suffixes=("_expected", ""), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"][keys]
    for column in exact:
        assert (merged[f"{column}_expected"] == merged[column]).all(), column
    for column in close if close is not None else ["spend", "sales", "ntb_sales", *RATIOS, *CHANGES]:
        want, got = merged[f"{column}_expected"].astype(float), merged[column].astype(float)
        assert (want.isna() == got.isna()).all(), (column, merged[want.isna() != got.isna()][keys])
        assert np.allclose(want[want.notna()], got[got.notna()], rtol=1e-9, atol=0), column


def mart(env, name: str) -> pd.DataFrame:
    return _frame(env, f"SELECT * FROM marts.{name}")


def checksum(env, name: str) -> str:
    with env.engine.connect() as conn:
        from sqlalchemy import text

        return conn.execute(text(f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM marts.{name} t")).scalar()


@pytest.fixture(scope="module")
def built(marts_env):
    """The loaded weeks plus the rows the marts must ignore and the edge cases, built once."""
    env = marts_env
    i0, i1 = env.instance_ids
    w_a, w_b, _ = env.weeks
    # An ad hoc run (other parameters) over a loaded week: its rows sit beside the definition's.
    some_campaign = _frame(env, f"SELECT campaign_id FROM amc_results.campaign_performance "
                                f"WHERE instance_id = '{i0}' AND week_start = '{w_a}' LIMIT 1").campaign_id[0]
    adhoc = env.run(i0, w_a, params={"campaign_ids": some_campaign})
    assert adhoc.status == "LOADED"
    columns = "ad_product, campaign_id, campaign, impressions, clicks, spend, purchases, sales, ntb_purchases, ntb_sales"
    loader = "definition, parameters_hash, instance_id, week_start, window_end, amc_execution_id"
    # Rows of older default parameters, and an ad hoc window starting on a loaded week.
    env.execute(f"INSERT INTO amc_results.campaign_performance ({columns}, {loader}) "
                f"SELECT {columns}, definition, 'older-defaults', instance_id, week_start, window_end, amc_execution_id "
                f"FROM amc_results.campaign_performance WHERE instance_id = :i AND week_start = :w", i=i0, w=w_b)
    env.execute(f"INSERT INTO amc_results.campaign_performance ({columns}, {loader}) "
                f"SELECT {columns}, definition, parameters_hash, instance_id, week_start, window_end + interval '23 days', "
                f"amc_execution_id FROM amc_results.campaign_performance "
                f"WHERE instance_id = :i AND week_start = :w AND parameters_hash <> 'older-defaults'", i=i0, w=w_b)
    # A campaign renamed within the week (fewer impressions under the new name), and one with no delivery.
    template = (f"INSERT INTO amc_results.campaign_performance ({columns}, {loader}) "
                f"SELECT ad_product, {{campaign_id}}, {{campaign}}, {{impressions}}, {{clicks}}, {{spend}}, 0, {{sales}}, 0, 0, "
                f"{loader} FROM amc_results.campaign_performance WHERE instance_id = :i AND week_start = :w "
                f"AND window_end = week_start + interval '7 days' AND parameters_hash <> 'older-defaults' "
                f"ORDER BY impressions DESC LIMIT 1")
    env.execute(template.format(campaign_id="campaign_id", campaign="campaign || ' (renamed)'", impressions=1,
                                clicks=1, spend=0.5, sales=0), i=i0, w=w_b)
    env.execute(template.format(campaign_id="'no-delivery'", campaign="'No delivery'", impressions=0, clicks=0,
                                spend=0, sales=12.5), i=i0, w=w_b)
    # A loaded week whose rows are all gone: the marts show it with zeros, not as missing.
    env.execute("DELETE FROM amc_results.campaign_performance WHERE instance_id = :i AND week_start = :w", i=i1, w=w_a)
    env.dbt("build")
    return env


def test_weekly_marts_match_pandas_and_a_recollected_week_changes_only_its_rows(built):
    """One test, not several: each test of a module may run on another xdist worker, and each worker
    would load the weeks and build the marts again."""
    env = built
    _marts_equal_an_independent_computation(env)
    _recollecting_a_week_changes_that_weeks_rows_only_and_a_full_refresh_is_identical(env)


def _marts_equal_an_independent_computation(env):
    campaigns, instances = expected_marts(env)
    actual_campaigns, actual_instances = mart(env, "fct_campaign_week"), mart(env, "fct_instance_week")
    assert_same(actual_campaigns, campaigns, KEYS_CAMPAIGN,
                [*INTEGERS, "campaign", "currency", "provisional", "privacy_withheld_days"])
    assert_same(actual_instances, instances, KEYS_INSTANCE,
                [*INTEGERS, "campaigns", "currency", "provisional", "has_rows", "privacy_withheld_days"])

    i0, i1 = env.instance_ids
    w_a, w_b, w_c = env.weeks
    # Every case the scenario plants is really there.
    assert set(actual_instances.currency) == {"USD", "EUR"}
    assert set(actual_instances[actual_instances.provisional].week_start) == {w_c}
    no_delivery = actual_campaigns[actual_campaigns.campaign_id == "no-delivery"].iloc[0]
    assert no_delivery.spend == 0 and no_delivery.sales == 12.5
    assert all(pd.isna(no_delivery[m]) for m in ("ctr", "cpc", "cpm", "cvr", "roas")) and no_delivery.acos == 0
    renamed = actual_campaigns[(actual_campaigns.instance_id == i0) & (actual_campaigns.week_start == w_b)]
    assert not renamed.campaign.str.endswith("(renamed)").any()
    empty = actual_instances[(actual_instances.instance_id == i1) & (actual_instances.week_start == w_a)].iloc[0]
    assert (empty.has_rows, empty.campaigns, empty.spend, pd.isna(empty.roas)) == (False, 0, 0, True)
    assert actual_instances.spend_wow.notna().any()  # w_b against w_a of instance 0
    assert len(actual_instances) == 6


def _recollecting_a_week_changes_that_weeks_rows_only_and_a_full_refresh_is_identical(env):
    i0, _ = env.instance_ids
    w_a, w_b, _ = env.weeks
    before_campaigns, before_instances = mart(env, "fct_campaign_week"), mart(env, "fct_instance_week")

    # A settled re-collection of week A of instance 0 (new AMC execution) that delivers other numbers.
    outcome = env.run(i0, w_a, force=True)
    assert outcome.status == "LOADED" and outcome.amc_execution_id != env.loaded[i0, w_a].amc_execution_id
    env.loaded[i0, w_a] = outcome
    env.execute("UPDATE amc_results.campaign_performance SET spend = spend * 2 WHERE instance_id = :i AND week_start = :w",
                i=i0, w=w_a)
    env.dbt("build", "--vars", f'{{"weeks": ["{w_a.isoformat()}"]}}')

    after_campaigns, after_instances = mart(env, "fct_campaign_week"), mart(env, "fct_instance_week")
    for before, after, keys in ((before_campaigns, after_campaigns, KEYS_CAMPAIGN),
                                (before_instances, after_instances, KEYS_INSTANCE)):
        week = (after.instance_id == i0) & (after.week_start == w_a)
        old_week = (before.instance_id == i0) & (before.week_start == w_a)
        assert np.isclose(after[week].spend.sum(), 2 * before[old_week].spend.sum(), rtol=1e-9)
        # Week B of instance 0 changes only in its week-over-week columns, which read week A.
        follows = (after.instance_id == i0) & (after.week_start == w_b)
        others = ~(week | follows)
        old_others = ~(old_week | ((before.instance_id == i0) & (before.week_start == w_b)))
        pd.testing.assert_frame_equal(after[others].sort_values(keys).reset_index(drop=True),
                                      before[old_others].sort_values(keys).reset_index(drop=True))
        unchanged = [c for c in after.columns if not c.endswith("_wow")]
        pd.testing.assert_frame_equal(after[follows][unchanged].sort_values(keys).reset_index(drop=True),
                                      before[(before.instance_id == i0) & (before.week_start == w_b)][unchanged]
                                      .sort_values(keys).reset_index(drop=True))
    campaigns, instances = expected_marts(env)
    assert_same(after_campaigns, campaigns, KEYS_CAMPAIGN, [*INTEGERS, "campaign", "currency", "provisional"])
    assert_same(after_instances, instances, KEYS_INSTANCE, [*INTEGERS, "campaigns", "currency", "provisional", "has_rows"])

    incremental = {name: checksum(env, name) for name in ("fct_campaign_week", "fct_instance_week")}
    env.dbt("build", "--full-refresh", "--select", "fct_campaign_week", "fct_instance_week")
    assert {name: checksum(env, name) for name in incremental} == incremental
