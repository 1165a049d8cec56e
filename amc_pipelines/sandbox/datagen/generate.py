"""Generate one instance's world, traffic and conversions and write its nine tables."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd

from ..tables import sandbox_tables
from .anomalies import Anomaly, plan_anomalies
from .conversions import EVENT_TYPES, generate_conversions
from .entities import LOWER_ALNUM, MARKETS, UPPER_ALNUM, build_world, stable_token
from .layout import (
    add_local_times,
    attributed_overrides,
    conversion_overrides,
    create_view,
    event_id,
    write_base,
    write_lookups,
)
from .models import SandboxInstance, SizeSpec
from .traffic import DSP_CLICK, SA_CLICK, generate_traffic

MARKETPLACE_NUMBERS = {"US": 1, "GB": 3, "DE": 4, "JP": 6}


def make_instance(seed: int, index: int) -> SandboxInstance:
    """Instance identity depends only on seed and position, so sizes share their first instances."""
    market = MARKETS[index % len(MARKETS)]
    instance_id = "amc" + stable_token(seed, index, "instance", length=10, alphabet=LOWER_ALNUM)
    return SandboxInstance(
        instance_id=instance_id,
        account_id="ENTITY" + stable_token(seed, index, "entity", length=14, alphabet=UPPER_ALNUM),
        advertiser=market["advertiser"], marketplace_id=market["marketplace_id"], region=market["region"],
        timezone=market["timezone"], schema=instance_id,
    )


def write_instance(con: duckdb.DuckDBPyConnection, spec: SizeSpec, seed: int, index: int,
                   start: date, end: date, *, anomalies: bool = True) -> tuple[list[Anomaly], dict[str, int]]:
    instance = make_instance(seed, index)
    market = MARKETS[index % len(MARKETS)]
    rng = np.random.default_rng([seed, index])
    world = build_world(rng, market, seed=seed, index=index, n_users=spec.users, n_asins=spec.asins,
                        n_dsp=spec.dsp_campaigns, n_sa=spec.sa_campaigns, start=start, end=end)
    effects = plan_anomalies(rng, instance_id=instance.instance_id, campaigns=world.campaigns,
                             timezone=market["timezone"], start=start, end=end)
    if not anomalies:  # planned all the same, so the random stream and all other data stay identical
        effects = type(effects)(())
    traffic = generate_traffic(rng, world, effects, start=start, end=end, base_daily=spec.base_daily_impressions)
    conversions = generate_conversions(rng, world, effects, traffic, start=start, end=end)

    campaigns = world.campaigns.copy()
    campaigns["creative_asin"] = [world.asins["asin"].iat[int(world.promoted[k][0])] for k in campaigns["campaign_key"]]
    lookups = {"users": world.users, "campaigns": campaigns, "units": world.units, "creatives": world.creatives,
               "supply": world.supply, "placements": world.placements, "asins": world.asins,
               "event_types": EVENT_TYPES}
    constants = {
        "advertiser": market["advertiser"], "advertiser_timezone": market["timezone"],
        "entity_id": instance.account_id, "marketplace_name": market["marketplace_name"],
        "traffic_event_marketplace_name": market["marketplace_name"],
        "conversion_event_marketplace_name": market["marketplace_name"],
        "iso_country_code": market["country"], "campaign_country": market["country"],
        "currency_iso_code": market["currency"], "currency_name": market["currency_name"],
        "purchase_currency": market["currency"], "marketplace_id": MARKETPLACE_NUMBERS[market["country"]],
        "no_3p_trackers": False,
    }
    iid = instance.instance_id
    dsp_id = event_id(iid, "dsp", "ev.event_no")
    dsp_fees = {"managed_service_fee": "0", "ocm_fee": "0", "third_party_fees": "0",
                "placement_is_view_aware": "TRUE", "placement_view_rate": "0.68",
                "supply_source_is_view_aware": "TRUE", "supply_source_view_rate": "0.70"}
    tz = market["timezone"]
    schema = instance.schema
    con.execute(f'CREATE SCHEMA "{schema}"')
    lookup_columns = write_lookups(con, schema, lookups)
    # One base table per event stream, sorted by the event time its views are filtered on most.
    bases = {
        "dsp_impressions": (traffic.dsp_impressions, "impression_dt_utc"),
        "dsp_clicks": (traffic.dsp_clicks, "click_dt_utc"),
        "dsp_views": (traffic.dsp_views, "event_dt_utc"),
        "sponsored_ads_traffic": (traffic.sponsored_ads, "event_dt_utc"),
        "attributed_events": (_attributed_frame(conversions.attributed), "conversion_event_dt_utc"),
        "conversion_events": (conversions.events, "event_dt_utc"),
    }
    base_columns = {}
    for name, (frame, sort_by) in bases.items():
        frame = add_local_times(frame.sort_values(sort_by, kind="stable").reset_index(drop=True), tz)
        base_columns[name] = write_base(con, schema, f"_base_{name}", frame)

    tables = sandbox_tables()
    views = [
        ("dsp_impressions", "dsp_impressions", {"request_tag": dsp_id, **dsp_fees}, None),
        ("dsp_clicks", "dsp_clicks", {"request_tag": dsp_id}, None),
        ("dsp_views", "dsp_views", {"impression_id": dsp_id, "event_type": "'VIEW'", "view_definition": "'MRC'"}, None),
        ("sponsored_ads_traffic", "sponsored_ads_traffic",
         {"event_id": event_id(iid, "sa", "ev.event_no"), "line_item": "l.ad_group", "line_item_price_type": "NULL"},
         None),
        ("amazon_attributed_events_by_conversion_time", "attributed_events", None, None),
        ("amazon_attributed_events_by_traffic_time", "attributed_events", None, None),
        ("conversions", "conversion_events", conversion_overrides(iid), "ev.exposed"),
        ("conversions_with_relevance", "conversion_events", conversion_overrides(iid), "ev.exposed"),
        ("conversions_all", "conversion_events", conversion_overrides(iid), None),
    ]
    counts = {}
    for name, base, overrides, where in views:
        table = tables[name]
        create_view(con, schema=schema, table=table, base=f"_base_{base}", base_columns=base_columns[base],
                    lookup_columns=lookup_columns, constants=constants, where=where,
                    overrides=overrides if overrides is not None else attributed_overrides(iid, table))
        counts[name] = con.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()[0]
    return list(effects.anomalies), counts


def _attributed_frame(attributed: pd.DataFrame) -> pd.DataFrame:
    kind = attributed["kind"].to_numpy()
    is_dsp = kind <= DSP_CLICK
    is_click = (kind == DSP_CLICK) | (kind == SA_CLICK)
    detail = attributed["detail_key"].to_numpy()
    traffic_time = attributed["traffic_dt_utc"]
    return pd.DataFrame({
        "kind": kind, "event_no": attributed["event_no"].to_numpy(), "user_idx": attributed["user_idx"].to_numpy(),
        "unit_key": attributed["unit_key"].to_numpy(), "campaign_key": attributed["campaign_key"].to_numpy(),
        "creative_key": attributed["creative_key"].to_numpy(),
        "supply_key": np.where(is_dsp, detail, -1), "placement_key": np.where(is_dsp, -1, detail),
        "event_code": attributed["event_code"].to_numpy(), "asin_idx": attributed["asin_idx"].to_numpy(),
        "promoted": attributed["promoted"].to_numpy(), "units": attributed["units"].to_numpy(),
        "unit_price": attributed["unit_price"].to_numpy(), "sales": attributed["sales"].to_numpy(),
        "new_to_brand": attributed["new_to_brand"].to_numpy(),
        "traffic_event_dt_utc": traffic_time.to_numpy(),
        "impression_dt_utc": traffic_time.where(~is_click).to_numpy(),
        "click_dt_utc": traffic_time.where(is_click).to_numpy(),
        "conversion_event_dt_utc": attributed["conversion_dt_utc"].to_numpy(),
    })
