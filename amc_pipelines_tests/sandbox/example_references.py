"""Independent pandas computations of example queries, for test_examples.py.

Each reference reads the instance's raw tables (limited to the execution window by event time, as
AMC does) and computes the query's answer in pandas, with one extra column ``_users``: the distinct
users behind each output row, so that tests can allow for the privacy thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from amc_pipelines.sandbox.tables import EVENT_TIME_COLUMNS

USERS = "_users"
SA_SPEND_DIVISOR = 1e8  # sponsored ads spend: microcents
DSP_COST_DIVISOR = 1e5  # DSP cost: millicents
CAMPAIGN_METRICS = ["impressions", "clicks", "spend", "purchases", "product_sales", "ntb_purchases", "ntb_product_sales"]


@dataclass(frozen=True)
class Window:
    """An execution window: local wall-clock bounds in ``time_zone`` and their UTC equivalents."""

    start: datetime
    end: datetime
    time_zone: str

    def _utc(self, local: datetime) -> datetime:
        return local.replace(tzinfo=ZoneInfo(self.time_zone)).astimezone(UTC).replace(tzinfo=None)

    @property
    def start_utc(self) -> datetime:
        return self._utc(self.start)

    @property
    def end_utc(self) -> datetime:
        return self._utc(self.end)


class TableReader:
    """Reads one instance's tables the way the engine scopes them to a window."""

    def __init__(self, connection, schema: str, window: Window) -> None:
        self.connection = connection
        self.schema = schema
        self.window = window

    def read(self, table: str, columns: Sequence[str], *, extend_back: timedelta = timedelta(0)) -> pd.DataFrame:
        event_time = EVENT_TIME_COLUMNS[table]
        sql = (
            f"SELECT {', '.join(columns)} FROM {self.schema}.{table} "
            f"WHERE {event_time} >= ? AND {event_time} < ?"
        )
        bounds = [self.window.start_utc - extend_back, self.window.end_utc]
        return self.connection.execute(sql, bounds).df()


def week_start(local_dates: pd.Series) -> pd.Series:
    """Monday of the week (DATE_TRUNC('WEEK') semantics) as datetime.date."""
    days = pd.to_datetime(local_dates)
    return (days - pd.to_timedelta(days.dt.weekday, unit="D")).dt.date


def local_date(local_dates: pd.Series) -> pd.Series:
    """An AMC DATE column (advertiser time zone) as datetime.date."""
    return pd.to_datetime(local_dates).dt.date


def ad_product(ad_product_type: pd.Series) -> pd.Series:
    return ad_product_type.fillna("dsp")


def distinct_users(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    return frame.dropna(subset=["user_id"]).groupby(keys, dropna=False)["user_id"].nunique()


def campaign_events(reader: TableReader) -> pd.DataFrame:
    """Sponsored ads traffic, DSP impressions and clicks, and conversions attributed by traffic time, one
    frame: campaign keys (``campaign_id`` as text, ``campaign_number`` as LONG), the local ``event_date``
    (traffic date) and its ``week_start``, ``currency``, ``user_id`` and the metrics (zero where the source has none), spend in local currency."""
    sa = reader.read(
        "sponsored_ads_traffic",
        ["event_date", "ad_product_type", "campaign_id", "campaign_id_string", "campaign", "user_id", "impressions",
         "clicks", "spend", "currency_iso_code"],
    )
    sa = pd.DataFrame({
        "event_date": local_date(sa["event_date"]), "week_start": week_start(sa["event_date"]),
        "ad_product": sa["ad_product_type"],
        "campaign_number": sa["campaign_id"], "campaign_id": sa["campaign_id_string"], "campaign": sa["campaign"],
        "user_id": sa["user_id"], "impressions": sa["impressions"], "clicks": sa["clicks"],
        "spend": sa["spend"] / SA_SPEND_DIVISOR, "currency": sa["currency_iso_code"],
    })
    imps = reader.read("dsp_impressions", ["impression_date", "campaign_id", "campaign_id_string", "campaign", "user_id",
                                           "impressions", "total_cost", "currency_iso_code"])
    imps = pd.DataFrame({
        "event_date": local_date(imps["impression_date"]), "week_start": week_start(imps["impression_date"]),
        "ad_product": "dsp",
        "campaign_number": imps["campaign_id"], "campaign_id": imps["campaign_id_string"], "campaign": imps["campaign"],
        "user_id": imps["user_id"], "impressions": imps["impressions"], "spend": imps["total_cost"] / DSP_COST_DIVISOR,
        "currency": imps["currency_iso_code"],
    })
    clicks = reader.read("dsp_clicks", ["click_date", "campaign_id", "campaign_id_string", "campaign", "user_id", "clicks",
                                         "currency_iso_code"])
    clicks = pd.DataFrame({
        "event_date": local_date(clicks["click_date"]), "week_start": week_start(clicks["click_date"]),
        "ad_product": "dsp",
        "campaign_number": clicks["campaign_id"], "campaign_id": clicks["campaign_id_string"],
        "campaign": clicks["campaign"], "user_id": clicks["user_id"], "clicks": clicks["clicks"],
        "currency": clicks["currency_iso_code"],
    })
    conv = reader.read(
        "amazon_attributed_events_by_traffic_time",
        ["traffic_event_date", "ad_product_type", "campaign_id", "campaign_id_string", "campaign", "user_id",
         "total_purchases", "total_product_sales", "new_to_brand_total_purchases", "new_to_brand_total_product_sales",
         "purchase_currency"],
    )
    conv = pd.DataFrame({
        "event_date": local_date(conv["traffic_event_date"]), "week_start": week_start(conv["traffic_event_date"]),
        "ad_product": ad_product(conv["ad_product_type"]),
        "campaign_number": conv["campaign_id"], "campaign_id": conv["campaign_id_string"], "campaign": conv["campaign"],
        "user_id": conv["user_id"], "purchases": conv["total_purchases"],
        "product_sales": conv["total_product_sales"].astype(float),
        "ntb_purchases": conv["new_to_brand_total_purchases"],
        "ntb_product_sales": conv["new_to_brand_total_product_sales"].astype(float),
        "currency": conv["purchase_currency"],
    })
    events = pd.concat([sa, imps, clicks, conv], ignore_index=True)
    events[CAMPAIGN_METRICS] = events[CAMPAIGN_METRICS].fillna(0)
    return events


def campaign_performance(reader: TableReader) -> pd.DataFrame:
    """01: weekly impressions, clicks, spend and attributed conversions by ad product and campaign."""
    keys = ["week_start", "ad_product", "campaign_id", "campaign"]
    events = campaign_events(reader)
    result = events.groupby(keys, dropna=False)[CAMPAIGN_METRICS].sum()
    result[USERS] = distinct_users(events, keys)
    return result.fillna({USERS: 0}).reset_index()


def attributed_purchases(reader: TableReader) -> pd.DataFrame:
    """Attributed events by conversion time that hold a purchase, with ``ad_product`` (NULL = DSP), the
    local conversion ``week_start`` and the sales columns as floats."""
    conv = reader.read(
        "amazon_attributed_events_by_conversion_time",
        ["conversion_event_date", "ad_product_type", "tracked_asin", "user_id", "total_purchases", "total_units_sold",
         "total_product_sales", "new_to_brand_total_purchases", "new_to_brand_total_product_sales",
         "brand_halo_purchases"],
    )
    return conv[conv["total_purchases"] > 0].assign(
        week_start=lambda f: week_start(f["conversion_event_date"]),
        ad_product=lambda f: ad_product(f["ad_product_type"]),
        total_product_sales=lambda f: f["total_product_sales"].astype(float),
        new_to_brand_total_product_sales=lambda f: f["new_to_brand_total_product_sales"].astype(float),
    )


def new_to_brand_totals(purchases: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Purchases, sales and purchasers of ``attributed_purchases`` rows by ``keys``, in all and new to brand."""
    grouped = purchases.groupby(keys, dropna=False)
    return pd.DataFrame({
        "purchases": grouped["total_purchases"].sum(),
        "ntb_purchases": grouped["new_to_brand_total_purchases"].sum(),
        "product_sales": grouped["total_product_sales"].sum(),
        "ntb_product_sales": grouped["new_to_brand_total_product_sales"].sum(),
        "purchasers": grouped["user_id"].nunique(),
        "ntb_purchasers": purchases[purchases["new_to_brand_total_purchases"] > 0]
        .groupby(keys, dropna=False)["user_id"].nunique(),
    }).fillna({"ntb_purchasers": 0})


def new_to_brand_weekly(reader: TableReader) -> pd.DataFrame:
    """02: NTB purchases and shares by conversion week and ad product."""
    result = new_to_brand_totals(attributed_purchases(reader), ["week_start", "ad_product"])
    result["ntb_purchase_share"] = result["ntb_purchases"] / result["purchases"]
    result["ntb_sales_share"] = result["ntb_product_sales"] / result["product_sales"].replace(0, np.nan)
    result[USERS] = result["purchasers"]
    return result.reset_index()


def dsp_frequency_distribution(reader: TableReader) -> pd.DataFrame:
    """04: users and purchasers by DSP impression-frequency bucket."""
    imps = reader.read("dsp_impressions", ["user_id", "impressions"]).dropna(subset=["user_id"])
    per_user = imps.groupby("user_id")["impressions"].sum()
    conv = reader.read("amazon_attributed_events_by_traffic_time", ["user_id", "ad_product_type", "total_purchases"])
    conv = conv[conv["ad_product_type"].isna() & (conv["total_purchases"] > 0)].dropna(subset=["user_id"])
    purchases = conv.groupby("user_id")["total_purchases"].sum().reindex(per_user.index, fill_value=0)
    bucket_min = per_user.where(per_user < 6, np.select([per_user >= 21, per_user >= 11], [21, 11], 6))
    users = pd.DataFrame({"bucket_min_impressions": bucket_min, "impressions": per_user, "purchases": purchases})
    grouped = users.groupby("bucket_min_impressions")
    result = pd.DataFrame({
        "users": grouped.size(),
        "impressions": grouped["impressions"].sum(),
        "purchasers": grouped["purchases"].apply(lambda p: int((p > 0).sum())),
        "purchases": grouped["purchases"].sum(),
    })
    result["purchase_rate"] = result["purchasers"] / result["users"]
    result[USERS] = result["users"]
    labels = {21: "21+", 11: "11-20", 6: "6-10"}
    result["frequency_bucket"] = [labels.get(int(b), str(int(b))) for b in result.index]
    return result.reset_index()


def attributed_purchase_delays(reader: TableReader) -> pd.DataFrame:
    """Attributed purchases (conversion time) with whole hours between the hour-truncated timestamps."""
    conv = reader.read(
        "amazon_attributed_events_by_conversion_time",
        ["ad_product_type", "traffic_event_dt_hour_utc", "conversion_event_dt_hour_utc", "total_purchases",
         "total_product_sales", "user_id"],
    )
    conv = conv[conv["total_purchases"] > 0]
    delay = conv["conversion_event_dt_hour_utc"] - conv["traffic_event_dt_hour_utc"]
    return conv.assign(
        ad_product=ad_product(conv["ad_product_type"]),
        hours=delay.dt.total_seconds() / 3600,
        total_product_sales=conv["total_product_sales"].astype(float),
    )


def time_to_conversion_percentiles(reader: TableReader) -> pd.DataFrame:
    """09: exact statistics of hours to conversion by ad product (the approximate percentiles aside)."""
    conv = attributed_purchase_delays(reader)
    grouped = conv.groupby("ad_product")
    result = pd.DataFrame({
        "attributed_purchase_events": grouped.size(),
        "purchasers": grouped["user_id"].nunique(),
        "mean_hours": grouped["hours"].mean(),
        "median_hours": grouped["hours"].median(),
        "p25_hours": grouped["hours"].quantile(0.25),
        "p75_hours": grouped["hours"].quantile(0.75),
        "p90_hours": grouped["hours"].quantile(0.9),
        "stddev_hours": grouped["hours"].std(ddof=0),
    })
    result[USERS] = result["purchasers"]
    return result.reset_index()


def impressions_before_purchase(reader: TableReader) -> pd.DataFrame:
    """10: DSP impressions in the 14 days before each purchase of the window, by campaign."""
    purchases = reader.read("conversions", ["conversion_id", "user_id", "event_dt_utc", "event_category"])
    purchases = purchases[purchases["event_category"] == "purchase"].dropna(subset=["user_id"])
    imps = reader.read(
        "dsp_impressions", ["user_id", "campaign_id_string", "campaign", "impression_dt_utc", "impressions"],
        extend_back=timedelta(days=14),
    ).dropna(subset=["user_id"])
    pairs = purchases.merge(imps, on="user_id")
    whole_seconds = (pairs["event_dt_utc"].dt.floor("s") - pairs["impression_dt_utc"].dt.floor("s")).dt.total_seconds()
    pairs = pairs[(pairs["impression_dt_utc"] < pairs["event_dt_utc"]) & (whole_seconds <= 14 * 86400)]
    keys = ["campaign_id_string", "campaign"]
    grouped = pairs.groupby(keys)
    result = pd.DataFrame({
        "purchasers_reached": grouped["user_id"].nunique(),
        "purchases_after_impression": grouped["conversion_id"].nunique(),
        "impressions_in_lookback": grouped["impressions"].sum(),
    })
    result["impressions_per_purchase"] = result["impressions_in_lookback"] / result["purchases_after_impression"]
    result[USERS] = result["purchasers_reached"]
    return result.reset_index().rename(columns={"campaign_id_string": "campaign_id"})


def selected_campaigns_daily(reader: TableReader, campaign_ids: Sequence[str]) -> pd.DataFrame:
    """12: daily impressions, clicks and spend of the given campaigns."""
    sa = reader.read("sponsored_ads_traffic", ["event_date", "ad_product_type", "campaign_id_string", "campaign",
                                               "user_id", "impressions", "clicks", "spend"])
    sa = sa.assign( ad_product=sa["ad_product_type"],
                   spend=sa["spend"] / SA_SPEND_DIVISOR)
    imps = reader.read("dsp_impressions", ["impression_date", "campaign_id_string", "campaign", "user_id",
                                           "impressions", "total_cost"])
    imps = imps.assign(event_date=imps["impression_date"], ad_product="dsp", clicks=0,
                       spend=imps["total_cost"] / DSP_COST_DIVISOR)
    clicks = reader.read("dsp_clicks", ["click_date", "campaign_id_string", "campaign", "user_id", "clicks"])
    clicks = clicks.assign(event_date=clicks["click_date"], ad_product="dsp", impressions=0, spend=0.0)
    columns = ["event_date", "ad_product", "campaign_id_string", "campaign", "user_id", "impressions", "clicks", "spend"]
    events = pd.concat([sa[columns], imps[columns], clicks[columns]], ignore_index=True)
    events = events[events["campaign_id_string"].isin(list(campaign_ids))]
    keys = ["event_date", "ad_product", "campaign_id_string", "campaign"]
    result = events.groupby(keys)[["impressions", "clicks", "spend"]].sum()
    result[USERS] = distinct_users(events, keys)
    return result.fillna({USERS: 0}).reset_index().rename(columns={"campaign_id_string": "campaign_id"})


def traffic_by_day_of_week_and_hour(reader: TableReader) -> pd.DataFrame:
    """15: impressions, clicks and spend by channel, day of week (1 = Sunday) and local hour."""
    sa = reader.read("sponsored_ads_traffic", ["event_date", "event_hour", "user_id", "impressions", "clicks", "spend"])
    sa = sa.assign(channel="sponsored_ads", local_date=sa["event_date"], local_hour=sa["event_hour"],
                   spend=sa["spend"] / SA_SPEND_DIVISOR)
    imps = reader.read("dsp_impressions", ["impression_date", "impression_hour", "user_id", "impressions", "total_cost"])
    imps = imps.assign(channel="dsp", local_date=imps["impression_date"], local_hour=imps["impression_hour"],
                       clicks=0, spend=imps["total_cost"] / DSP_COST_DIVISOR)
    clicks = reader.read("dsp_clicks", ["click_date", "click_hour", "user_id", "clicks"])
    clicks = clicks.assign(channel="dsp", local_date=clicks["click_date"], local_hour=clicks["click_hour"],
                           impressions=0, spend=0.0)
    columns = ["channel", "local_date", "local_hour", "user_id", "impressions", "clicks", "spend"]
    events = pd.concat([sa[columns], imps[columns], clicks[columns]], ignore_index=True)
    # pandas counts Monday = 0; AMC's EXTRACT(DOW) counts Sunday = 1 ... Saturday = 7
    events["day_of_week"] = (pd.to_datetime(events["local_date"]).dt.dayofweek + 1) % 7 + 1
    events["hour_of_day"] = events["local_hour"]
    keys = ["channel", "day_of_week", "hour_of_day"]
    result = events.groupby(keys)[["impressions", "clicks", "spend"]].sum()
    result[USERS] = distinct_users(events, keys)
    return result.fillna({USERS: 0}).reset_index()
