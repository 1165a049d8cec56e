"""The finding: one statement about one series of one instance, with the numbers behind it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

KINDS = ("anomaly", "trend", "change", "opportunity")


@dataclass(frozen=True)
class Finding:
    kind: str                     # anomaly | trend | change | opportunity
    metric: str                   # spend, ctr, cvr, ntb_purchase_share, roas, sales ...
    instance_id: str
    scope: str                    # instance | ad_product | campaign
    ad_product: str | None        # None at instance scope
    campaign_id: str | None       # None above campaign scope
    campaign: str | None
    weeks: tuple[date, ...]       # the weeks the finding is about, oldest first
    direction: str                # up | down
    magnitude: float              # relative change (observed / expected - 1), or slope per week, or ratio - 1
    confidence: float             # 0..1, from the data (see ``confidence``)
    p_value: float | None = None  # the test's p-value (BH-adjusted q-value in ``supporting``)
    provisional: bool = False     # some week of the finding is not settled yet
    supporting: dict[str, Any] = field(default_factory=dict)

    @property
    def week_start(self) -> date:
        return self.weeks[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "metric": self.metric, "instance_id": self.instance_id, "scope": self.scope,
            "ad_product": self.ad_product, "campaign_id": self.campaign_id, "campaign": self.campaign,
            "week_start": self.week_start.isoformat(), "weeks": [w.isoformat() for w in self.weeks],
            "direction": self.direction, "magnitude": _number(self.magnitude), "confidence": _number(self.confidence),
            "p_value": _number(self.p_value), "provisional": self.provisional,
            "supporting": {k: _plain(v) for k, v in self.supporting.items()},
        }


def confidence(*, q_value: float, history_weeks: int, full_history: int, noise: float,
               provisional_share: float, withheld_share: float) -> float:
    """How much to trust a finding, from its own data (documented in docs/architecture.md):

    evidence (1 - q) x history min(1, weeks / full_history) x stability 1 / (1 + noise)
    x settledness (1 - 0.5 x provisional share) x completeness (1 - privacy-withheld share).
    ``noise`` is the series' relative robust spread in the baseline (MAD / median, or the scale of a
    log series); shares are of the weeks (days for privacy) the finding and its baseline read.
    """
    evidence = min(1.0, max(0.0, 1.0 - q_value))
    history = min(1.0, max(0.0, history_weeks / full_history))
    stability = 1.0 / (1.0 + max(0.0, noise if math.isfinite(noise) else 1.0))
    settled = 1.0 - 0.5 * min(1.0, max(0.0, provisional_share))
    complete = 1.0 - min(1.0, max(0.0, withheld_share))
    return round(evidence * history * stability * settled * complete, 3)


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    try:
        return _number(float(value))
    except (TypeError, ValueError):
        return str(value)
