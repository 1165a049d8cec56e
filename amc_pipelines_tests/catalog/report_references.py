"""Independent pandas computations of the built-in reports, and the check that compares them with the
sandbox engine's answer to the report's exact SQL.

Each reference reads the instance's raw tables limited to the execution window by event time, as AMC
does (``TableReader`` of example_references.py), computes the report in pandas and keeps every row,
with one extra column ``_users``: the distinct users behind the row, so that the check can tell which
rows AMC's aggregation threshold removes. The threshold a report's rows need comes from the documented
class of the table columns its dimensions show (``MIN_USERS``), not from the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from amc_pipelines.sandbox.tables import sandbox_tables
from amc_pipelines_tests.sandbox.example_references import (
    DSP_COST_DIVISOR,
    SA_SPEND_DIVISOR,
    USERS,
    TableReader,
    attributed_purchase_delays,
    attributed_purchases,
    campaign_events,
    distinct_users,
    new_to_brand_totals,
)

ATTRIBUTED_BY_CONVERSION = "amazon_attributed_events_by_conversion_time"
ATTRIBUTED_BY_TRAFFIC = "amazon_attributed_events_by_traffic_time"

# The table columns whose values each report's dimension columns show. AMC drops a row with fewer
# distinct users than the strictest of their threshold classes asks for; a dimension built only from
# aggregates (sp_dsp_overlap's exposure group) shows no column, and its rows need no users.
DIMENSION_SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "campaign_performance": tuple(
        (table, column)
        for table in ("sponsored_ads_traffic", "dsp_impressions", "dsp_clicks", ATTRIBUTED_BY_TRAFFIC)
        for column in ("campaign_id_string", "campaign")
    ) + (("sponsored_ads_traffic", "ad_product_type"), (ATTRIBUTED_BY_TRAFFIC, "ad_product_type"),
         ("sponsored_ads_traffic", "event_date"), ("dsp_impressions", "impression_date"),
         ("dsp_clicks", "click_date"), (ATTRIBUTED_BY_TRAFFIC, "traffic_event_date"),
         ("sponsored_ads_traffic", "currency_iso_code"), ("dsp_impressions", "currency_iso_code"),
         ("dsp_clicks", "currency_iso_code"), (ATTRIBUTED_BY_TRAFFIC, "purchase_currency")),
    "new_to_brand": ((ATTRIBUTED_BY_CONVERSION, "ad_product_type"),),
    "reach_frequency": tuple(
        (table, column) for table in ("sponsored_ads_traffic", "dsp_impressions")
        for column in ("campaign_id_string", "campaign")
    ) + (("sponsored_ads_traffic", "ad_product_type"),),
    "path_to_conversion": (("sponsored_ads_traffic", "ad_product_type"),),
    "sp_dsp_overlap": (),
    "time_to_conversion": (
        (ATTRIBUTED_BY_CONVERSION, "ad_product_type"),
        (ATTRIBUTED_BY_CONVERSION, "traffic_event_dt_hour_utc"),
        (ATTRIBUTED_BY_CONVERSION, "conversion_event_dt_hour_utc"),
    ),
    "asin_performance": ((ATTRIBUTED_BY_CONVERSION, "tracked_asin"),),
}


def min_users(report: str) -> int:
    """Distinct users a row of ``report`` needs to be returned (documented threshold classes)."""
    tables = sandbox_tables()
    return max((tables[t].column(c).threshold.min_users for t, c in DIMENSION_SOURCES[report]), default=0)


# ---------------------------------------------------------------- the references


def campaign_performance(reader: TableReader, campaign_ids: Sequence[int] = ()) -> pd.DataFrame:
    """Impressions, clicks, spend and attributed (traffic time) purchases and sales by campaign and
    traffic date (advertiser time zone)."""
    events = campaign_events(reader)
    if campaign_ids:
        events = events[events["campaign_number"].isin(list(campaign_ids))]
    keys = ["ad_product", "campaign_id", "campaign", "event_date", "currency"]
    result = events.groupby(keys, dropna=False)[
        ["impressions", "clicks", "spend", "purchases", "product_sales", "ntb_purchases", "ntb_product_sales"]
    ].sum()
    result[USERS] = distinct_users(events, keys)
    result = result.fillna({USERS: 0}).reset_index()
    return result.rename(columns={"product_sales": "sales", "ntb_product_sales": "ntb_sales"})


def new_to_brand(reader: TableReader) -> pd.DataFrame:
    """Attributed (conversion time) purchasing by ad product, in all and new to brand."""
    purchases = attributed_purchases(reader)
    result = new_to_brand_totals(purchases, ["ad_product"])
    result["units"] = purchases.groupby("ad_product")["total_units_sold"].sum()
    result[USERS] = result["purchasers"]
    return result.reset_index().rename(columns={"product_sales": "sales", "ntb_product_sales": "ntb_sales"})


def reach_frequency(reader: TableReader, min_impressions: int = 1) -> pd.DataFrame:
    """Users reached, impressions, frequency and spend by campaign; campaigns under min_impressions left out."""
    dsp = reader.read("dsp_impressions", ["campaign_id_string", "campaign", "user_id", "impressions", "total_cost"])
    dsp = dsp.assign(ad_product="dsp", spend=dsp["total_cost"] / DSP_COST_DIVISOR)
    sa = reader.read("sponsored_ads_traffic",
                     ["ad_product_type", "campaign_id_string", "campaign", "user_id", "impressions", "spend"])
    sa = sa.assign(ad_product=sa["ad_product_type"], spend=sa["spend"] / SA_SPEND_DIVISOR)
    columns = ["ad_product", "campaign_id_string", "campaign", "user_id", "impressions", "spend"]
    exposures = pd.concat([dsp[columns], sa[columns]], ignore_index=True)
    keys = ["ad_product", "campaign_id_string", "campaign"]
    grouped = exposures.groupby(keys, dropna=False)
    result = pd.DataFrame({
        "reach": distinct_users(exposures[exposures["impressions"] > 0], keys),
        "impressions": grouped["impressions"].sum(),
        "spend": grouped["spend"].sum(),
        USERS: distinct_users(exposures, keys),
    }).fillna({"reach": 0, USERS: 0})
    result["average_frequency"] = result["impressions"] / result["reach"].replace(0, np.nan)
    result = result[result["impressions"] >= min_impressions]
    return result.reset_index().rename(columns={"campaign_id_string": "campaign_id"})


CHANNELS = {"sponsored_products": "SP", "sponsored_brands": "SB", "sponsored_display": "SD"}


def path_to_conversion(reader: TableReader) -> pd.DataFrame:
    """Users by the order in which they first met each ad product before their first attributed purchase."""
    dsp = reader.read("dsp_impressions", ["user_id", "impression_dt_utc"]).dropna(subset=["user_id"])
    dsp = dsp.groupby("user_id")["impression_dt_utc"].min().reset_index()
    dsp = dsp.assign(channel="DSP").rename(columns={"impression_dt_utc": "first_touch"})
    sa = reader.read("sponsored_ads_traffic", ["user_id", "ad_product_type", "event_dt_utc", "impressions"])
    sa = sa[(sa["impressions"] > 0)].dropna(subset=["user_id"])
    sa = sa.groupby(["user_id", "ad_product_type"], dropna=False)["event_dt_utc"].min().reset_index()
    sa = sa.assign(channel=sa["ad_product_type"].map(CHANNELS).fillna("STV"))
    sa = sa.rename(columns={"event_dt_utc": "first_touch"})
    touches = pd.concat([dsp[["user_id", "channel", "first_touch"]], sa[["user_id", "channel", "first_touch"]]])

    conv = reader.read(ATTRIBUTED_BY_TRAFFIC, ["user_id", "conversion_event_dt_utc", "total_purchases",
                                               "total_product_sales"])
    conv = conv[conv["total_purchases"] > 0].dropna(subset=["user_id"])
    buyers = conv.groupby("user_id").agg(
        first_purchase=("conversion_event_dt_utc", "min"), purchases=("total_purchases", "sum"),
        sales=("total_product_sales", lambda s: s.astype(float).sum()),
    )
    touches = touches.merge(buyers[["first_purchase"]], left_on="user_id", right_index=True, how="left")
    touches = touches[touches["first_purchase"].isna() | (touches["first_touch"] < touches["first_purchase"])]
    touches = touches.sort_values(["user_id", "first_touch", "channel"])
    touches["step"] = touches.groupby("user_id").cumcount() + 1
    paths = touches.groupby("user_id").agg(
        path=("channel", lambda channels: " > ".join(f"{i}:{c}" for i, c in enumerate(channels, start=1))),
        path_length=("step", "max"),
    )
    paths = paths.join(buyers[["purchases", "sales"]], how="left")
    grouped = paths.reset_index().groupby(["path", "path_length"])
    result = pd.DataFrame({
        "users": grouped["user_id"].nunique(),
        "purchasers": grouped["purchases"].count(),
        "purchases": grouped["purchases"].sum(),
        "sales": grouped["sales"].sum(),
    })
    result[USERS] = result["users"]
    return result.reset_index()


def sp_dsp_overlap(reader: TableReader) -> pd.DataFrame:
    """Users reached by SP only / DSP only / both, and their purchases (conversions table) in the window."""
    sa = reader.read("sponsored_ads_traffic", ["user_id", "ad_product_type", "impressions"])
    sp_users = set(sa.loc[(sa["ad_product_type"] == "sponsored_products") & (sa["impressions"] > 0), "user_id"].dropna())
    dsp_users = set(reader.read("dsp_impressions", ["user_id"])["user_id"].dropna())
    conv = reader.read("conversions", ["user_id", "event_category", "conversions", "total_product_sales"])
    conv = conv[conv["event_category"] == "purchase"].dropna(subset=["user_id"])
    per_purchaser = conv.groupby("user_id").agg(
        purchases=("conversions", "sum"), sales=("total_product_sales", lambda s: s.astype(float).sum())
    )
    groups = {"SP and DSP": sp_users & dsp_users, "SP only": sp_users - dsp_users, "DSP only": dsp_users - sp_users}
    rows = []
    for name, members in groups.items():
        if not members:  # a group nobody is in has no row
            continue
        bought = per_purchaser[per_purchaser.index.isin(members)]
        rows.append({
            "exposure_group": name, "users": len(members), "purchasers": len(bought),
            "purchases": bought["purchases"].sum(), "sales": bought["sales"].sum(), USERS: len(members),
        })
    return pd.DataFrame(rows)


TIME_TO_CONVERSION_EDGES = [-np.inf, 1, 24, 3 * 24, 7 * 24, 14 * 24, np.inf]
TIME_TO_CONVERSION_LABELS = [
    "1: same hour", "2: 1-23 hours", "3: 1-3 days", "4: 3-7 days", "5: 7-14 days", "6: 14 days or more",
]


def time_to_conversion(reader: TableReader) -> pd.DataFrame:
    """Attributed purchases by hours from the ad interaction to the purchase (hour-truncated), by ad product."""
    conv = attributed_purchase_delays(reader)
    conv["time_to_conversion"] = pd.cut(
        conv["hours"], TIME_TO_CONVERSION_EDGES, labels=TIME_TO_CONVERSION_LABELS, right=False
    ).astype(str)
    grouped = conv.groupby(["ad_product", "time_to_conversion"])
    result = pd.DataFrame({
        "purchases": grouped["total_purchases"].sum(),
        "sales": grouped["total_product_sales"].sum(),
        "purchasers": grouped["user_id"].nunique(),
    })
    result[USERS] = result["purchasers"]
    return result.reset_index()


def asin_performance(reader: TableReader, asins: Sequence[str] = ()) -> pd.DataFrame:
    """Attributed (conversion time) purchases, units and sales by purchased ASIN."""
    purchases = attributed_purchases(reader).dropna(subset=["tracked_asin"])
    if asins:
        purchases = purchases[purchases["tracked_asin"].isin(list(asins))]
    grouped = purchases.groupby("tracked_asin")
    result = pd.DataFrame({
        "purchases": grouped["total_purchases"].sum(),
        "units": grouped["total_units_sold"].sum(),
        "sales": grouped["total_product_sales"].sum(),
        "ntb_purchases": grouped["new_to_brand_total_purchases"].sum(),
        "ntb_sales": grouped["new_to_brand_total_product_sales"].sum(),
        "brand_halo_purchases": grouped["brand_halo_purchases"].sum(),
        "purchasers": grouped["user_id"].nunique(),
    })
    result[USERS] = result["purchasers"]
    return result.reset_index().rename(columns={"tracked_asin": "asin"})


REFERENCES = {
    "campaign_performance": campaign_performance,
    "new_to_brand": new_to_brand,
    "reach_frequency": reach_frequency,
    "path_to_conversion": path_to_conversion,
    "sp_dsp_overlap": sp_dsp_overlap,
    "time_to_conversion": time_to_conversion,
    "asin_performance": asin_performance,
}


# ---------------------------------------------------------------- the comparison


def _python(value):
    """numpy scalars as Python ones, NaN as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def same_value(column_type: str, got, want) -> bool:
    """Strings and integers exactly; decimals exactly at the engine's scale; doubles to 1e-9 relative."""
    want = _python(want)
    if got is None or want is None:
        return got is None and want is None
    if column_type in ("string", "date"):
        return type(got) is type(want) and got == want
    if column_type == "integer":
        return isinstance(got, int) and float(want).is_integer() and got == int(want)
    if column_type == "decimal":
        # the reference adds floats; rounding to the engine's scale recovers the exact decimal sum
        return isinstance(got, Decimal) and got == Decimal(str(round(float(want), -got.as_tuple().exponent)))
    if column_type == "double":
        return isinstance(got, float) and got == pytest.approx(float(want), rel=1e-9, abs=1e-12)
    raise AssertionError(f"no comparison for columns of type {column_type}")


def assert_report_matches(spec, rows: list[dict], rows_removed: int, expected: pd.DataFrame) -> None:
    """The engine's rows are the reference rows as the report's privacy behaviour leaves them, with the
    same value in every output column. REMOVE_ROWS (no discriminator): exactly the rows that clear the
    threshold, the others removed. REMOVE_VALUES with a discriminator column: every row, those under
    the threshold with NULL metrics and the discriminator true, the others with it false."""
    discriminator = spec.privacy.discriminator_column
    keeps_rows = spec.privacy.behavior == "REMOVE_VALUES"
    assert keeps_rows == (discriminator is not None), "the reference models REMOVE_ROWS, or REMOVE_VALUES with a discriminator"
    names = [name for name in spec.column_names if name != discriminator]
    assert set(expected.columns) == {*names, USERS}, "the reference must compute every output column"
    keys = [c.name for c in spec.dimension_columns if c.name != discriminator]
    reference = {tuple(_python(v) for v in row[keys]): row for _, row in expected.iterrows()}
    assert len(reference) == len(expected), "the reference has duplicate keys"
    actual = {tuple(row[k] for k in keys): row for row in rows}
    assert len(actual) == len(rows), "the engine returned duplicate keys"
    required = min_users(spec.name)
    clearing = {key for key, row in reference.items() if row[USERS] >= required}
    assert clearing, f"no reference row of {spec.name} clears its threshold: the check would compare nothing"
    returned = set(reference) if keeps_rows else clearing
    assert set(actual) == returned, (
        f"{spec.name}: rows only in the engine's answer: {sorted(set(actual) - returned, key=str)[:5]}; "
        f"reference rows missing (>= {required} users needed to clear): {sorted(returned - set(actual), key=str)[:5]}"
    )
    assert rows_removed == len(reference) - len(clearing), f"{spec.name}: rows under the threshold"
    for key, row in actual.items():
        withheld = key not in clearing
        if discriminator is not None:
            assert row[discriminator] is withheld, f"{spec.name} {key} {discriminator}: {row[discriminator]!r}"
        for column in spec.output_columns:
            if column.name == discriminator:
                continue
            got, want = row[column.name], reference[key][column.name]
            if withheld and column.kind == "metric":
                want = None
            assert same_value(column.type, got, want), f"{spec.name} {key} {column.name}: engine {got!r}, pandas {want!r}"
