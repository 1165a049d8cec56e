"""The example query library: every query runs on the sandbox and returns sensible results, and a
set of them agree with independent pandas computations over the same synthetic data. Examples that are
built-in reports take the report's SQL (checked against pandas in catalog/test_builtin_reports.py);
examples that deliberately differ from a report differ only as declared here."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from amc_pipelines.catalog.models import one_line_sql
from amc_pipelines.params import amc_input_parameters
from amc_pipelines.sandbox.examples import (
    ExampleFormatError,
    ExampleQuery,
    example_queries,
    example_query,
    parse_example,
)
from amc_pipelines.sandbox.sql import InputParameter
from amc_pipelines_tests.catalog.report_references import same_value
from amc_pipelines_tests.catalog.test_builtin_reports import CATALOG, report_week
from amc_pipelines_tests.catalog.test_builtin_reports import run as run_report
from amc_pipelines_tests.sandbox import example_references as refs
from amc_pipelines_tests.sandbox.example_references import USERS, TableReader, Window

LOW_THRESHOLD_USERS = 2  # every output row needs at least this many users, whatever its columns
HIGHEST_THRESHOLD_USERS = 100  # a row with this many users clears every threshold class

EXPECTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "01_campaign_performance_sp_sb_sd_dsp": (
        "week_start", "ad_product", "campaign_id", "campaign", "impressions", "clicks", "spend", "purchases",
        "product_sales", "ntb_purchases", "ntb_product_sales", "ctr", "roas"),
    "02_new_to_brand_weekly_by_ad_product": (
        "week_start", "ad_product", "purchases", "ntb_purchases", "product_sales", "ntb_product_sales",
        "purchasers", "ntb_purchasers", "ntb_purchase_share", "ntb_sales_share"),
    "03_kpis_by_ad_product_with_labels": (
        "ad_product_name", "channel", "impressions", "clicks", "spend", "purchases", "product_sales", "ctr",
        "cpc", "cpm", "cvr", "acos", "roas"),
    "04_dsp_frequency_distribution": (
        "frequency_bucket", "bucket_min_impressions", "users", "impressions", "purchasers", "purchases",
        "purchase_rate", "share_of_reach", "share_of_impressions"),
    "05_reach_and_frequency_by_campaign": (  # the reach_frequency report
        "ad_product", "campaign_id", "campaign", "reach", "impressions", "average_frequency", "spend"),
    "06_path_to_conversion": ("path", "path_length", "users", "purchasers", "purchases", "sales"),  # report
    "07_sp_dsp_overlap": ("exposure_group", "users", "purchasers", "purchases", "sales"),  # the report
    "08_time_to_conversion_buckets": (  # the time_to_conversion report
        "ad_product", "time_to_conversion", "purchases", "sales", "purchasers"),
    "09_time_to_conversion_percentiles": (
        "ad_product", "attributed_purchase_events", "purchasers", "mean_hours", "median_hours", "p25_hours",
        "p75_hours", "p90_hours", "stddev_hours"),
    "10_dsp_impressions_before_purchase_lookback": (
        "campaign_id", "campaign", "purchasers_reached", "purchases_after_impression", "impressions_in_lookback",
        "impressions_per_purchase", "mean_hours_since_last_impression"),
    "11_last_touch_attribution_7d": (
        "ad_product", "campaign_id", "campaign", "winning_touch_type", "attributed_purchases", "attributed_units",
        "attributed_sales"),
    "12_selected_campaigns_daily": (
        "event_date", "ad_product", "campaign_id", "campaign", "impressions", "clicks", "spend", "ctr"),
    "13_asin_performance": (
        "tracked_asin", "purchases", "units_sold", "product_sales", "purchasers", "ntb_purchase_share",
        "brand_halo_share", "average_unit_price", "sales_rank", "share_of_sales"),
    "14_campaigns_above_impression_threshold": (
        "ad_product", "campaign_id", "campaign", "impressions", "clicks", "spend", "ctr", "cpc", "cpm"),
    "15_traffic_by_day_of_week_and_hour": (
        "channel", "day_of_week", "day_name", "hour_of_day", "impressions", "clicks", "spend", "ctr"),
    "16_campaign_spend_pacing": (
        "spend_date", "ad_product", "campaign_id", "campaign", "spend", "cumulative_spend", "share_of_window_spend"),
    "17_top_campaigns_by_sales": (
        "ad_product", "campaign_id", "campaign", "sales_rank", "purchases", "product_sales", "purchasers",
        "share_of_ad_product_sales", "cumulative_share"),
    "18_search_term_performance": (
        "campaign_id", "campaign", "customer_search_term", "impressions", "clicks", "spend", "purchases",
        "product_sales", "ctr", "cpc", "cvr", "acos", "roas"),
    "19_dsp_creative_performance": (
        "creative_id", "creative", "creative_type", "creative_size", "impressions", "reach", "clicks", "cost",
        "purchases", "product_sales", "ctr", "ecpm", "roas"),
    "20_dsp_device_performance": (
        "device_type", "environment_type", "impressions", "reach", "average_frequency", "cost", "purchases",
        "product_sales", "purchasers", "purchaser_rate", "roas"),
    "21_dsp_line_item_viewability": (
        "line_item_id", "line_item", "campaign", "impressions", "reach", "cost", "cpm", "viewable_impressions",
        "measurable_impressions", "viewability_rate"),
    "22_conversions_by_engagement_scope": (
        "campaign_id", "campaign", "engagement_scope", "event_category", "conversions", "distinct_conversions",
        "users", "units_sold", "product_sales", "share_of_campaign_conversions"),
    "23_sponsored_ads_and_dsp_daily_traffic": (
        "traffic_date", "channel", "impressions", "clicks", "spend", "reach", "share_of_daily_spend"),
    "24_new_to_brand_by_campaign": (
        "ad_product", "campaign_id", "campaign", "purchasers", "ntb_purchasers", "purchases", "ntb_purchases",
        "product_sales", "ntb_product_sales", "ntb_purchase_share", "ntb_sales_share", "ntb_sales_rank"),
    "25_channel_mix_purchase_rate": (
        "channel_mix", "channel_count", "users", "purchasers", "purchases", "product_sales", "purchase_rate"),
    "26_brand_halo_share": (
        "ad_product", "campaign_id", "campaign", "promoted_purchases", "brand_halo_purchases", "promoted_sales",
        "brand_halo_sales", "total_sales", "brand_halo_sales_share"),
    "27_conversion_funnel_by_campaign": (
        "ad_product", "campaign_id", "campaign", "clicks", "detail_page_views", "add_to_carts", "purchases",
        "add_to_cart_rate", "cart_to_purchase_rate", "cvr"),
    "28_sponsored_products_placement_performance": (
        "placement_type", "impressions", "clicks", "spend", "purchases", "product_sales", "ctr", "cpc", "roas"),
    "29_sponsored_products_targeting_match_type": (
        "targeting", "match_type", "impressions", "clicks", "spend", "purchases", "product_sales", "cvr", "acos"),
    "30_incremental_reach_by_week": ("week_start", "users_reached", "new_users", "cumulative_reach", "new_user_share"),
}

# Ratios that are fractions of a whole by construction.
UNIT_INTERVAL_COLUMNS = {
    "ctr", "purchase_rate", "purchaser_rate", "viewability_rate", "new_user_share", "brand_halo_share",
    "brand_halo_sales_share", "ntb_purchase_share", "ntb_sales_share", "cumulative_share", "share_of_reach",
    "share_of_impressions", "share_of_purchases", "share_of_sales", "share_of_ad_product_sales",
    "share_of_window_spend", "share_of_daily_spend", "share_of_campaign_conversions",
}
# Columns that are text or may legitimately be negative; everything else numeric must be >= 0.
NOT_NON_NEGATIVE = {"campaign_id", "creative_id", "line_item_id"}


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def engine(sandbox_dataset):
    from amc_pipelines.sandbox.sql import SqlEngine

    return SqlEngine(sandbox_dataset)


@pytest.fixture(scope="module")
def instance(sandbox_dataset):
    return sandbox_dataset.instances[0]


def last_full_weeks(dataset, time_zone: str, weeks: int = 4) -> Window:
    """The last ``weeks`` full Monday-to-Monday weeks that end at least two days before the data does."""
    last_day = dataset.end_date - timedelta(days=2)
    end = last_day - timedelta(days=last_day.weekday())
    start = end - timedelta(weeks=weeks)
    assert start > dataset.start_date + timedelta(days=14), "the dataset is too short for a 4-week window"
    return Window(datetime(start.year, start.month, start.day), datetime(end.year, end.month, end.day), time_zone)


@pytest.fixture(scope="module")
def window(sandbox_dataset, instance) -> Window:
    return last_full_weeks(sandbox_dataset, instance.timezone)


@pytest.fixture(scope="module")
def reader(sandbox_dataset, instance, window):
    connection = sandbox_dataset.connect()
    yield TableReader(connection, instance.schema, window)
    connection.close()


def run(engine, instance, window: Window, example: ExampleQuery, **parameter_values):
    from amc_pipelines.sandbox.sql import QueryRequest

    request = QueryRequest(
        sql=example.sql,
        time_window_start=window.start,
        time_window_end=window.end,
        time_zone=window.time_zone,
        parameter_values={**example.default_values, **parameter_values},
        input_parameters=example.input_parameters,
        privacy_filtering_behavior="REMOVE_ROWS",
    )
    result = engine.run(request, instance.instance_id)
    return pd.DataFrame(result.rows, columns=result.columns), result.rows_removed


def _plain(value):
    """A comparable Python value: Decimal -> float, dates/ints as text for keys handled by callers."""
    if isinstance(value, Decimal):
        return float(value)
    return value


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _key(value) -> str | None:
    """A join key that reads the same for the engine's and pandas' representation of a value."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def assert_matches_reference(actual: pd.DataFrame, rows_removed: int, expected: pd.DataFrame, keys: list[str]) -> None:
    """Compare an engine result with a pandas reference that still holds every row (with ``_users``).

    The engine's rows must all be in the reference with the same values; reference rows that clear
    every threshold must be in the result, rows under the lowest threshold must not; and the rows
    kept plus the rows the privacy filter removed must be all the reference's rows.
    """
    assert not actual.empty, "the engine returned no rows"
    actual = actual.assign(_key=actual[keys].apply(lambda row: tuple(_key(v) for v in row), axis=1))
    expected = expected.assign(_key=expected[keys].apply(lambda row: tuple(_key(v) for v in row), axis=1))
    assert actual["_key"].is_unique and expected["_key"].is_unique
    reference = expected.set_index("_key")
    unknown = set(actual["_key"]) - set(reference.index)
    assert not unknown, f"rows the reference does not have: {sorted(unknown)[:5]}"
    compared = [c for c in actual.columns if c in reference.columns and c not in keys and c != "_key"]
    assert compared, "no value columns to compare"
    for row in actual.to_dict("records"):
        ref = reference.loc[[row["_key"]]].iloc[0]
        for column in compared:
            got, want = _plain(row[column]), _plain(ref[column])
            if _is_missing(want):
                assert _is_missing(got), f"{row['_key']} {column}: expected NULL, got {got}"
            else:
                assert got == pytest.approx(float(want), rel=1e-9, abs=1e-9), f"{row['_key']} {column}"
    kept = set(actual["_key"])
    clear = set(expected.loc[expected[USERS] >= HIGHEST_THRESHOLD_USERS, "_key"])
    assert clear <= kept, f"rows above every threshold are missing: {sorted(clear - kept)[:5]}"
    under = set(expected.loc[expected[USERS] < LOW_THRESHOLD_USERS, "_key"])
    assert not (under & kept), f"rows under the lowest threshold were returned: {sorted(under & kept)[:5]}"
    assert len(actual) + rows_removed == len(expected)


# ---------------------------------------------------------------- the loader


def test_library_has_at_least_25_queries_with_headers():
    examples = example_queries()
    assert len(examples) >= 25
    assert set(EXPECTED_COLUMNS) == {e.name for e in examples}
    for example in examples:
        assert example.title and example.description, example.name
        assert example.sql.lstrip().upper().startswith(("WITH", "SELECT")), example.name
        for parameter in example.parameters:
            assert f"CUSTOM_PARAMETER('{parameter.name}')" in example.sql, (example.name, parameter.name)


def test_parameters_are_parsed_into_input_parameters():
    campaigns = example_query("12_selected_campaigns_daily")
    assert [(p.name, p.data_type, p.element_data_type, p.default_value) for p in campaigns.parameters] == [
        ("campaign_ids", "ARRAY", "STRING", [])
    ]
    threshold = example_query("campaigns_above_impression_threshold.sql")
    assert threshold.default_values == {"min_impressions": 1000}
    [input_parameter] = threshold.input_parameters
    assert (input_parameter.name, input_parameter.data_type, input_parameter.default_value) == (
        "min_impressions", "LONG", 1000)


def test_header_format_errors_name_the_file_and_line():
    with pytest.raises(ExampleFormatError, match=r"bad\.sql: parameter line 'x' is not"):
        parse_example("bad", "-- title: T\n-- param: x\nSELECT 1")
    with pytest.raises(ExampleFormatError, match="unknown parameter type MAP"):
        parse_example("bad", "-- title: T\n-- param: x MAP {}\nSELECT 1")
    with pytest.raises(ExampleFormatError, match="no '-- title:' line"):
        parse_example("bad", "-- description: d\nSELECT 1")
    with pytest.raises(KeyError, match="no example query named"):
        example_query("does_not_exist")
    with pytest.raises(ExampleFormatError, match="holds only the '-- report:' line"):
        parse_example("bad", "-- report: reach_frequency\nSELECT 1")
    with pytest.raises(ExampleFormatError, match="holds only the '-- report:' line"):
        parse_example("bad", "-- report: reach_frequency\n-- title: T")
    with pytest.raises(ExampleFormatError, match="no built-in report named 'nope'; known: asin_performance"):
        parse_example("bad", "-- report: nope")
    with pytest.raises(ExampleFormatError, match="no built-in report named 'nope'"):
        parse_example("bad", "-- title: T\n-- variant_of: nope\nSELECT 1")


def test_description_continuation_lines_are_joined():
    example = parse_example("x", "-- title: T\n-- description: first\n--   second\n\nSELECT 1")
    assert example.description == "first second"
    assert example.sql == "SELECT 1"


# ---------------------------------------------------------------- every example on the sandbox


def _check_sensible(example: ExampleQuery, frame: pd.DataFrame) -> None:
    assert tuple(frame.columns) == EXPECTED_COLUMNS[example.name]
    assert not frame.empty, f"{example.name} returned no rows"
    for column in frame.columns:
        values = [_plain(v) for v in frame[column] if not _is_missing(_plain(v))]
        numeric = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if not numeric or len(numeric) != len(values) or column in NOT_NON_NEGATIVE:
            continue
        assert min(numeric) >= 0, f"{example.name}.{column} has negative values"
        if column in UNIT_INTERVAL_COLUMNS:
            assert max(numeric) <= 1 + 1e-9, f"{example.name}.{column} exceeds 1"


@pytest.mark.parametrize("example", example_queries(), ids=lambda e: e.name)
def test_example_runs_and_returns_sensible_rows(engine, instance, window, example):
    frame, rows_removed = run(engine, instance, window, example)
    _check_sensible(example, frame)
    assert rows_removed >= 0


def test_examples_run_on_every_instance(engine, sandbox_dataset):
    """The second instance sits in another time zone and marketplace: a few queries there too."""
    for other in sandbox_dataset.instances[1:]:
        other_window = last_full_weeks(sandbox_dataset, other.timezone)
        for name in ("01_campaign_performance_sp_sb_sd_dsp", "06_path_to_conversion", "11_last_touch_attribution_7d"):
            example = example_query(name)
            frame, _ = run(engine, other, other_window, example)
            _check_sensible(example, frame)


def test_campaign_performance_totals_are_consistent(engine, instance, window):
    frame, _ = run(engine, instance, window, example_query("01_campaign_performance_sp_sb_sd_dsp"))
    assert set(frame["ad_product"]) >= {"sponsored_products", "dsp"}
    assert frame["week_start"].nunique() == 4
    assert all(pd.Timestamp(w).weekday() == 0 for w in frame["week_start"])
    assert (frame["ntb_purchases"] <= frame["purchases"]).all()
    by_product, _ = run(engine, instance, window, example_query("03_kpis_by_ad_product_with_labels"))
    # 03 has no per-week rows to drop, so its totals bound 01's kept rows from above
    assert frame["impressions"].sum() <= by_product["impressions"].sum()


def test_shares_add_up_to_one(engine, instance, window):
    frequency, _ = run(engine, instance, window, example_query("04_dsp_frequency_distribution"))
    assert frequency["share_of_reach"].sum() == pytest.approx(1.0)
    assert frequency["share_of_impressions"].sum() == pytest.approx(1.0)
    ranking, _ = run(engine, instance, window, example_query("17_top_campaigns_by_sales"), top_n=3)
    assert ranking.groupby("ad_product").size().max() <= 3
    assert (ranking["sales_rank"] >= 1).all()


def test_parameters_change_the_answer(engine, instance, window):
    threshold = example_query("14_campaigns_above_impression_threshold")
    everything, _ = run(engine, instance, window, threshold, min_impressions=0)
    busy, _ = run(engine, instance, window, threshold, min_impressions=int(everything["impressions"].median()))
    assert 0 < len(busy) < len(everything)
    assert busy["impressions"].min() >= everything["impressions"].median()
    asins, _ = run(engine, instance, window, example_query("13_asin_performance"))
    chosen = sorted(asins["tracked_asin"])[:2]
    only_chosen, _ = run(engine, instance, window, example_query("13_asin_performance"), asins=chosen)
    assert sorted(only_chosen["tracked_asin"]) == chosen
    assert only_chosen["share_of_sales"].sum() == pytest.approx(1.0)


def test_path_to_conversion_paths_are_ordered_steps(engine, instance, window):
    frame, _ = run(engine, instance, window, example_query("06_path_to_conversion"))
    for path, length in zip(frame["path"], frame["path_length"], strict=True):
        steps = path.split(" > ")
        assert len(steps) == length
        assert [int(step.split(":")[0]) for step in steps] == list(range(1, length + 1))
        channels = [step.split(":")[1] for step in steps]
        assert len(set(channels)) == len(channels) and set(channels) <= {"DSP", "SP", "SB", "SD", "STV"}
    assert (frame["purchasers"] <= frame["users"]).all()


def test_last_touch_credits_each_purchase_once(engine, instance, window, reader):
    frame, rows_removed = run(engine, instance, window, example_query("11_last_touch_attribution_7d"))
    assert set(frame["winning_touch_type"]) <= {"click", "impression"}
    purchases = reader.read("conversions", ["conversion_id", "event_category", "user_id"])
    purchases = purchases[(purchases["event_category"] == "purchase") & purchases["user_id"].notna()]
    # every purchase has at most one winner, so the kept rows cannot credit more purchases than exist
    assert frame["attributed_purchases"].sum() <= purchases["conversion_id"].nunique()


# ---------------------------------------------------------------- checked against pandas


def test_campaign_performance_matches_pandas(engine, instance, window, reader):
    frame, removed = run(engine, instance, window, example_query("01_campaign_performance_sp_sb_sd_dsp"))
    expected = refs.campaign_performance(reader)
    assert_matches_reference(frame, removed, expected, ["week_start", "ad_product", "campaign_id", "campaign"])


def test_new_to_brand_weekly_matches_pandas(engine, instance, window, reader):
    frame, removed = run(engine, instance, window, example_query("02_new_to_brand_weekly_by_ad_product"))
    assert_matches_reference(frame, removed, refs.new_to_brand_weekly(reader), ["week_start", "ad_product"])


def test_frequency_distribution_matches_pandas(engine, instance, window, reader):
    frame, removed = run(engine, instance, window, example_query("04_dsp_frequency_distribution"))
    assert_matches_reference(frame, removed, refs.dsp_frequency_distribution(reader), ["frequency_bucket"])


def test_time_to_conversion_percentiles_match_pandas(engine, instance, window, reader):
    frame, removed = run(engine, instance, window, example_query("09_time_to_conversion_percentiles"))
    expected = refs.time_to_conversion_percentiles(reader)
    approximate = ["p25_hours", "p75_hours", "p90_hours"]
    assert_matches_reference(frame.drop(columns=approximate), removed, expected.drop(columns=approximate),
                             ["ad_product"])
    # APPROX_PERCENTILE is a sketch: within 5% of the spread of the distribution
    merged = frame.merge(expected, on="ad_product", suffixes=("", "_exact"))
    for column in approximate:
        spread = merged["p90_hours_exact"] - merged["p25_hours_exact"]
        error = (merged[column].astype(float) - merged[f"{column}_exact"]).abs()
        assert (error <= 0.05 * spread + 1e-6).all(), column


def test_impressions_before_purchase_lookback_matches_pandas(engine, instance, window, reader):
    frame, removed = run(engine, instance, window, example_query("10_dsp_impressions_before_purchase_lookback"))
    expected = refs.impressions_before_purchase(reader)
    assert_matches_reference(frame.drop(columns=["mean_hours_since_last_impression"]), removed, expected,
                             ["campaign_id", "campaign"])


def test_selected_campaigns_parameter_matches_pandas(engine, instance, window, reader):
    traffic = reader.read("sponsored_ads_traffic", ["campaign_id_string", "impressions"])
    dsp = reader.read("dsp_impressions", ["campaign_id_string", "impressions"])
    chosen = [
        traffic.groupby("campaign_id_string")["impressions"].sum().idxmax(),
        dsp.groupby("campaign_id_string")["impressions"].sum().idxmax(),
    ]
    frame, removed = run(engine, instance, window, example_query("12_selected_campaigns_daily"), campaign_ids=chosen)
    assert set(frame["campaign_id"]) == set(chosen)
    expected = refs.selected_campaigns_daily(reader, chosen)
    assert_matches_reference(frame, removed, expected, ["event_date", "ad_product", "campaign_id", "campaign"])


def test_day_of_week_and_hour_matches_pandas(engine, instance, window, reader):
    frame, removed = run(engine, instance, window, example_query("15_traffic_by_day_of_week_and_hour"))
    names = {1: "Sunday", 2: "Monday", 3: "Tuesday", 4: "Wednesday", 5: "Thursday", 6: "Friday", 7: "Saturday"}
    assert all(names[int(d)] == n for d, n in zip(frame["day_of_week"], frame["day_name"], strict=True))
    expected = refs.traffic_by_day_of_week_and_hour(reader)
    assert_matches_reference(frame.drop(columns=["day_name"]), removed, expected,
                             ["channel", "day_of_week", "hour_of_day"])


# ---------------------------------------------------------------- examples and the built-in reports

REPORT_EXAMPLES = {  # examples that are a built-in report: the file only names it
    "05_reach_and_frequency_by_campaign": "reach_frequency",
    "06_path_to_conversion": "path_to_conversion",
    "07_sp_dsp_overlap": "sp_dsp_overlap",
    "08_time_to_conversion_buckets": "time_to_conversion",
}
# Token similarity (comments and layout aside) from which an example must name the report it is or varies:
# 05-08 were 0.77-0.95 before they named their report, 01 is 0.79, 02 0.70, 13 0.59 (both declared as
# variants all the same); the closest undeclared example, 12_selected_campaigns_daily, is 0.66.
SIMILAR_SQL = 0.75


@dataclass(frozen=True)
class Variant:
    """How an example deliberately differs from a built-in report: its columns that hold the report's
    values under another name, its ratios of report columns (numerator, denominator), its other columns,
    and the report's columns it does not show."""

    report: str
    renamed: dict[str, str] = field(default_factory=dict)
    ratios: dict[str, tuple[str, str]] = field(default_factory=dict)
    example_only: frozenset[str] = frozenset()
    report_only: frozenset[str] = frozenset()


VARIANTS = {
    "01_campaign_performance_sp_sb_sd_dsp": Variant(
        "campaign_performance", {"product_sales": "sales", "ntb_product_sales": "ntb_sales"},
        {"ctr": ("clicks", "impressions"), "roas": ("sales", "spend")}, frozenset({"week_start"}),
        frozenset({"event_date", "currency", "privacy_filtered"})),  # a row per day (summed into the week); one currency per instance
    "02_new_to_brand_weekly_by_ad_product": Variant(
        "new_to_brand", {"product_sales": "sales", "ntb_product_sales": "ntb_sales"},
        {"ntb_purchase_share": ("ntb_purchases", "purchases"), "ntb_sales_share": ("ntb_sales", "sales")},
        frozenset({"week_start"}), frozenset({"units"})),
    "13_asin_performance": Variant(
        "asin_performance", {"tracked_asin": "asin", "units_sold": "units", "product_sales": "sales"},
        {"ntb_purchase_share": ("ntb_purchases", "purchases"),
         "brand_halo_share": ("brand_halo_purchases", "purchases"), "average_unit_price": ("sales", "units")},
        frozenset({"sales_rank", "share_of_sales"}),  # over every ASIN, before the threshold removes rows
        frozenset({"ntb_purchases", "ntb_sales", "brand_halo_purchases"})),
}


def _summed_over_hidden_dimensions(spec, rows: list[dict], keys: list[str]) -> tuple[dict, set]:
    """The report's rows by ``keys`` with the metrics of rows that differ only in the other dimensions
    (campaign_performance's days) summed, and the keys with a row whose metrics AMC withheld (NULL)."""
    metrics = [c.name for c in spec.metric_columns]
    summed: dict[tuple, dict] = {}
    withheld: set[tuple] = set()
    for row in rows:
        key = tuple(row[k] for k in keys)
        if any(row[m] is None for m in metrics):
            withheld.add(key)
        if key not in summed:
            summed[key] = dict(row)
            continue
        for m in metrics:
            if row[m] is not None:
                summed[key][m] = row[m] if summed[key][m] is None else summed[key][m] + row[m]
    return summed, withheld


def _sql_similarity(first: str, second: str) -> float:
    """Share of SQL tokens (comments and layout aside) the two queries have in common, in order."""
    return difflib.SequenceMatcher(None, one_line_sql(first).split(), one_line_sql(second).split(),
                                   autojunk=False).ratio()


def test_examples_close_to_a_report_name_it():
    """A copy of a report's SQL among the examples must be the report itself, or a declared variant."""
    assert {e.name: e.report for e in example_queries() if e.report} == REPORT_EXAMPLES
    assert {e.name: e.variant_of for e in example_queries() if e.variant_of} == {
        name: variant.report for name, variant in VARIANTS.items()}
    for example in example_queries():
        for name, spec in CATALOG.items():
            if _sql_similarity(example.sql, spec.sql) >= SIMILAR_SQL:
                assert name in (example.report, example.variant_of), (
                    f"{example.name} is close to the built-in report {name}: name it with '-- report: {name}' "
                    f"or say how it differs and add '-- variant_of: {name}'")


@pytest.mark.parametrize("name", sorted(REPORT_EXAMPLES))
def test_examples_that_name_a_report_are_that_report(engine, sandbox_dataset, instance, name):
    example, spec = example_query(name), CATALOG[REPORT_EXAMPLES[name]]
    assert (example.title, example.description) == (spec.title, spec.description)
    assert spec.model_copy(update={"sql": example.sql}).sql_hash == spec.sql_hash  # the same query
    assert example.input_parameters == [InputParameter.from_api(e) for e in amc_input_parameters(spec.parameters)]
    week = report_week(sandbox_dataset, instance)
    report_rows, columns = run_report(engine, instance, week, spec)
    frame, _ = run(engine, instance, Window(week.start, week.end, week.timezone), example)
    assert list(frame.columns) == columns
    assert sorted(frame.itertuples(index=False, name=None), key=repr) == sorted(
        (tuple(row.values()) for row in report_rows), key=repr)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_examples_differ_from_their_report_only_as_declared(engine, sandbox_dataset, instance, name):
    """Over one week the example and the report agree on every value they share; the example adds only
    the declared columns (ratios of the report's columns, the week) and leaves out only the declared ones."""
    example, variant = example_query(name), VARIANTS[name]
    spec = CATALOG[variant.report]
    extra = set(variant.ratios) | variant.example_only
    shared = [column for column in EXPECTED_COLUMNS[name] if column not in extra]
    assert {variant.renamed.get(c, c) for c in shared} == set(spec.column_names) - variant.report_only
    week = report_week(sandbox_dataset, instance)
    report_rows, _ = run_report(engine, instance, week, spec)
    frame, _ = run(engine, instance, Window(week.start, week.end, week.timezone), example)
    keys = [c.name for c in spec.dimension_columns if c.name not in variant.report_only]
    reported, withheld = _summed_over_hidden_dimensions(spec, report_rows, keys)
    examples = {}
    for row in frame.rename(columns=variant.renamed).to_dict("records"):
        examples[tuple(row[k] for k in keys)] = row
    assert len(examples) == len(frame) and set(examples) == set(reported)
    types = {c.name: c.type for c in spec.output_columns}
    assert len(withheld) < len(reported), "every row has a day under AMC's threshold: the check compares nothing"
    for key, row in examples.items():
        report = reported[key]
        if key in withheld:  # AMC withheld a day of it: the week's sum is not the report's to give
            continue
        for column in shared:
            column = variant.renamed.get(column, column)
            assert same_value(types[column], report[column], row[column]), (name, key, column)
        for column, (numerator, denominator) in variant.ratios.items():
            if report[denominator] == 0:
                assert _is_missing(row[column]), (name, key, column)
            else:
                ratio = float(report[numerator]) / float(report[denominator])
                assert float(row[column]) == pytest.approx(ratio, rel=1e-9), (name, key, column)
        if "week_start" in row:
            assert _key(row["week_start"]) == week.start.date().isoformat()
