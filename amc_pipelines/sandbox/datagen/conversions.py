"""Conversion events: ad-attributed ones caused by real traffic, organic ones, and new-to-brand flags.

Attributed conversions are drawn per traffic event (impression or click) and happen within 14 days
after it, for the same user; organic purchases and page views happen for users regardless of ads
(with a year of history before the window so that new-to-brand has the 12-month look-back).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from .anomalies import AnomalyEffects
from .entities import World, to_local
from .sampling import NS_PER_DAY, GroupedSampler, bernoulli
from .traffic import DSP_CLICK, DSP_IMPRESSION, SA_CLICK, SA_IMPRESSION, Traffic

PURCHASE, DETAIL_PAGE_VIEW, ADD_TO_CART = 0, 1, 2
EVENT_TYPES = pd.DataFrame({
    "event_code": [PURCHASE, DETAIL_PAGE_VIEW, ADD_TO_CART],
    "event_subtype": ["order", "detailPageView", "shoppingCart"],
    "event_category": ["purchase", "website", "website"],
    "event_type_class": ["conversion", "consideration", "consideration"],
    "event_type_description": ["Product purchased", "Product detail page viewed", "Add to Shopping Cart"],
})

# Probability that a touch leads to each conversion type (views: DSP, SD and STV impressions only).
TOUCH_RATES = {
    DSP_IMPRESSION: (0.003, 0.02, 0.006),
    DSP_CLICK: (0.08, 0.6, 0.1),
    SA_IMPRESSION: (0.0015, 0.01, 0.003),
    SA_CLICK: (0.10, 0.85, 0.12),  # a sponsored-products click lands on the detail page
}
ATTRIBUTION_DAYS = 14
EXPOSURE_DAYS = 28   # conversions counts a conversion as ad-exposed within 28 days of traffic
NTB_LOOKBACK_DAYS = 365


@dataclass
class Conversions:
    attributed: pd.DataFrame  # one row per attributed conversion, with its touch
    events: pd.DataFrame      # every conversion event in the window, with exposure and relevance


def generate_conversions(rng: np.random.Generator, world: World, effects: AnomalyEffects, traffic: Traffic,
                         *, start: date, end: date) -> Conversions:
    tz = world.market["timezone"]
    window_end = np.datetime64(end + timedelta(days=1))
    attributed = _attributed(rng, world, effects, traffic.touches, tz, window_end)
    organic = _organic(rng, world, start, window_end)

    # New-to-brand: a purchase is NTB when the same user bought nothing from the brand in the 365 days before.
    purchases = pd.concat([
        pd.DataFrame({"source": 0, "row": np.flatnonzero(attributed["event_code"].to_numpy() == PURCHASE)}),
        pd.DataFrame({"source": 1, "row": np.flatnonzero(organic["event_code"].to_numpy() == PURCHASE)}),
    ], ignore_index=True)
    purchases["user_idx"] = np.concatenate([
        attributed["user_idx"].to_numpy()[purchases["row"][purchases["source"] == 0]],
        organic["user_idx"].to_numpy()[purchases["row"][purchases["source"] == 1]]])
    purchases["t"] = np.concatenate([
        attributed["conversion_dt_utc"].to_numpy()[purchases["row"][purchases["source"] == 0]],
        organic["event_dt_utc"].to_numpy()[purchases["row"][purchases["source"] == 1]]])
    purchases = purchases.sort_values(["user_idx", "t"], kind="stable")
    previous = purchases.groupby("user_idx")["t"].shift(1)
    ntb = (previous.isna() | ((purchases["t"] - previous) > pd.Timedelta(days=NTB_LOOKBACK_DAYS))).to_numpy()
    for source, frame in ((0, attributed), (1, organic)):
        mask = purchases["source"].to_numpy() == source
        flags = np.zeros(len(frame), dtype=bool)
        flags[purchases["row"].to_numpy()[mask]] = ntb[mask]
        frame["new_to_brand"] = flags

    organic = organic[organic["event_dt_utc"] >= np.datetime64(start)]
    events = pd.concat([
        attributed.rename(columns={"conversion_dt_utc": "event_dt_utc"}).assign(attributed=True),
        organic.assign(attributed=False, campaign_key=-1),
    ], ignore_index=True)[["user_idx", "event_code", "asin_idx", "units", "unit_price", "sales", "new_to_brand",
                           "event_dt_utc", "attributed", "campaign_key"]]
    events = events.sort_values("event_dt_utc", kind="stable").reset_index(drop=True)
    events["conversion_no"] = np.arange(len(events))
    events = _exposure(events, traffic.touches)
    events["promoted"] = _is_promoted(world, events["campaign_key"].to_numpy(), events["asin_idx"].to_numpy())
    return Conversions(attributed.reset_index(drop=True), events)


def _attributed(rng, world: World, effects: AnomalyEffects, touches: pd.DataFrame, tz: str,
                window_end: np.datetime64) -> pd.DataFrame:
    kind = touches["kind"].to_numpy()
    campaign = touches["campaign_key"].to_numpy()
    product = world.campaigns["ad_product_type"].to_numpy()[campaign]
    view_attributable = (kind != SA_IMPRESSION) | np.isin(product, ["sponsored_display", "sponsored_television"])
    boost = effects.ntb_boost(campaign, touches["local_day"].to_numpy())
    picked = []
    for code in (PURCHASE, DETAIL_PAGE_VIEW, ADD_TO_CART):
        rate = np.array([TOUCH_RATES[k][code] for k in range(4)])[kind] * view_attributable * boost
        rows = np.flatnonzero(bernoulli(rng, np.minimum(rate, 0.9)))
        picked.append(pd.DataFrame({"touch": rows, "event_code": code}))
    chosen = pd.concat(picked, ignore_index=True)
    frame = touches.iloc[chosen["touch"].to_numpy()].reset_index(drop=True)
    frame["event_code"] = chosen["event_code"].to_numpy()

    is_click = np.isin(frame["kind"].to_numpy(), [DSP_CLICK, SA_CLICK])
    mean_days = np.where(is_click, 1.2, 3.0)
    delay_days = np.mod(rng.exponential(mean_days), ATTRIBUTION_DAYS - 1e-6)
    frame["conversion_dt_utc"] = frame["traffic_dt_utc"] + (delay_days * NS_PER_DAY).astype("timedelta64[ns]")
    frame = frame[frame["conversion_dt_utc"] < window_end].reset_index(drop=True)
    conversion_day = to_local(frame["conversion_dt_utc"], tz).astype("datetime64[D]")
    keep = rng.random(len(frame)) < effects.conversion_keep(frame["campaign_key"].to_numpy(), conversion_day)
    frame = frame[keep].reset_index(drop=True)

    # Purchases and page views are mostly of promoted ASINs, the rest brand halo.
    n = len(frame)
    promoted_share = np.where(frame["event_code"] == PURCHASE, 0.7, 0.8)
    promoted = rng.random(n) < promoted_share
    frame["asin_idx"] = _draw_asin(rng, world, frame["campaign_key"].to_numpy(), promoted)
    frame["promoted"] = promoted
    return _add_basket(rng, world, frame)


def _draw_asin(rng, world: World, campaign: np.ndarray, promoted: np.ndarray) -> np.ndarray:
    n_asins = len(world.asins)
    keys = sorted(world.promoted)
    promoted_groups, halo_groups = [], []
    for key in keys:
        weights = np.zeros(n_asins)
        weights[world.promoted[key]] = 1.0
        promoted_groups.append(weights)
        halo = 1.0 - weights
        halo_groups.append(halo if halo.sum() else np.ones(n_asins))
    asin = GroupedSampler(promoted_groups).draw(rng, campaign)
    halo_asin = GroupedSampler(halo_groups).draw(rng, campaign)
    return np.where(promoted, asin, halo_asin)


def _add_basket(rng, world: World, frame: pd.DataFrame) -> pd.DataFrame:
    purchase = frame["event_code"].to_numpy() == PURCHASE
    units = np.where(purchase, 1 + rng.poisson(0.25, size=len(frame)), 0)
    price = world.asins["unit_price"].to_numpy()[frame["asin_idx"].to_numpy()]
    frame["units"] = units
    frame["unit_price"] = np.where(purchase, price, np.nan)
    frame["sales"] = np.round(units * price, 2)
    return frame


def _organic(rng, world: World, start: date, window_end: np.datetime64) -> pd.DataFrame:
    history_start = np.datetime64(start - timedelta(days=NTB_LOOKBACK_DAYS))
    span_ns = (window_end - history_start).astype("timedelta64[ns]").astype(np.int64)
    years = span_ns / NS_PER_DAY / 365.0
    buyer_rate = world.users["buyer_rate"].to_numpy()
    per_user = {PURCHASE: buyer_rate, DETAIL_PAGE_VIEW: buyer_rate * 3 + 0.4, ADD_TO_CART: buyer_rate * 0.8 + 0.05}
    popularity = rng.dirichlet(np.full(len(world.asins), 0.8))
    parts = []
    for code, rate in per_user.items():
        counts = rng.poisson(rate * years)
        n = int(counts.sum())
        offsets = (rng.random(n) * span_ns).astype("timedelta64[ns]")
        parts.append(pd.DataFrame({
            "user_idx": np.repeat(np.arange(len(buyer_rate)), counts),
            "event_code": code,
            "event_dt_utc": history_start.astype("datetime64[ns]") + offsets,
            "asin_idx": rng.choice(len(popularity), size=n, p=popularity),
        }))
    return _add_basket(rng, world, pd.concat(parts, ignore_index=True))


def _exposure(events: pd.DataFrame, touches: pd.DataFrame) -> pd.DataFrame:
    """Mark events of users with traffic in the 28 days before; relevance = the latest such campaign."""
    latest = touches[["user_idx", "traffic_dt_utc", "campaign_key"]].sort_values("traffic_dt_utc", kind="stable")
    merged = pd.merge_asof(events[["conversion_no", "user_idx", "event_dt_utc"]], latest, left_on="event_dt_utc",
                           right_on="traffic_dt_utc", by="user_idx", direction="backward",
                           tolerance=pd.Timedelta(days=EXPOSURE_DAYS))
    merged = merged.set_index("conversion_no").reindex(events["conversion_no"])
    exposed_campaign = merged["campaign_key"].fillna(-1).astype(np.int64).to_numpy()
    events["exposed"] = events["attributed"].to_numpy() | (exposed_campaign >= 0)
    events["campaign_key"] = np.where(events["attributed"], events["campaign_key"], exposed_campaign)
    return events


def _is_promoted(world: World, campaign: np.ndarray, asin: np.ndarray) -> np.ndarray:
    table = np.zeros((len(world.campaigns), len(world.asins)), dtype=bool)
    for key, promoted in world.promoted.items():
        table[key, promoted] = True
    return np.where(campaign >= 0, table[np.maximum(campaign, 0), asin], False)
