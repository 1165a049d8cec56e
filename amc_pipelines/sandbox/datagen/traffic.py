"""Traffic events: DSP impressions, clicks and views, and sponsored-ads impressions and clicks.

Delivery is planned per delivery unit (line item / ad group) and local day (weekday seasonality,
trend, holiday peaks, flights, anomalies), then every event is drawn at once with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from .anomalies import AnomalyEffects
from .entities import World, to_utc
from .sampling import NS_PER_SECOND, WEEKDAY, GroupedSampler, bernoulli, local_times

# Touch kinds (the traffic an attributed conversion points at).
DSP_IMPRESSION, DSP_CLICK, SA_IMPRESSION, SA_CLICK = 0, 1, 2, 3

CTR = {"dsp": 0.003, "sponsored_products": 0.005, "sponsored_brands": 0.004,
       "sponsored_display": 0.003, "sponsored_television": 0.0015}
PLACEMENTS = ("Top of Search on-Amazon", "Detail Page on-Amazon", "Other on-Amazon")


@dataclass
class Traffic:
    dsp_impressions: pd.DataFrame
    dsp_clicks: pd.DataFrame
    dsp_views: pd.DataFrame
    sponsored_ads: pd.DataFrame
    touches: pd.DataFrame  # every impression and click, for attribution and exposure


def generate_traffic(rng: np.random.Generator, world: World, effects: AnomalyEffects, *,
                     start: date, end: date, base_daily: float) -> Traffic:
    campaigns = world.campaigns
    units = world.units.merge(campaigns[["campaign_key", "volume", "campaign_start_local", "campaign_end_local"]],
                              on="campaign_key")
    units["share"] = units["unit_weight"] / units.groupby("campaign_key")["unit_weight"].transform("sum")

    # Plan: expected events per unit and local day (one day of margin each side for time zones).
    days = np.arange(np.datetime64(start - timedelta(days=1)), np.datetime64(end + timedelta(days=2)))
    unit_idx = np.repeat(np.arange(len(units)), len(days))
    day = np.tile(days, len(units))
    campaign_key = units["campaign_key"].to_numpy()[unit_idx]
    progress = (day - days[0]).astype(float) / len(days)
    weekday = (day.astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was a Thursday
    month_day = pd.DatetimeIndex(day)
    holiday = np.where(((month_day.month == 11) & (month_day.day >= 20)) | ((month_day.month == 12) & (month_day.day <= 22)),
                       1.35, 1.0)
    holiday = np.where((month_day.month == 7) & (month_day.day >= 8) & (month_day.day <= 11), 1.8, holiday)
    flight_start = units["campaign_start_local"].to_numpy().astype("datetime64[D]")[unit_idx]
    flight_end = units["campaign_end_local"].fillna(pd.Timestamp("2262-01-01")).to_numpy().astype("datetime64[D]")[unit_idx]
    active = (day >= flight_start) & (day <= flight_end)
    expected = (base_daily * units["volume"].to_numpy()[unit_idx] * units["share"].to_numpy()[unit_idx]
                * WEEKDAY[weekday] * (0.8 + 0.45 * progress) * holiday * active
                * rng.lognormal(0.0, 0.12, size=len(day)) * effects.volume(campaign_key, day))
    counts = rng.poisson(expected)

    event_unit = np.repeat(unit_idx, counts)
    event_day = np.repeat(day, counts)
    event_campaign = units["campaign_key"].to_numpy()[event_unit]

    users = _user_sampler(rng, world)
    group = event_campaign.copy()
    surge = effects.ntb_audience(event_campaign, event_day)
    group[surge] = len(campaigns)  # the never-buyer audience of the NTB surge
    event_user = users.draw(rng, group)

    local = local_times(rng, event_day)
    utc = to_utc(pd.DatetimeIndex(local), world.market["timezone"]).to_numpy()
    keep = (utc >= np.datetime64(start)) & (utc < np.datetime64(end + timedelta(days=1)))
    order = np.argsort(utc[keep], kind="stable")
    ev = pd.DataFrame({"user_idx": event_user[keep][order], "unit_key": event_unit[keep][order],
                       "campaign_key": event_campaign[keep][order], "local_day": event_day[keep][order],
                       "utc": utc[keep][order]})
    is_dsp = (campaigns["channel"].to_numpy() == "dsp")[ev["campaign_key"].to_numpy()]
    creative_sampler = GroupedSampler(
        [np.ones(n) for n in world.creatives.groupby("unit_key").size().reindex(units["unit_key"]).to_numpy()])
    creative_offset = world.creatives.groupby("unit_key")["creative_key"].min().reindex(units["unit_key"]).to_numpy()
    ev["creative_key"] = creative_offset[ev["unit_key"]] + creative_sampler.draw(rng, ev["unit_key"].to_numpy())

    window_end = np.datetime64(end + timedelta(days=1))
    dsp = _dsp(rng, world, effects, ev[is_dsp].reset_index(drop=True), window_end)
    sa = _sponsored_ads(rng, world, effects, ev[~is_dsp].reset_index(drop=True), window_end)
    return Traffic(*dsp, sa, _touches(dsp[0], dsp[1], sa))


def _user_sampler(rng: np.random.Generator, world: World) -> GroupedSampler:
    propensity = world.users["propensity"].to_numpy()
    groups = []
    for share in world.campaigns["audience_share"]:
        groups.append(propensity * (rng.random(len(propensity)) < share))
    never_buyers = world.users["buyer_rate"].to_numpy() == 0
    groups.append(propensity * never_buyers)
    return GroupedSampler(groups)


def _dsp(rng, world: World, effects: AnomalyEffects, ev: pd.DataFrame, window_end: np.datetime64):
    n = len(ev)
    scale = world.market["price_scale"]
    cpm = rng.uniform(3.0, 9.0, size=len(world.campaigns)) * scale  # per campaign, local currency
    supply = world.supply["supply_weight"].to_numpy()
    ev["supply_key"] = rng.choice(len(supply), size=n, p=supply / supply.sum())
    ev["impression_dt_utc"] = ev.pop("utc")
    # total_cost and impression_cost are millicents (1e5 per currency unit); fees in microcents.
    cost = cpm[ev["campaign_key"]] / 1000 * 1e5 * rng.lognormal(0.0, 0.25, size=n)
    ev["total_cost"] = np.round(cost, 2)
    ev["impression_cost"] = np.round(cost * 0.86).astype(np.int64)
    ev["supply_cost"] = np.round(cost * 0.74).astype(np.int64)
    ev["platform_fee"] = np.round(cost * 0.08).astype(np.int64)
    ev["audience_fee"] = np.round(cost * 0.06 * 1000).astype(np.int64)
    ev["bid_price"] = np.round(cost * 1.15 * 1000).astype(np.int64)
    ev["impressions"] = 1
    ev["event_no"] = np.arange(n)

    ctr = CTR["dsp"] * effects.ctr(ev["campaign_key"].to_numpy(), ev["local_day"].to_numpy())
    clicked = bernoulli(rng, ctr)
    clicks = ev[clicked].copy()
    delay = (rng.exponential(20.0, size=len(clicks)) + 1.0) * NS_PER_SECOND
    clicks["click_dt_utc"] = clicks["impression_dt_utc"] + delay.astype("timedelta64[ns]")
    clicks["clicks"] = 1
    clicks["click_cost"] = 0  # CPM-billed line items: the cost sits on the impression
    clicks = clicks[clicks["click_dt_utc"] < window_end]  # a click after "today" has not happened yet

    measurable = bernoulli(rng, np.full(n, 0.8))
    views = ev[measurable].copy()
    views["event_dt_utc"] = views["impression_dt_utc"] + np.timedelta64(2, "s")
    views = views[views["event_dt_utc"] < window_end]
    views["viewable_impressions"] = bernoulli(rng, np.full(len(views), 0.68)).astype(np.int64)
    views["measurable_impressions"] = 1
    views["unmeasurable_viewable_impressions"] = 0
    views["events"] = 1
    return ev, clicks.reset_index(drop=True), views.reset_index(drop=True)


def _sponsored_ads(rng, world: World, effects: AnomalyEffects, ev: pd.DataFrame,
                   window_end: np.datetime64) -> pd.DataFrame:
    n = len(ev)
    scale = world.market["price_scale"]
    campaigns = world.campaigns
    product = campaigns["ad_product_type"].to_numpy()[ev["campaign_key"]]
    placements = world.placements
    placement_sampler = GroupedSampler([g["placement_weight"].to_numpy() for _, g in placements.groupby("unit_key")])
    placement_offset = placements.groupby("unit_key")["placement_key"].min()
    unit = ev["unit_key"].to_numpy()
    # Placement groups exist only for sponsored-ads units; map unit_key -> its group rank.
    rank = np.full(world.units["unit_key"].max() + 1, -1)
    rank[placement_offset.index.to_numpy()] = np.arange(len(placement_offset))
    ev["placement_key"] = placement_offset.to_numpy()[rank[unit]] + placement_sampler.draw(rng, rank[unit])
    ev["placement_type"] = np.where(product == "sponsored_television", "Streaming TV",
                                    np.asarray(PLACEMENTS)[rng.choice(3, size=n, p=[0.45, 0.35, 0.2])])
    ev["event_dt_utc"] = ev.pop("utc")
    ev["impressions"] = 1
    ev["clicks"] = 0
    cpc = rng.uniform(0.6, 1.6, size=len(campaigns)) * scale
    cpm = np.where(campaigns["ad_product_type"] == "sponsored_television", rng.uniform(18, 30, len(campaigns)),
                   rng.uniform(4, 9, len(campaigns))) * scale
    cpm_billed = np.isin(product, ["sponsored_display", "sponsored_television"])
    # spend is microcents (1e8 per currency unit).
    ev["spend"] = np.where(cpm_billed, cpm[ev["campaign_key"]] / 1000 * 1e8 * rng.lognormal(0, 0.2, n), 0).astype(np.int64)
    ev["viewable_impressions"] = (bernoulli(rng, np.full(n, 0.7)) & (product != "sponsored_products")).astype(np.int64)
    video = product == "sponsored_television"
    watched = rng.random(n)
    for column, p in (("five_sec_views", 0.8), ("video_first_quartile_views", 0.75), ("video_midpoint_views", 0.6),
                      ("video_third_quartile_views", 0.5), ("video_complete_views", 0.42)):
        ev[column] = (video & (watched < p)).astype(np.int64)
    ev["video_unmutes"] = (video & bernoulli(rng, np.full(n, 0.05))).astype(np.int64)

    base_ctr = np.array([CTR[p] for p in product]) if n else np.zeros(0)
    clicked = bernoulli(rng, base_ctr * effects.ctr(ev["campaign_key"].to_numpy(), ev["local_day"].to_numpy()))
    clicks = ev[clicked].copy()
    delay = (rng.exponential(15.0, size=len(clicks)) + 1.0) * NS_PER_SECOND
    clicks["event_dt_utc"] = clicks["event_dt_utc"] + delay.astype("timedelta64[ns]")
    clicks["impressions"] = 0
    clicks["clicks"] = 1
    click_product = product[clicked]
    clicks["spend"] = np.where(np.isin(click_product, ["sponsored_display", "sponsored_television"]), 0,
                               cpc[clicks["campaign_key"]] * 1e8 * rng.lognormal(0, 0.3, len(clicks))).astype(np.int64)
    for column in ("viewable_impressions", "five_sec_views", "video_first_quartile_views", "video_midpoint_views",
                   "video_third_quartile_views", "video_complete_views", "video_unmutes"):
        clicks[column] = 0
    rows = pd.concat([ev, clicks[clicks["event_dt_utc"] < window_end]], ignore_index=True)
    rows = rows.iloc[np.argsort(rows["event_dt_utc"].to_numpy(), kind="stable")].reset_index(drop=True)
    rows["event_no"] = np.arange(len(rows))
    return rows


def _touches(impressions: pd.DataFrame, clicks: pd.DataFrame, sa: pd.DataFrame) -> pd.DataFrame:
    columns = ["kind", "event_no", "user_idx", "unit_key", "campaign_key", "creative_key", "detail_key",
               "local_day", "traffic_dt_utc"]
    parts = [
        impressions.assign(kind=DSP_IMPRESSION, detail_key=impressions["supply_key"],
                           traffic_dt_utc=impressions["impression_dt_utc"]),
        clicks.assign(kind=DSP_CLICK, detail_key=clicks["supply_key"], traffic_dt_utc=clicks["click_dt_utc"]),
        sa.assign(kind=np.where(sa["clicks"] == 1, SA_CLICK, SA_IMPRESSION), detail_key=sa["placement_key"],
                  traffic_dt_utc=sa["event_dt_utc"]),
    ]
    return pd.concat([p[columns] for p in parts], ignore_index=True)
