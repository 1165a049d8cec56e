"""The fixed world of one instance: advertiser, ASINs, users, campaigns, delivery units, creatives.

Everything here is small (thousands of rows at most, users aside) and becomes lookup frames that the
event tables join to in DuckDB, so every table shows the same names and ids for the same things.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

# Instance templates, cycled in this order: small uses the first two, demo three, large five.
MARKETS: tuple[dict, ...] = (
    dict(advertiser="Northwind Outdoor Co.", brand="Northwind", marketplace_id="ATVPDKIKX0DER",
         marketplace_name="AMAZON.COM", region="NA", timezone="America/New_York", country="US",
         currency="USD", currency_name="US Dollar", price_scale=1.0),
    dict(advertiser="Kessler Kuechentechnik GmbH", brand="Kessler", marketplace_id="A1PA6795UKMFR9",
         marketplace_name="AMAZON.DE", region="EU", timezone="Europe/Berlin", country="DE",
         currency="EUR", currency_name="Euro", price_scale=0.92),
    dict(advertiser="Pacific Trail Supply", brand="PacificTrail", marketplace_id="ATVPDKIKX0DER",
         marketplace_name="AMAZON.COM", region="NA", timezone="America/Los_Angeles", country="US",
         currency="USD", currency_name="US Dollar", price_scale=1.0),
    dict(advertiser="Sakura Home Goods KK", brand="SakuraHome", marketplace_id="A1VC38T7YXB528",
         marketplace_name="AMAZON.CO.JP", region="FE", timezone="Asia/Tokyo", country="JP",
         currency="JPY", currency_name="Japanese Yen", price_scale=150.0),
    dict(advertiser="Thames and Finch Ltd", brand="ThamesFinch", marketplace_id="A1F83G8C2ARO7P",
         marketplace_name="AMAZON.CO.UK", region="EU", timezone="Europe/London", country="GB",
         currency="GBP", currency_name="British Pound", price_scale=0.79),
)

# (state/province, city, postal code prefix, DMA code or None) per country.
GEOGRAPHY: dict[str, tuple[tuple[str, str, str, str | None], ...]] = {
    "US": (("NY", "New York", "100", "501"), ("CA", "Los Angeles", "900", "803"),
           ("IL", "Chicago", "606", "602"), ("TX", "Houston", "770", "618"),
           ("WA", "Seattle", "981", "819"), ("FL", "Miami", "331", "528"),
           ("GA", "Atlanta", "303", "524"), ("MA", "Boston", "021", "506"),
           ("CO", "Denver", "802", "751"), ("MT", "Billings", "591", "756")),
    "DE": (("BE", "Berlin", "101", None), ("BY", "Muenchen", "803", None), ("HH", "Hamburg", "200", None),
           ("NW", "Koeln", "506", None), ("HE", "Frankfurt am Main", "603", None),
           ("BW", "Stuttgart", "701", None), ("MV", "Rostock", "180", None)),
    "JP": (("13", "Tokyo", "100", None), ("27", "Osaka", "530", None), ("23", "Nagoya", "450", None),
           ("01", "Sapporo", "060", None), ("40", "Fukuoka", "810", None)),
    "GB": (("ENG", "London", "EC1", None), ("ENG", "Manchester", "M1 ", None),
           ("SCT", "Edinburgh", "EH1", None), ("WLS", "Cardiff", "CF1", None)),
}

DEVICES = (  # device_type, operating_system, os_version, browser_family, make, model, weight
    ("Phone", "iOS", "17.5", "Safari", "Apple", "iPhone", 0.30),
    ("Phone", "Android", "14", "Chrome", "Samsung", "Galaxy S23", 0.24),
    ("PC", "Windows", "11", "Chrome", "Unknown", "Unknown", 0.20),
    ("PC", "Mac OS X", "14.4", "Safari", "Apple", "Macintosh", 0.10),
    ("Tablet", "iOS", "17.4", "Safari", "Apple", "iPad", 0.06),
    ("TV", "Fire OS", "7", "Unknown", "Amazon", "Fire TV Stick", 0.07),
    ("Phone", "Fire OS", "8", "Silk", "Amazon", "Fire HD", 0.03),
)

AD_PRODUCTS = ("sponsored_products", "sponsored_brands", "sponsored_display", "sponsored_television")


@dataclass(frozen=True)
class World:
    """The lookup frames of one instance (index columns: *_key / *_idx are row positions)."""

    market: dict
    users: pd.DataFrame        # user_idx, user_id, ..., propensity, buyer_rate
    asins: pd.DataFrame        # asin_idx, asin, unit_price
    campaigns: pd.DataFrame    # campaign_key, channel, ad_product_type, campaign ids/names/flight, volume
    units: pd.DataFrame        # unit_key, campaign_key, line item / ad group columns
    creatives: pd.DataFrame    # creative_key, unit_key, creative columns
    placements: pd.DataFrame   # placement_key, unit_key, targeting, match_type, customer_search_term, weight
    supply: pd.DataFrame       # supply_key, DSP inventory columns, weight
    promoted: dict[int, np.ndarray]  # campaign_key -> promoted asin_idx


def stable_token(*parts: object, length: int, alphabet: str) -> str:
    """A deterministic pseudo-random token (ids must not depend on numpy stream order)."""
    digest = int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest(), "big")
    chars = []
    for _ in range(length):
        digest, rem = divmod(digest, len(alphabet))
        chars.append(alphabet[rem])
    return "".join(chars)


LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
UPPER_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def build_world(rng: np.random.Generator, market: dict, *, seed: int, index: int, n_users: int,
                n_asins: int, n_dsp: int, n_sa: int, start: date, end: date) -> World:
    users = _users(rng, market, n_users, seed, index)
    asins = _asins(rng, market, n_asins, seed, index)
    campaigns = _campaigns(rng, market, n_dsp, n_sa, seed, index, start, end)
    units, creatives, placements = _units(rng, market, campaigns)
    promoted = {
        int(key): rng.choice(n_asins, size=int(rng.integers(1, 4)), replace=False)
        for key in campaigns["campaign_key"]
    }
    return World(market, users, asins, campaigns, units, creatives, placements, _supply(), promoted)


def _users(rng: np.random.Generator, market: dict, n: int, seed: int, index: int) -> pd.DataFrame:
    raw = rng.integers(0, 2**62, size=n, dtype=np.int64)
    ids = [f"{seed:x}{index:x}{value:016x}" for value in raw]  # pseudonymous, unique per instance
    device_weights = np.array([d[-1] for d in DEVICES])
    device = rng.choice(len(DEVICES), size=n, p=device_weights / device_weights.sum())
    geo = GEOGRAPHY[market["country"]]
    geo_weights = np.linspace(2.0, 0.3, len(geo))  # a long tail of small regions
    place = rng.choice(len(geo), size=n, p=geo_weights / geo_weights.sum())
    postal = [f"{geo[p][2]}{rng_digits:02d}" for p, rng_digits in zip(place, rng.integers(0, 60, n), strict=True)]
    frame = pd.DataFrame({
        "user_idx": np.arange(n),
        "user_id": ids,
        "user_id_type": rng.choice(["adUserId", "adBrowserId", "sisDeviceId"], size=n, p=[0.8, 0.12, 0.08]),
        "device_id": [f"d{value:016x}" for value in raw[::-1]],
        "device_type": [DEVICES[d][0] for d in device],
        "operating_system": [DEVICES[d][1] for d in device],
        "os_version": [DEVICES[d][2] for d in device],
        "browser_family": [DEVICES[d][3] for d in device],
        "device_make": [DEVICES[d][4] for d in device],
        "device_model": [DEVICES[d][5] for d in device],
        "iso_state_province_code": [geo[p][0] for p in place],
        "city_name": [geo[p][1] for p in place],
        "postal_code": postal,
        "dma_code": [geo[p][3] for p in place],
        # Heavy-tailed exposure propensity: a few users see many impressions.
        "propensity": rng.lognormal(0.0, 1.25, size=n),
        # Organic purchases per year of the brand; ~45% of users never buy it on their own.
        "buyer_rate": np.where(rng.random(n) < 0.45, 0.0, rng.gamma(1.2, 1.0, size=n)),
    })
    return frame


def _asins(rng: np.random.Generator, market: dict, n: int, seed: int, index: int) -> pd.DataFrame:
    asins = [f"B0{stable_token(seed, index, 'asin', i, length=8, alphabet=UPPER_ALNUM)}" for i in range(n)]
    price = rng.lognormal(np.log(28.0), 0.55, size=n) * market["price_scale"]
    price = np.round(price) - 0.01 if market["price_scale"] < 10 else np.round(price, -1)
    return pd.DataFrame({"asin_idx": np.arange(n), "asin": asins, "unit_price": np.maximum(price, 1.99)})


def _campaigns(rng: np.random.Generator, market: dict, n_dsp: int, n_sa: int, seed: int, index: int,
               start: date, end: date) -> pd.DataFrame:
    brand = market["brand"]
    days = (end - start).days
    products = ["dsp"] * n_dsp + [AD_PRODUCTS[i % 4] if i < 4 else
                                  ("sponsored_products" if i % 3 else AD_PRODUCTS[i % 4]) for i in range(n_sa)]
    rows = []
    for key, product in enumerate(products):
        is_dsp = product == "dsp"
        # The first campaigns of each channel run all year (anomalies live on them); later ones have
        # flights that start and stop inside the window, and one per channel is deliberately tiny.
        ordinal = key if is_dsp else key - n_dsp
        if ordinal < 2:
            flight_start, flight_end = start - timedelta(days=60), None
        else:
            first = int(rng.integers(-30, days - 90))
            flight_start = start + timedelta(days=first)
            length = int(rng.integers(60, 240))
            flight_end = flight_start + timedelta(days=length)
            flight_end = None if flight_end >= end else flight_end
        volume = (3.0 if ordinal == 0 else 1.6 if ordinal == 1 else float(rng.uniform(0.5, 1.2)))
        if ordinal == 2:
            volume = 0.08  # a small campaign whose weekly segments fall under privacy thresholds
        goal = ["AWARENESS", "CONSIDERATION", "CONVERSIONS"][key % 3]
        year = (flight_start.year if flight_start >= start else start.year)
        short = {"dsp": "DSP", "sponsored_products": "SP", "sponsored_brands": "SB",
                 "sponsored_display": "SD", "sponsored_television": "STV"}[product]
        theme = ["Evergreen", "Retargeting", "Launch", "Holiday", "Prospecting", "Brand", "Competitor"][key % 7]
        campaign_id = (int(f"5{stable_token(seed, index, 'cid', key, length=12, alphabet='0123456789')}") if is_dsp
                       else int(f"3{stable_token(seed, index, 'cid', key, length=14, alphabet='0123456789')}"))
        rows.append({
            "campaign_key": key,
            "channel": "dsp" if is_dsp else "sa",
            "ad_product_type": None if is_dsp else product,
            "campaign_id": campaign_id,
            "campaign_id_string": str(campaign_id),
            "campaign": f"{brand}_{short}_{theme}_{goal.title()}_{year}_{market['country']}",
            "campaign_primary_goal": goal if is_dsp else None,
            "campaign_start_local": pd.Timestamp(flight_start),
            "campaign_end_local": (pd.Timestamp(flight_end) + pd.Timedelta(hours=23, minutes=59, seconds=59)
                                   if flight_end else pd.NaT),
            "campaign_status": ("ENDED" if flight_end else "RUNNING") if is_dsp else ("ARCHIVED" if flight_end else "ENABLED"),
            "campaign_budget_amount": int(rng.integers(5, 80)) * 1000 * 100_000,  # millicents
            "campaign_budget_type": None if is_dsp else ("DAILY_BUDGET" if key % 4 else "LIFETIME_BUDGET"),
            "campaign_insertion_order_id": f"IO-{campaign_id % 10**8:08d}" if is_dsp else None,
            "campaign_flight_id": campaign_id + 11 if is_dsp else None,
            "campaign_sales_type": "AUCTION" if is_dsp else None,
            "campaign_source": "DSP" if is_dsp else "SPONSORED_ADS",
            "volume": volume,
            "audience_share": float(rng.uniform(0.35, 0.8)),
            "portfolio_id": None if is_dsp else 7000 + key % 3,
            "portfolio_name": None if is_dsp else f"{brand} {['Core', 'Growth', 'Defense'][key % 3]}",
        })
    frame = pd.DataFrame(rows)
    tz = market["timezone"]
    for edge in ("start", "end"):
        local = frame[f"campaign_{edge}_local"]
        frame[f"campaign_{edge}_dt"] = local
        frame[f"campaign_{edge}_dt_utc"] = to_utc(local, tz)
    frame["advertiser_id"] = int(f"6{stable_token(seed, index, 'adv', length=12, alphabet='0123456789')}")
    return frame


def _units(rng: np.random.Generator, market: dict, campaigns: pd.DataFrame):
    units, creatives, placements = [], [], []
    brand = market["brand"]
    for row in campaigns.itertuples():
        is_dsp = row.channel == "dsp"
        for j in range(int(rng.integers(1, 4))):
            unit_key = len(units)
            if is_dsp:
                kind = ["STANDARD_DISPLAY", "ONLINE_VIDEO", "STREAMING_TV"][(row.campaign_key + j) % 3]
                name = f"{row.campaign}_LI{j + 1}_{kind.title().replace('_', '')}"
            else:
                kind = {"sponsored_products": "KEYWORD", "sponsored_brands": "KEYWORD",
                        "sponsored_display": "AUDIENCE", "sponsored_television": "CONTEXTUAL"}[row.ad_product_type]
                name = f"{row.campaign}_AG{j + 1}"
            units.append({
                "unit_key": unit_key, "campaign_key": row.campaign_key, "unit_weight": float(rng.uniform(0.5, 1.5)),
                "line_item_id": row.campaign_id * 10 + j + 1, "line_item": name,
                "line_item_type": kind if is_dsp else None, "line_item_status": row.campaign_status,
                "line_item_price_type": "CPM", "line_item_budget_amount": row.campaign_budget_amount // 3,
                "line_item_start_dt": row.campaign_start_dt, "line_item_start_dt_utc": row.campaign_start_dt_utc,
                "line_item_end_dt": row.campaign_end_dt, "line_item_end_dt_utc": row.campaign_end_dt_utc,
                "ad_group": None if is_dsp else name, "ad_group_type": None if is_dsp else kind,
                "ad_group_status": None if is_dsp else row.campaign_status,
                "ad_group_start_dt": row.campaign_start_dt, "ad_group_start_dt_utc": row.campaign_start_dt_utc,
                "ad_group_end_dt": row.campaign_end_dt, "ad_group_end_dt_utc": row.campaign_end_dt_utc,
            })
            for k in range(int(rng.integers(1, 3))):
                video = (is_dsp and kind != "STANDARD_DISPLAY") or row.ad_product_type == "sponsored_television"
                size = "1920x1080" if video else ["300x250", "728x90", "320x50", "160x600"][(unit_key + k) % 4]
                creatives.append({
                    "creative_key": len(creatives), "unit_key": unit_key,
                    "creative_id": row.campaign_id * 100 + unit_key * 10 + k,
                    "creative": f"{brand}_{'Video' if video else 'Display'}_{size}_v{k + 1}",
                    "creative_type": "VIDEO" if video else ("DISPLAY" if is_dsp else "PRODUCT_COLLECTION"),
                    "creative_size": size, "ad_slot_size": size,
                    "creative_duration": 30 if video else None, "creative_category": "Video" if video else "Display",
                    "creative_is_link_in": "Link-in" if k == 0 else "Link-out",
                })
            if is_dsp or row.ad_product_type in ("sponsored_display", "sponsored_television"):
                placements.append({"unit_key": unit_key, "targeting": None, "match_type": None,
                                   "customer_search_term": None, "placement_weight": 1.0})
                continue
            for kw in range(int(rng.integers(2, 6))):
                keyword = f"{brand.lower()} {['jacket', 'blender', 'tent', 'mug', 'knife set', 'lamp'][(unit_key + kw) % 6]}"
                match_type = ["EXACT", "PHRASE", "BROAD"][kw % 3]
                for term in range(int(rng.integers(2, 7))):
                    suffix = ["", " sale", " best", " for women", " waterproof", " cheap", " gift"][term]
                    placements.append({"unit_key": unit_key, "targeting": keyword, "match_type": match_type,
                                       "customer_search_term": f"{keyword}{suffix}",
                                       "placement_weight": 1.0 / (term + 1) ** 1.3 / (kw + 1)})
    placement_frame = pd.DataFrame(placements)
    placement_frame.insert(0, "placement_key", np.arange(len(placement_frame)))
    return pd.DataFrame(units), pd.DataFrame(creatives), placement_frame


def _supply() -> pd.DataFrame:
    rows = [  # supply_source, site, app_bundle, environment_type, amazon owned, page_type, weight
        ("Amazon", "amazon.com", None, "Web", True, "Detail", 0.30),
        ("Amazon", None, "com.amazon.mShop.android.shopping", "App", True, "Search", 0.20),
        ("Twitch", "twitch.tv", None, "Web", True, "Other", 0.08),
        ("Fire TV", None, "com.amazon.firetv", "App", True, "Other", 0.12),
        ("Google AdX", "weather.com", None, "Web", False, "Article", 0.15),
        ("Magnite", "recipes.example.com", None, "Web", False, "Article", 0.10),
        ("PubMatic", None, "com.example.puzzles", "App", False, "Other", 0.05),
    ]
    frame = pd.DataFrame(rows, columns=["supply_source", "site", "app_bundle", "environment_type",
                                        "is_amazon_owned", "page_type", "supply_weight"])
    frame.insert(0, "supply_key", np.arange(len(frame)))
    frame["supply_source_id"] = 900 + frame["supply_key"]
    frame["slot_position"] = np.where(frame["environment_type"] == "Web", "ABOVE_THE_FOLD", "UNKNOWN")
    frame["demand_channel"] = "Amazon DSP"
    frame["demand_channel_owner"] = "Amazon"
    return frame


def to_utc(local: pd.Series | pd.DatetimeIndex, tz: str) -> pd.Series:
    """Naive local wall-clock times in ``tz`` -> naive UTC (gaps shift forward, folds take standard time)."""
    index = pd.DatetimeIndex(local)
    aware = index.tz_localize(tz, ambiguous=np.zeros(len(index), dtype=bool), nonexistent="shift_forward")
    return pd.Series(aware.tz_convert("UTC").tz_localize(None), index=getattr(local, "index", None))


def to_local(utc: pd.Series | pd.DatetimeIndex | np.ndarray, tz: str) -> np.ndarray:
    """Naive UTC -> naive local wall-clock time in ``tz``."""
    index = pd.DatetimeIndex(utc)
    return index.tz_localize("UTC").tz_convert(tz).tz_localize(None).values
