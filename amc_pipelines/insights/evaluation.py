"""Scoring anomaly findings against the sandbox's planted anomalies (``<dataset>.anomalies.json``).

Definitions (docs/architecture.md, "Insights: findings"):

* A planted anomaly covers the advertiser-local Monday weeks from its start_date to its end_date.
  For metrics made of conversions the window reaches back ATTRIBUTION_WEEKS more: the marts credit a
  purchase to the traffic that led to it, up to 14 days earlier, so a plant that changes purchases
  also changes the conversions of the weeks before it.
* **Recall**: a plant is found when a campaign-scope anomaly finding on that instance and campaign,
  with a metric in PRIMARY[kind], has a week inside the plant's own weeks (no reach back).
* **Precision**: over every anomaly finding (all scopes). A finding is true when some plant of its
  instance lies in its scope (the same campaign; a campaign of its ad product; any campaign for the
  instance scope), its metric is in AFFECTED[kind] (what the generator really changes), and one of
  its weeks is in the plant's window. Every other anomaly finding counts against precision. Trends,
  changes and opportunities are not anomalies and are not scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

ATTRIBUTION_WEEKS = 2
CONVERSION_METRICS = {"cvr", "purchase_rate", "ntb_cvr", "ntb_purchase_rate", "ntb_purchase_share", "purchases",
                      "sales", "roas"}
PRIMARY = {
    "spend_spike": {"spend"},
    "ctr_collapse": {"ctr"},
    "conversion_drop": {"cvr", "purchase_rate"},
    "ntb_surge": {"ntb_purchase_share", "ntb_cvr", "ntb_purchase_rate"},
}
AFFECTED = {
    # delivery x3: spend and every count; conversions of earlier traffic of the same users move too
    "spend_spike": {"spend", "purchase_rate", "cvr", "ntb_purchase_rate", "ntb_cvr", "ntb_purchase_share"},
    # fewer clicks: CTR, the spend of cost-per-click campaigns, conversions that follow clicks
    "ctr_collapse": {"ctr", "spend", "cvr", "purchase_rate", "ntb_cvr", "ntb_purchase_rate"},
    "conversion_drop": {"cvr", "purchase_rate", "ntb_cvr", "ntb_purchase_rate", "ntb_purchase_share"},
    # never-buyers targeted, who convert better: NTB counts and share, and all purchases per traffic
    "ntb_surge": {"ntb_purchase_share", "ntb_cvr", "ntb_purchase_rate", "purchase_rate", "cvr"},
}


@dataclass(frozen=True)
class Score:
    planted: int
    found: int
    anomaly_findings: int
    matched_findings: int
    missed: tuple[str, ...]
    unmatched: tuple[dict, ...]

    @property
    def recall(self) -> float:
        return self.found / self.planted if self.planted else 1.0

    @property
    def precision(self) -> float:
        return self.matched_findings / self.anomaly_findings if self.anomaly_findings else 1.0


def _weeks(plant: dict, *, reach_back: int = 0) -> tuple[date, date]:
    start, end = date.fromisoformat(plant["start_date"]), date.fromisoformat(plant["end_date"])
    first = start - timedelta(days=start.weekday()) - timedelta(weeks=reach_back)
    return first, end


def _in(finding, window: tuple[date, date]) -> bool:
    return any(window[0] <= w <= window[1] for w in finding.weeks)


def matches(finding, plant: dict, ad_products: dict[tuple[str, str], str]) -> bool:
    """Whether an anomaly finding is explained by a planted anomaly (see the module docstring)."""
    if finding.instance_id != plant["instance_id"] or finding.metric not in AFFECTED[plant["kind"]]:
        return False
    campaign = plant["campaign_id_string"]
    if finding.scope == "campaign" and finding.campaign_id != campaign:
        return False
    if finding.scope == "ad_product" and ad_products.get((plant["instance_id"], campaign)) != finding.ad_product:
        return False
    reach = ATTRIBUTION_WEEKS if finding.metric in CONVERSION_METRICS else 0
    return _in(finding, _weeks(plant, reach_back=reach))


def score(findings, plants: list[dict], ad_products: dict[tuple[str, str], str]) -> Score:
    """Recall and precision of ``findings`` (any kinds; anomalies are scored) against ``plants``."""
    anomalies = [f for f in findings if f.kind == "anomaly"]
    found, missed = 0, []
    for plant in plants:
        hit = any(f.scope == "campaign" and f.instance_id == plant["instance_id"]
                  and f.campaign_id == plant["campaign_id_string"] and f.metric in PRIMARY[plant["kind"]]
                  and _in(f, _weeks(plant)) for f in anomalies)
        found += hit
        if not hit:
            missed.append(plant["anomaly_id"])
    unmatched = [f for f in anomalies if not any(matches(f, p, ad_products) for p in plants)]
    return Score(planted=len(plants), found=found, anomaly_findings=len(anomalies),
                 matched_findings=len(anomalies) - len(unmatched), missed=tuple(missed),
                 unmatched=tuple(f.to_json() for f in unmatched))
