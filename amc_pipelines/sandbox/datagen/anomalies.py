"""Planted anomalies: known, machine-readable effects an insights feature must find.

Each anomaly is a multiplicative change to one generation mechanism of one always-on campaign over
whole local calendar weeks (Monday start, advertiser time zone), far from the edges of the data so
that detectors have history before and settled data after.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Anomaly:
    anomaly_id: str
    kind: str              # spend_spike | ctr_collapse | conversion_drop | ntb_surge
    instance_id: str
    table: str             # where the effect is measured
    metric: str            # the column or ratio that moves
    campaign_key: int
    campaign: str
    campaign_id_string: str
    start_date: date       # inclusive, advertiser-local dates
    end_date: date
    timezone: str
    time_basis: str        # which event time the window applies to in ``table``
    direction: str         # up | down
    factor: float          # the multiplier applied to the generating mechanism
    expected_change: str   # human-readable magnitude
    description: str

    def to_json(self) -> dict:
        data = asdict(self)
        data["start_date"] = self.start_date.isoformat()
        data["end_date"] = self.end_date.isoformat()
        return data


@dataclass(frozen=True)
class AnomalyEffects:
    """What traffic and conversion generation apply, looked up by campaign and local day."""

    anomalies: tuple[Anomaly, ...]

    def _factor(self, kind: str, campaign_key: np.ndarray, local_day: np.ndarray) -> np.ndarray:
        factor = np.ones(len(campaign_key))
        for a in self.anomalies:
            if a.kind != kind:
                continue
            inside = ((campaign_key == a.campaign_key)
                      & (local_day >= np.datetime64(a.start_date)) & (local_day <= np.datetime64(a.end_date)))
            factor[inside] *= a.factor
        return factor

    def volume(self, campaign_key, local_day):
        return self._factor("spend_spike", campaign_key, local_day)

    def ctr(self, campaign_key, local_day):
        return self._factor("ctr_collapse", campaign_key, local_day)

    def conversion_keep(self, campaign_key, local_day):
        """Share of attributed conversions kept (by conversion day)."""
        return self._factor("conversion_drop", campaign_key, local_day)

    def ntb_boost(self, campaign_key, local_day):
        """Conversion-rate multiplier for traffic served to never-buyers during an NTB surge."""
        return self._factor("ntb_surge", campaign_key, local_day)

    def ntb_audience(self, campaign_key: np.ndarray, local_day: np.ndarray) -> np.ndarray:
        """True where traffic should target users who never bought the brand (NTB surge)."""
        return self.ntb_boost(campaign_key, local_day) != 1.0


def plan_anomalies(rng: np.random.Generator, *, instance_id: str, campaigns: pd.DataFrame,
                   timezone: str, start: date, end: date) -> AnomalyEffects:
    """Four anomalies per instance on the always-on campaigns, in distinct weeks."""
    first_monday = start + timedelta(days=(7 - start.weekday()) % 7)
    n_weeks = (end - first_monday).days // 7
    dsp = campaigns[campaigns["channel"] == "dsp"].sort_values("campaign_key")
    sa = campaigns[campaigns["ad_product_type"] == "sponsored_products"].sort_values("campaign_key")
    specs = [
        # kind, campaign row, weeks, factor, table, metric, basis, direction, change, description
        ("spend_spike", dsp.iloc[0], 1, 3.0, "dsp_impressions", "total_cost", "impression_dt", "up",
         "~3x weekly spend and impressions", "Budget misconfiguration: delivery tripled for one week."),
        ("ctr_collapse", sa.iloc[0], 2, 0.15, "sponsored_ads_traffic", "clicks / impressions",
         "event_dt", "down", "CTR falls to ~15% of normal", "Broken creative/landing page: clicks collapsed."),
        ("conversion_drop", dsp.iloc[0], 2, 0.3, "amazon_attributed_events_by_conversion_time",
         "conversions", "conversion_event_dt", "down", "~70% fewer attributed conversions",
         "Tracking outage or out-of-stock ASIN: attributed conversions dropped."),
        ("ntb_surge", dsp.iloc[1], 1, 5.0, "amazon_attributed_events_by_traffic_time",
         "new_to_brand_purchases", "traffic_event_dt", "up",
         "several times the usual new-to-brand purchases, higher NTB share",
         "Prospecting audience test: traffic reached users new to the brand who converted well."),
    ]
    # Distinct weeks spread over the middle of the range, away from warm-up and the settling tail.
    anchors = np.array([0.35, 0.5, 0.65, 0.8]) * n_weeks + rng.integers(-2, 3, size=4)
    anchors = np.clip(anchors.astype(int), 8, n_weeks - 8)
    anomalies = []
    for i, ((kind, row, weeks, factor, table, metric, basis, direction, change, text), week) in enumerate(
            zip(specs, anchors, strict=True)):
        window_start = first_monday + timedelta(weeks=int(week))
        anomalies.append(Anomaly(
            anomaly_id=f"{instance_id}-{i + 1}-{kind}", kind=kind, instance_id=instance_id, table=table,
            metric=metric, campaign_key=int(row["campaign_key"]), campaign=row["campaign"],
            campaign_id_string=row["campaign_id_string"], start_date=window_start,
            end_date=window_start + timedelta(days=7 * weeks - 1), timezone=timezone, time_basis=basis,
            direction=direction, factor=factor, expected_change=change, description=text,
        ))
    return AnomalyEffects(tuple(anomalies))
