"""The tidy marts of the six reports other than campaign_performance against an independent pandas
computation from the raw result tables, the ledger and the seed.

One module database: 3 weeks x 2 instances of every report loaded through the runner from the sandbox
(the newest week provisional), then rows the marts must ignore (an ad hoc run with other parameters,
a run of another definition of a template, rows of older default parameters, an ad hoc window), rows
with zero denominators and NULL measures, and loaded weeks whose rows are gone (explicit in
fct_report_week). Marked slow (dbt builds): run once in `make test`, not in the clock sweep.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from amc_pipelines.catalog import load_catalog
from amc_pipelines.catalog.definitions import load_definitions
from amc_pipelines.marts import marketplace_currencies, partition_vars
from amc_pipelines_tests.fixtures.database import create_database, drop_database
from amc_pipelines_tests.ledger.conftest import LedgerEnv, register_sandbox_instances
from amc_pipelines_tests.marts.conftest import MartsEnv

pytestmark = pytest.mark.slow

# template -> (dimensions, integer measures, money measures): the grain is instance, week + dimensions.
REPORTS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "new_to_brand": (["ad_product"], ["purchases", "ntb_purchases", "units", "purchasers", "ntb_purchasers"],
                     ["sales", "ntb_sales"]),
    "reach_frequency": (["ad_product", "campaign_id", "campaign"], ["reach", "impressions"], ["spend"]),
    "path_to_conversion": (["path"], ["path_length", "users", "purchasers", "purchases"], ["sales"]),
    "sp_dsp_overlap": (["exposure_group"], ["users", "purchasers", "purchases"], ["sales"]),
    "time_to_conversion": (["ad_product", "time_to_conversion"], ["purchases", "purchasers"], ["sales"]),
    "asin_performance": (["asin"], ["purchases", "units", "ntb_purchases", "brand_halo_purchases", "purchasers"],
                         ["sales", "ntb_sales"]),
}
WEEK = ["instance_id", "week_start"]
LOADER = ["definition", "parameters_hash", "instance_id", "week_start", "window_end", "amc_execution_id"]
# Loaded weeks whose rows are deleted: each must be a fct_report_week row with has_rows = false.
EMPTIED = ("sp_dsp_overlap", "asin_performance")


def _frame(env: MartsEnv, query: str, **values) -> pd.DataFrame:
    from sqlalchemy import text

    with env.engine.connect() as conn:
        return pd.read_sql_query(text(query), conn, params=values)


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    numerator, denominator = numerator.astype(float), denominator.astype(float)
    return (numerator / denominator.where(denominator != 0)).astype(float)


def _share_of_week(frame: pd.DataFrame, column: str, group: list[str]) -> pd.Series:
    return _ratio(frame[column], frame.groupby(group)[column].transform("sum"))


def _run(env: MartsEnv, report_name: str, instance_id: str, week, **params):
    from amc_pipelines.runner import prepare_run, run_report

    request = prepare_run(env.engine, env.ledger.settings, report_name=report_name, instance_id=instance_id,
                          week=week, params=params)
    with env.ledger.client() as client:
        outcome = run_report(env.engine, env.ledger.settings, client, request)
    assert outcome.status == "LOADED", outcome
    return outcome


def _copy_rows(env: MartsEnv, template: str, instance_id: str, week, *, parameters_hash: str = "parameters_hash",
               window_end: str = "window_end") -> None:
    """Copies of a loaded week's rows with another parameters hash or window end (rows to ignore)."""
    columns = ", ".join(f'"{c}"' for c in [*REPORTS[template][0], *REPORTS[template][1], *REPORTS[template][2]])
    env.execute(f"INSERT INTO amc_results.{template} ({columns}, {', '.join(LOADER)}) "
                f"SELECT {columns}, definition, {parameters_hash}, instance_id, week_start, {window_end}, "
                f"amc_execution_id FROM amc_results.{template} WHERE instance_id = :i AND week_start = :w "
                f"AND definition = '{template}'", i=instance_id, w=week)


AD_PRODUCTS = ("sponsored_products", "sponsored_brands", "sponsored_display", "sponsored_television", "dsp")


def _absent_ad_product(env: MartsEnv, template: str, instance_id: str, week) -> str:
    """An ad product without a row in the loaded week, for a planted row that keeps the grain unique."""
    present = set(_frame(env, f"SELECT ad_product FROM amc_results.{template} WHERE instance_id = :i "
                              f"AND week_start = :w", i=instance_id, w=week).ad_product)
    return next(p for p in AD_PRODUCTS if p not in present)


def _add_row(env: MartsEnv, template: str, instance_id: str, week, **values) -> None:
    """A row beside a loaded week's rows, with that week's loader columns (an edge case AMC could return)."""
    names = ", ".join(values)
    placeholders = ", ".join(f":{name}" for name in values)
    env.execute(f"INSERT INTO amc_results.{template} ({names}, {', '.join(LOADER)}) "
                f"SELECT DISTINCT {placeholders}, {', '.join(LOADER)} FROM amc_results.{template} "
                f"WHERE instance_id = :i AND week_start = :w AND definition = '{template}' "
                f"AND window_end = week_start + 7", i=instance_id, w=week, **values)


@pytest.fixture(scope="module")
def tidy_env(postgres_server_url, sandbox_server, clock, tmp_path_factory):
    """Every report loaded and the cases planted, then built once with dbt."""
    from amc_pipelines.db import get_engine, upgrade

    url = create_database(postgres_server_url)
    try:
        upgrade(url)
        engine = get_engine(url)
        register_sandbox_instances(engine, sandbox_server)
        home = tmp_path_factory.mktemp("tidy-marts-home")
        ledger = LedgerEnv(url, engine, sandbox_server, home, clock)
        first = ledger.week(weeks_back=6)
        # weeks_back=1, not 0: collectable in every instance's zone at any hour, and still provisional
        weeks = [first, first + timedelta(weeks=1), ledger.week(weeks_back=1)]
        env = MartsEnv(ledger, weeks, [i.instance_id for i in ledger.instances[:2]], target=home / "dbt")
        for template in REPORTS:
            for instance_id in env.instance_ids:
                for week in weeks:
                    env.loaded[template, instance_id, week] = _run(env, template, instance_id, week)
        _plant_cases(env)
        _build(env)
        yield env
    finally:
        drop_database(postgres_server_url, url)


MARTS = [*(f"fct_{t}_week" for t in REPORTS), "fct_report_week"]


def _build(env: MartsEnv, *args: str) -> None:
    # Only these marts and what they read (cautious: no test of a model left out, such as
    # stg_campaign_performance's relationships test that also reads stg_weekly_loads).
    env.dbt("build", "--indirect-selection", "cautious", "--select", *(f"+{m}" for m in MARTS), *args)


def _plant_cases(env: MartsEnv) -> None:
    i0, i1 = env.instance_ids
    w_a, w_b, w_c = env.weeks
    # Rows of other parameters and of another definition of the template, over loaded weeks.
    some_asin = _frame(env, "SELECT asin FROM amc_results.asin_performance WHERE instance_id = :i AND week_start = :w "
                            "LIMIT 1", i=i0, w=w_a).asin[0]
    assert _run(env, "asin_performance", i0, w_a, asins=[some_asin]).rows > 0
    assert _run(env, "reach_frequency_large_campaigns", i0, w_b).rows > 0
    for template in REPORTS:
        # Rows loaded with older default parameters, and an ad hoc window starting on a loaded week.
        _copy_rows(env, template, i0, w_b, parameters_hash="'older-defaults'")
        _copy_rows(env, template, i1, w_b, window_end="window_end + interval '23 days'")
    # Zero denominators: rows with nothing to divide by (every row AMC returns has purchases > 0, so
    # these are the only rows with 0 purchases), and a week whose groups reached nobody.
    _add_row(env, "new_to_brand", i0, w_a, ad_product=_absent_ad_product(env, "new_to_brand", i0, w_a),
             purchases=0, ntb_purchases=0, sales=0, ntb_sales=0, units=0, purchasers=0, ntb_purchasers=0)
    _add_row(env, "reach_frequency", i0, w_a, ad_product="sponsored_display", campaign_id="no-delivery",
             campaign="No delivery", reach=0, impressions=0, spend=0.0)
    _add_row(env, "time_to_conversion", i0, w_a, ad_product=_absent_ad_product(env, "time_to_conversion", i0, w_a),
             time_to_conversion="1: same hour", purchases=0, sales=0, purchasers=0)
    _add_row(env, "asin_performance", i0, w_a, asin="B000NOSALE", purchases=0, units=0, sales=0, ntb_purchases=0,
             ntb_sales=0, brand_halo_purchases=0, purchasers=0)
    env.execute("UPDATE amc_results.sp_dsp_overlap SET users = 0, purchasers = 0, purchases = 0, sales = 0 "
                "WHERE instance_id = :i AND week_start = :w", i=i1, w=w_c)
    # A renamed campaign: reach is a distinct count, so it stays a row of its own.
    env.execute("INSERT INTO amc_results.reach_frequency (ad_product, campaign_id, campaign, reach, impressions, "
                f"average_frequency, spend, {', '.join(LOADER)}) SELECT ad_product, campaign_id, campaign || ' (renamed)', "
                f"3, 7, 7.0 / 3, 0.25, {', '.join(LOADER)} FROM amc_results.reach_frequency WHERE instance_id = :i "
                "AND week_start = :w AND definition = 'reach_frequency' AND window_end = week_start + 7 "
                "ORDER BY impressions DESC LIMIT 1", i=i1, w=w_a)
    # NULL measures (a SUM over no values in AMC) read as zero.
    env.execute("UPDATE amc_results.new_to_brand SET units = NULL WHERE instance_id = :i AND week_start = :w "
                "AND ad_product = 'dsp'", i=i1, w=w_b)
    env.execute("UPDATE amc_results.path_to_conversion SET sales = NULL WHERE instance_id = :i AND week_start = :w "
                "AND purchasers = 0", i=i0, w=w_c)
    # Loaded weeks whose rows are all gone.
    for template in EMPTIED:
        env.execute(f"DELETE FROM amc_results.{template} WHERE instance_id = :i AND week_start = :w", i=i1, w=w_a)


def _raw(env: MartsEnv, template: str) -> pd.DataFrame:
    """The report's rows of its current definition and weekly windows, NULL measures as zero, with
    currency and provisional (from the run outcomes, not the ledger)."""
    dimensions, integers, money = REPORTS[template]
    current_hash = load_definitions(load_catalog(None, check_sql=False))[template].parameters_hash
    raw = _frame(env, f"SELECT * FROM amc_results.{template}")
    raw = raw[(raw.definition == template) & (raw.parameters_hash == current_hash)
              & (pd.to_datetime(raw.window_end) == pd.to_datetime(raw.week_start) + pd.Timedelta(days=7))]
    raw = raw[[*WEEK, *dimensions, *integers, *money]].copy()
    raw[integers] = raw[integers].fillna(0).astype("int64")
    raw[money] = raw[money].astype(float).fillna(0)
    currencies = marketplace_currencies()
    instances = _frame(env, "SELECT instance_id, marketplace_id FROM amc.instances")
    raw["currency"] = raw.instance_id.map({r.instance_id: currencies[r.marketplace_id] for r in instances.itertuples()})
    raw["provisional"] = [env.loaded[template, i, w].provisional for i, w in zip(raw.instance_id, raw.week_start,
                                                                                   strict=True)]
    return raw.reset_index(drop=True)


def expected_marts(env: MartsEnv) -> dict[str, pd.DataFrame]:
    """Every tidy mart computed with pandas from the raw tables (metric definitions written out again)."""
    marts = {template: _raw(env, template) for template in REPORTS}

    ntb = marts["new_to_brand"]
    ntb["ntb_purchase_share"] = _ratio(ntb.ntb_purchases, ntb.purchases)
    ntb["ntb_sales_share"] = _ratio(ntb.ntb_sales, ntb.sales)
    ntb["ntb_purchaser_share"] = _ratio(ntb.ntb_purchasers, ntb.purchasers)
    ntb["average_order_value"] = _ratio(ntb.sales, ntb.purchases)

    reach = marts["reach_frequency"]
    reach["average_frequency"] = _ratio(reach.impressions, reach.reach)
    reach["cpm"] = 1000 * _ratio(reach.spend, reach.impressions)

    paths = marts["path_to_conversion"]
    paths["user_conversion_rate"] = _ratio(paths.purchasers, paths.users)
    paths["user_share"] = _share_of_week(paths, "users", WEEK)
    paths["average_order_value"] = _ratio(paths.sales, paths.purchases)

    overlap = marts["sp_dsp_overlap"]
    overlap["user_share"] = _share_of_week(overlap, "users", WEEK)
    overlap["user_conversion_rate"] = _ratio(overlap.purchasers, overlap.users)
    overlap["average_order_value"] = _ratio(overlap.sales, overlap.purchases)

    lags = marts["time_to_conversion"].sort_values([*WEEK, "ad_product", "time_to_conversion"]).reset_index(drop=True)
    group = [*WEEK, "ad_product"]
    lags["purchase_share"] = _share_of_week(lags, "purchases", group)
    lags["cumulative_purchase_share"] = _ratio(lags.groupby(group).purchases.cumsum(),
                                               lags.groupby(group).purchases.transform("sum"))
    lags["average_order_value"] = _ratio(lags.sales, lags.purchases)
    marts["time_to_conversion"] = lags

    asins = marts["asin_performance"]
    asins["ntb_purchase_share"] = _ratio(asins.ntb_purchases, asins.purchases)
    asins["ntb_sales_share"] = _ratio(asins.ntb_sales, asins.sales)
    asins["brand_halo_share"] = _ratio(asins.brand_halo_purchases, asins.purchases)
    asins["average_order_value"] = _ratio(asins.sales, asins.purchases)

    loads = pd.DataFrame([{"template": t, "instance_id": i, "week_start": w, "provisional": bool(o.provisional),
                           "amc_execution_id": o.amc_execution_id} for (t, i, w), o in env.loaded.items()])
    counts = pd.concat([marts[t].groupby(WEEK).size().rename("result_rows").reset_index().assign(template=t)
                        for t in REPORTS])
    weeks = loads.merge(counts, on=["template", *WEEK], how="left")
    weeks["has_rows"] = weeks.result_rows.notna()
    weeks["result_rows"] = weeks.result_rows.fillna(0).astype("int64")
    marts["report_week"] = weeks
    return marts


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    """Same rows and columns; integers, text and booleans exact, numbers to 1e-9 relative, NULLs alike."""
    assert sorted(actual.columns) == sorted(expected.columns)
    assert len(actual) == len(expected) and not actual.duplicated(keys).any()
    merged = expected.merge(actual, on=keys, how="outer", suffixes=("_expected", ""), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"][keys]
    for column in (c for c in expected.columns if c not in keys):
        want, got = merged[f"{column}_expected"], merged[column]
        if pd.api.types.is_float_dtype(want):
            want, got = want.astype(float), got.astype(float)
            assert (want.isna() == got.isna()).all(), (column, merged[want.isna() != got.isna()][keys])
            assert np.allclose(want[want.notna()], got[got.notna()], rtol=1e-9, atol=0), column
        else:
            assert (want == got).all(), (column, merged[want != got][[*keys, f"{column}_expected", column]])


def mart(env: MartsEnv, name: str) -> pd.DataFrame:
    return _frame(env, f"SELECT * FROM marts.{name}")


def _assert_marts_match(env: MartsEnv) -> dict[str, pd.DataFrame]:
    expected = expected_marts(env)
    for template, (dimensions, _, _) in REPORTS.items():
        assert_same(mart(env, f"fct_{template}_week"), expected[template], [*WEEK, *dimensions])
    assert_same(mart(env, "fct_report_week"), expected["report_week"], ["template", *WEEK])
    return expected


def checksum(env: MartsEnv, name: str) -> str:
    return _frame(env, f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS sum FROM marts.{name} t")["sum"][0]


def test_tidy_marts_match_pandas_incrementally_and_after_a_full_refresh(tidy_env):
    """One test, not several: each test of a module may run on another xdist worker, and each worker
    would load the weeks and build the marts again."""
    env = tidy_env
    expected = _assert_marts_match(env)
    _every_planted_case_is_there(env, expected, mart(env, "fct_report_week"))

    # Week A of instance 0 changes (other sales; one report's rows gone): a build of that week replaces
    # its rows (and, by the shared partition filter, the next week's), and equals a full refresh.
    i0, _ = env.instance_ids
    w_a = env.weeks[0]
    env.execute("UPDATE amc_results.new_to_brand SET sales = sales * 2 WHERE instance_id = :i AND week_start = :w",
                i=i0, w=w_a)
    env.execute("DELETE FROM amc_results.sp_dsp_overlap WHERE instance_id = :i AND week_start = :w", i=i0, w=w_a)
    _build(env, "--vars", partition_vars([w_a]))
    _assert_marts_match(env)
    weeks = mart(env, "fct_report_week")
    assert not weeks[(weeks.template == "sp_dsp_overlap") & (weeks.instance_id == i0)
                     & (weeks.week_start == w_a)].has_rows.iloc[0]
    incremental = {name: checksum(env, name) for name in MARTS}
    env.dbt("run", "--full-refresh", "--select", *MARTS)
    assert {name: checksum(env, name) for name in MARTS} == incremental


def _every_planted_case_is_there(env: MartsEnv, expected: dict[str, pd.DataFrame], weeks: pd.DataFrame) -> None:
    i0, i1 = env.instance_ids
    w_a, w_b, w_c = env.weeks
    assert len(weeks) == len(REPORTS) * 2 * 3
    assert set(weeks[weeks.provisional].week_start) == {w_c}
    empty = weeks[~weeks.has_rows]
    assert set(zip(empty.template, empty.instance_id, empty.week_start, strict=True)) == {
        (t, i1, w_a) for t in EMPTIED}
    assert (empty.result_rows == 0).all()

    ntb = mart(env, "fct_new_to_brand_week")
    assert set(ntb.currency) == {"USD", "EUR"}
    nothing = ntb[ntb.purchases == 0]
    assert len(nothing) == 1
    nothing = nothing.iloc[0]
    assert all(pd.isna(nothing[m]) for m in ("ntb_purchase_share", "ntb_sales_share", "ntb_purchaser_share",
                                             "average_order_value"))
    assert ntb[(ntb.instance_id == i1) & (ntb.week_start == w_b) & (ntb.ad_product == "dsp")].units.iloc[0] == 0

    reach = mart(env, "fct_reach_frequency_week")
    no_delivery = reach[reach.campaign_id == "no-delivery"].iloc[0]
    assert pd.isna(no_delivery.average_frequency) and pd.isna(no_delivery.cpm)
    assert reach.campaign.str.endswith("(renamed)").sum() == 1
    # The recomputed frequency agrees with AMC's own average_frequency column.
    amc = _frame(env, "SELECT instance_id, week_start, ad_product, campaign_id, campaign, average_frequency "
                      "FROM amc_results.reach_frequency WHERE definition = 'reach_frequency' "
                      "AND window_end = week_start + 7 AND parameters_hash <> 'older-defaults'")
    both = reach.merge(amc, on=[*WEEK, "ad_product", "campaign_id", "campaign"], suffixes=("", "_amc"))
    known = both.average_frequency_amc.notna()
    assert len(both) == len(reach) and list(both[~known].campaign_id) == ["no-delivery"]
    assert np.allclose(both[known].average_frequency.astype(float), both[known].average_frequency_amc, rtol=1e-9)

    overlap = mart(env, "fct_sp_dsp_overlap_week")
    nobody = overlap[(overlap.instance_id == i1) & (overlap.week_start == w_c)]
    assert len(nobody) == 3 and nobody.user_share.isna().all() and nobody.user_conversion_rate.isna().all()
    reached = overlap.dropna(subset=["user_share"]).groupby(WEEK).user_share.sum()
    assert np.allclose(reached, 1, rtol=1e-9)

    lags = mart(env, "fct_time_to_conversion_week")
    last = lags.sort_values("time_to_conversion").groupby([*WEEK, "ad_product"]).tail(1).cumulative_purchase_share
    assert ((last == 1) | last.isna()).all() and last.isna().sum() == 1  # the planted zero-purchase bucket
    assert (expected["path_to_conversion"].average_order_value.isna()).any()  # paths without purchases
    assert (mart(env, "fct_asin_performance_week").asin == "B000NOSALE").sum() == 1
