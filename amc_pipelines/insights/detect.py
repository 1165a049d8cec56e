"""Findings over the weekly marts of one instance: pure functions on pandas frames.

Input: rows of ``marts.fct_campaign_week`` (instance_id, week_start, ad_product, campaign_id, campaign,
impressions, clicks, spend, purchases, sales, ntb_purchases, ntb_sales, privacy_withheld_days,
provisional). Series are the instance total, each ad product and each campaign. See
docs/architecture.md, "Insights: findings", for the tests, the thresholds and the confidence formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from . import stats
from .findings import Finding, confidence

BASE = ["impressions", "clicks", "spend", "purchases", "sales", "ntb_purchases", "ntb_sales", "privacy_withheld_days"]
# rate metric -> (numerator, denominator, share: binomial if True else Poisson, depends on conversions)
RATES = {
    "ctr": ("clicks", "impressions", True, False),
    "cvr": ("purchases", "clicks", False, True),
    "purchase_rate": ("purchases", "impressions", False, True),
    "ntb_cvr": ("ntb_purchases", "clicks", False, True),
    "ntb_purchase_rate": ("ntb_purchases", "impressions", False, True),
    "ntb_purchase_share": ("ntb_purchases", "purchases", True, False),
}
CPM_PRODUCTS = ("dsp", "sponsored_television")
PER_CLICK = {"cvr": "purchase_rate", "ntb_cvr": "ntb_purchase_rate"}
# Where conversions follow clicks (sponsored products and brands) the conversion rate is tested per
# click (cvr); where they mostly follow views (DSP, display, TV, and the advertiser's mix) per impression.
CLICK_CONVERSIONS = ("sponsored_products", "sponsored_brands")


@dataclass(frozen=True)
class DetectionConfig:
    baseline_weeks: int = 12        # rolling window of the robust baseline
    warmup_weeks: int = 6           # baseline weeks with values needed before a week is tested
    fdr: float = 0.1                # Benjamini-Hochberg level across all tests of one kind in a run
    min_rate_change: float = 0.25   # |observed / baseline rate - 1| to report a rate anomaly
    min_volume_change: float = 0.5  # |relative spend vs. the advertiser's movement| to report
    volume_scale_floor: float = 0.05  # floor of the log-spend baseline's robust sd
    trend_min_weeks: int = 12
    trend_min_slope: float = 0.01   # relative change per week (Theil-Sen slope / median)
    change_min: float = 0.25        # |relative week-over-week / year-over-year change| to report
    min_spend_share: float = 0.02   # share of the advertiser's spend a series needs for trends, changes, opportunities
    opportunity_weeks: int = 8
    opportunity_ratio: float = 2.0  # ROAS this many times above or below the advertiser's


def detect_findings(campaign_weeks: pd.DataFrame, *, first_week: date | None = None, last_week: date | None = None,
                    config: DetectionConfig | None = None) -> list[Finding]:
    """All findings (anomalies, trends, changes, opportunities) for weeks first_week..last_week.

    ``campaign_weeks`` may hold weeks before first_week: they serve as baseline history only.
    """
    config = config or DetectionConfig()
    if campaign_weeks.empty:
        return []
    panel = Panel.build(campaign_weeks)
    first = panel.weeks[0] if first_week is None else first_week
    last = panel.weeks[-1] if last_week is None else last_week
    in_window = np.array([first <= w <= last for w in panel.weeks])
    if not in_window.any():
        return []
    findings = _anomalies(panel, in_window, config)
    findings += _trends(panel, in_window, config)
    findings += _changes(panel, in_window, config)
    findings += _opportunities(panel, in_window, config)
    order = {"anomaly": 0, "change": 1, "opportunity": 2, "trend": 3}
    return sorted(findings, key=lambda f: (order[f.kind], -f.confidence, f.week_start, f.metric))


@dataclass
class Panel:
    """Series x weeks matrices of the base columns (NaN: the series had no row that week)."""

    instance_id: str
    weeks: list[date]
    series: pd.DataFrame            # scope, ad_product, campaign_id, campaign (row i = matrix row i)
    values: dict[str, np.ndarray]
    provisional: np.ndarray         # per week

    @classmethod
    def build(cls, frame: pd.DataFrame) -> Panel:
        frame = frame.copy()
        frame["week_start"] = pd.to_datetime(frame["week_start"]).dt.date
        for column in BASE:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float).fillna(0.0)
        instance_ids = frame["instance_id"].unique()
        if len(instance_ids) != 1:
            raise ValueError(f"detection reads one instance at a time, got {len(instance_ids)}")
        first, last = frame["week_start"].min(), frame["week_start"].max()
        weeks = [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]
        index = {w: i for i, w in enumerate(weeks)}
        frame["w"] = frame["week_start"].map(index)

        names = (frame.sort_values("week_start").groupby(["ad_product", "campaign_id"])["campaign"].last())
        campaigns = frame.groupby(["ad_product", "campaign_id", "w"], as_index=False)[BASE].sum()
        products = frame.groupby(["ad_product", "w"], as_index=False)[BASE].sum()
        total = frame.groupby(["w"], as_index=False)[BASE].sum()

        rows = [{"scope": "instance", "ad_product": None, "campaign_id": None, "campaign": None}]
        rows += [{"scope": "ad_product", "ad_product": p, "campaign_id": None, "campaign": None}
                 for p in sorted(products["ad_product"].unique())]
        keys = sorted(names.index)
        rows += [{"scope": "campaign", "ad_product": p, "campaign_id": c, "campaign": names[(p, c)]} for p, c in keys]
        series = pd.DataFrame(rows)
        n_products = len(rows) - 1 - len(keys)
        values = {column: np.full((len(series), len(weeks)), np.nan) for column in BASE}
        product_row = {p: 1 + i for i, p in enumerate(series["ad_product"].iloc[1:1 + n_products])}
        campaign_row = {k: 1 + n_products + i for i, k in enumerate(keys)}
        product_idx = products["ad_product"].map(product_row).to_numpy()
        campaign_idx = np.array([campaign_row[k] for k in zip(campaigns["ad_product"], campaigns["campaign_id"],
                                                              strict=True)])
        for column in BASE:
            values[column][0, total["w"].to_numpy()] = total[column].to_numpy()
            values[column][product_idx, products["w"].to_numpy()] = products[column].to_numpy()
            values[column][campaign_idx, campaigns["w"].to_numpy()] = campaigns[column].to_numpy()
        provisional = np.zeros(len(weeks), dtype=bool)
        flagged = frame.loc[frame["provisional"].astype(bool), "w"].unique()
        provisional[flagged] = True
        return cls(str(instance_ids[0]), weeks, series, values, provisional)

    def finding(self, row: int, **fields) -> Finding:
        s = self.series.iloc[row]
        return Finding(instance_id=self.instance_id, scope=s["scope"], ad_product=s["ad_product"],
                       campaign_id=s["campaign_id"], campaign=s["campaign"], **fields)


def _withheld_share(panel: Panel, row: int, columns: slice | list[int]) -> float:
    days = panel.values["privacy_withheld_days"][row, columns]
    present = np.isfinite(days)
    return float(np.nansum(days) / (7 * present.sum())) if present.any() else 0.0


def _anomalies(panel: Panel, in_window: np.ndarray, config: DetectionConfig) -> list[Finding]:
    v = panel.values
    tests = []  # (metric, p, effect, observed, expected, count, noise, extra)
    window, warmup = config.baseline_weeks, config.warmup_weeks
    for metric, (num, den, share, conversions) in RATES.items():
        k, n = np.nan_to_num(v[num]), np.nan_to_num(v[den])
        with np.errstate(all="ignore"):
            rate = np.where(n > 0, k / n, np.nan)
        _, sd, count = stats.rolling_baseline(rate, window=window, warmup=warmup)
        base, n_base = stats.pooled_rate(k, n, window=window, warmup=warmup)
        if conversions:
            # Provisional weeks still miss late conversions, for every campaign alike: compare a series
            # with its baseline scaled by how complete the advertiser's week is (never above 1).
            complete = np.where(panel.provisional, np.minimum(1.0, rate[0] / base[0]), 1.0)
            base = base * np.where(np.isfinite(complete), complete, 1.0)[None, :]
        if metric in PER_CLICK or metric in PER_CLICK.values():
            by_click = panel.series["ad_product"].isin(CLICK_CONVERSIONS).to_numpy()
            keep = by_click if metric in PER_CLICK else ~by_click
            rate = np.where(keep[:, None], rate, np.nan)
            base = np.where(keep[:, None], base, np.nan)
        k_lag = stats.lagged_windows(np.where(n > 0, k, np.nan), window)
        n_lag = stats.lagged_windows(np.where(n > 0, n, np.nan), window)
        phi = stats.dispersion(k_lag, n_lag, base, share=share)
        p1 = stats.count_test(k, n, base, phi, n_base)
        # A sustained shift: this week and the next together against the same baseline (weeks t, t+1).
        k2, n2 = k + np.roll(k, -1, axis=1), n + np.roll(n, -1, axis=1)
        k2[:, -1], n2[:, -1] = np.nan, np.nan
        p2 = stats.count_test(k2, n2, base, phi, n_base)
        with np.errstate(all="ignore"):
            effect = rate / base - 1
            effect2 = (k2 / n2) / base - 1
            noise = sd / base
        two = np.isfinite(p2) & ((p2 < p1) | ~np.isfinite(p1)) & (np.sign(effect2) == np.sign(effect))
        p = np.minimum(1.0, 2 * np.where(two, p2, p1))  # Bonferroni over the two windows
        tests.append((metric, p, effect, rate, base, count, noise, {"dispersion": phi, num: k, den: n, "_two": two}))

    spend = v["spend"]
    campaign_rows = (panel.series["scope"] == "campaign").to_numpy()
    with np.errstate(all="ignore"):
        log_spend = np.where(spend > 0, np.log(spend), np.nan)
    # Flight edges: the first week of a series and its last week before a gap start or end mid-week.
    present = np.isfinite(log_spend)
    before = np.concatenate([np.zeros((len(present), 1), bool), present[:, :-1]], axis=1)
    after = np.concatenate([present[:, 1:], np.ones((len(present), 1), bool)], axis=1)
    log_spend = np.where(before & after & campaign_rows[:, None], log_spend, np.nan)
    level, _, _ = stats.rolling_baseline(log_spend, window=window, warmup=warmup)
    deviation = log_spend - level
    # What the whole account did this week (holidays, seasons): the median campaign's deviation, so
    # one campaign's spike never moves the reference the others are compared with.
    with stats._quiet():
        common = np.nanmedian(deviation[campaign_rows], axis=0) if campaign_rows.sum() >= 3 else np.zeros(len(panel.weeks))
    adjusted = deviation - np.nan_to_num(common)[None, :]
    base, sd, count = stats.rolling_baseline(adjusted, window=window, warmup=warmup)
    base = np.where(np.isfinite(base), 0.0, np.nan)  # centred on its own level already
    # Counting noise of what is billed (clicks for cost-per-click ad products, impressions for DSP and
    # TV): a small campaign's spend swings by ~1/sqrt(events) however calm its recent weeks looked.
    by_impression = panel.series["ad_product"].isin(CPM_PRODUCTS).to_numpy()[:, None]
    billed = np.where(by_impression, v["impressions"], v["clicks"])
    billed_level, _, _ = stats.rolling_baseline(np.where(billed > 0, billed, np.nan), window=window, warmup=warmup)
    with np.errstate(all="ignore"):
        sd = np.sqrt(np.maximum(sd, config.volume_scale_floor) ** 2 + 1.0 / billed_level)
    p = stats.robust_z_test(adjusted, base, sd, count)
    with np.errstate(all="ignore"):
        effect = np.exp(adjusted) - 1
    tests.append(("spend", p, effect, spend, None, count, sd, {"_two": np.zeros_like(p, dtype=bool)}))

    # One BH family: every tested series x week x metric inside the window.
    flat = np.concatenate([np.where(in_window[None, :], t[1], np.nan).ravel() for t in tests])
    q_all = stats.benjamini_hochberg(flat).reshape(len(tests), *tests[0][1].shape)

    findings = []
    for (metric, p, effect, observed, expected, count, noise, extra), q in zip(tests, q_all, strict=True):
        minimum = config.min_volume_change if metric == "spend" else config.min_rate_change
        flagged = (q <= config.fdr) & (np.abs(effect) >= minimum) & in_window[None, :]
        two = extra.pop("_two")
        extend = np.roll(flagged & two, 1, axis=1)  # the second week of a two-week shift
        extend[:, 0] = False
        flagged = flagged | (extend & in_window[None, :] & (np.sign(effect) == np.sign(np.roll(effect, 1, axis=1))))
        for row, col in zip(*np.nonzero(flagged), strict=True):
            direction = "up" if effect[row, col] > 0 else "down"
            if col > 0 and flagged[row, col - 1] and (effect[row, col - 1] > 0) == (direction == "up"):
                continue  # part of a run that started earlier
            cols = [col]
            while cols[-1] + 1 < flagged.shape[1] and flagged[row, cols[-1] + 1] \
                    and (effect[row, cols[-1] + 1] > 0) == (direction == "up"):
                cols.append(cols[-1] + 1)
            lead = min(cols, key=lambda c: (q[row, c] if np.isfinite(q[row, c]) else 2.0, -abs(effect[row, c])))
            weeks = tuple(panel.weeks[c] for c in cols)
            baseline_cols = list(range(max(0, col - config.baseline_weeks), col))
            supporting = {"observed": float(observed[row, lead]), "q_value": float(q[row, lead]),
                          "baseline_weeks": int(count[row, col])}
            if metric == "spend":
                recent = [float(x) for x in spend[row, baseline_cols] if np.isfinite(x)]
                supporting |= {"baseline_median": float(np.median(recent)) if recent else None,
                               "relative_to": "the campaign's 12-week median, net of the account-wide movement",
                               "share_change": float(effect[row, lead])}
            else:
                supporting |= {"baseline_rate": float(expected[row, lead])}
                supporting |= {name: float(a[row, lead]) for name, a in extra.items()}
            findings.append(panel.finding(
                row, kind="anomaly", metric=metric, weeks=weeks, direction=direction,
                magnitude=float(effect[row, lead]), p_value=float(p[row, lead]),
                provisional=bool(panel.provisional[cols].any()), supporting=supporting,
                confidence=confidence(
                    q_value=float(q[row, lead]), history_weeks=int(count[row, col]), full_history=config.baseline_weeks,
                    noise=float(noise[row, col]), provisional_share=float(panel.provisional[cols].mean()),
                    withheld_share=_withheld_share(panel, row, baseline_cols + cols)),
            ))
    return findings


def _metric_series(panel: Panel, metric: str) -> np.ndarray:
    v = panel.values
    with np.errstate(all="ignore"):
        if metric == "roas":
            return np.where(v["spend"] > 0, v["sales"] / v["spend"], np.nan)
        if metric in RATES:
            num, den, _, _ = RATES[metric]
            return np.where(v[den] > 0, v[num] / v[den], np.nan)
    return v[metric]


def _spend_share(panel: Panel, cols: np.ndarray) -> np.ndarray:
    spend = np.nansum(panel.values["spend"][:, cols], axis=1)
    return spend / spend[0] if spend[0] > 0 else np.zeros(len(spend))


def _trends(panel: Panel, in_window: np.ndarray, config: DetectionConfig) -> list[Finding]:
    cols = np.flatnonzero(in_window & ~panel.provisional)  # settled weeks only: no attribution tail
    if len(cols) < config.trend_min_weeks:
        return []
    share = _spend_share(panel, cols)
    candidates = []
    for metric in ("spend", "sales", "roas", "ctr", "cvr"):
        values = _metric_series(panel, metric)[:, cols]
        for row in np.flatnonzero(share >= config.min_spend_share):
            y = values[row]
            if np.isfinite(y).sum() < config.trend_min_weeks:
                continue
            slope, intercept, tau, p = stats.theil_sen_mann_kendall(y)
            level = float(np.nanmedian(y))
            relative = slope / level if level > 0 else np.nan
            candidates.append((metric, row, slope, relative, tau, p, level, np.isfinite(y).sum(), y))
    if not candidates:
        return []
    q = stats.benjamini_hochberg(np.array([c[5] for c in candidates]))
    findings = []
    for (metric, row, slope, relative, tau, p, level, n, y), qv in zip(candidates, q, strict=True):
        if not (qv <= config.fdr and abs(relative) >= config.trend_min_slope):
            continue
        fitted = level + slope * (np.arange(len(y)) - (len(y) - 1) / 2)
        residual = np.nanmedian(np.abs(y - fitted)) * stats.MAD_TO_SD / level
        weeks = tuple(panel.weeks[c] for c in cols)
        findings.append(panel.finding(
            row, kind="trend", metric=metric, weeks=weeks, direction="up" if slope > 0 else "down",
            magnitude=float(relative), p_value=float(p), provisional=False,
            supporting={"slope_per_week": slope, "median": level, "kendall_tau": tau, "q_value": float(qv),
                        "weeks_used": int(n), "test": "Theil-Sen slope, Mann-Kendall p"},
            confidence=confidence(q_value=float(qv), history_weeks=int(n), full_history=26, noise=float(residual),
                                  provisional_share=0.0, withheld_share=_withheld_share(panel, row, list(cols))),
        ))
    return findings


def _changes(panel: Panel, in_window: np.ndarray, config: DetectionConfig) -> list[Finding]:
    """Week-over-week and year-over-year changes in the range's last week (spend) or last settled
    week (sales, ROAS: a provisional week still misses conversions, so its change would be the
    attribution tail). Week-over-week: unusual for the series (robust z against its previous
    week-over-week changes). Year-over-year: instance and ad-product totals only, at least twice the
    week-over-week threshold, and large against how much the series' level wanders. BH over both."""
    reported = np.flatnonzero(in_window)
    settled = np.flatnonzero(in_window & ~panel.provisional)
    scope = panel.series["scope"].to_numpy()
    candidates = []
    for metric in ("spend", "sales", "roas"):
        if metric != "spend" and not len(settled):
            continue
        last = int(reported[-1] if metric == "spend" else settled[-1])
        share = _spend_share(panel, np.array([last]))
        values = _metric_series(panel, metric)
        with np.errstate(all="ignore"):
            log_values = np.where(values > 0, np.log(values), np.nan)
        for label, lag in (("wow", 1), ("yoy", 52)):
            if last - lag < 0:
                continue
            diffs = log_values[:, lag:] - log_values[:, :-lag]  # diffs[:, t - lag] = change into week t
            history = diffs[:, max(0, last - lag - config.baseline_weeks):last - lag]
            rows = np.flatnonzero((share >= config.min_spend_share) & ((scope != "campaign") | (label == "wow")))
            for row in rows:
                change = diffs[row, last - lag]
                minimum = config.change_min * (2 if label == "yoy" else 1)
                if not np.isfinite(change) or abs(np.expm1(change)) < minimum:
                    continue
                past = history[row][np.isfinite(history[row])]
                if label == "wow":
                    if len(past) < config.warmup_weeks:
                        continue  # too little history to call the change unusual
                    median = float(np.median(past))
                    scale = max(float(np.median(np.abs(past - median))) * stats.MAD_TO_SD, config.volume_scale_floor)
                    p = float(stats.robust_z_test(np.array([change]), np.array([median]), np.array([scale]),
                                                  np.array([len(past)]))[0])
                else:
                    # One earlier week allows no test of its own: judge the change against how much the
                    # series' level wanders (robust sd of its last weeks' log values; both ends carry it).
                    levels = log_values[row, max(0, last - config.baseline_weeks):last]
                    past = levels[np.isfinite(levels)]
                    if len(past) < config.warmup_weeks:
                        continue
                    spread = float(np.median(np.abs(past - np.median(past)))) * stats.MAD_TO_SD
                    scale = np.sqrt(2) * max(spread, config.volume_scale_floor)
                    p = float(stats.robust_z_test(np.array([change]), np.array([0.0]), np.array([scale]),
                                                  np.array([len(past)]))[0])
                candidates.append((metric, label, lag, last, row, change, scale, p, len(past)))
    if not candidates:
        return []
    q = stats.benjamini_hochberg(np.array([c[7] for c in candidates]))
    findings = []
    for (metric, label, lag, last, row, change, scale, p, n), qv in zip(candidates, q, strict=True):
        if qv > config.fdr:
            continue  # an ordinary swing for this series
        values = _metric_series(panel, metric)
        cols = [last - lag, last]
        findings.append(panel.finding(
            row, kind="change", metric=metric, weeks=(panel.weeks[last],), direction="up" if change > 0 else "down",
            magnitude=float(np.expm1(change)), p_value=p,
            provisional=bool(panel.provisional[last]),
            supporting={"comparison": label, "current": float(values[row, last]),
                        "previous": float(values[row, last - lag]), "previous_week": panel.weeks[last - lag],
                        "q_value": float(qv), "history_weeks": int(n)},
            confidence=confidence(
                q_value=float(qv), history_weeks=int(n), full_history=config.baseline_weeks, noise=float(scale),
                provisional_share=float(panel.provisional[cols].mean()),
                withheld_share=_withheld_share(panel, row, cols)),
        ))
    return findings


def _opportunities(panel: Panel, in_window: np.ndarray, config: DetectionConfig) -> list[Finding]:
    """Campaigns whose ROAS over the window's last settled weeks is far from the advertiser's."""
    settled = np.flatnonzero(in_window & ~panel.provisional)
    cols = settled[-config.opportunity_weeks:] if len(settled) else np.flatnonzero(in_window)[-config.opportunity_weeks:]
    if len(cols) < 3:
        return []
    v = panel.values
    spend = np.nansum(v["spend"][:, cols], axis=1)
    sales = np.nansum(v["sales"][:, cols], axis=1)
    if spend[0] <= 0 or sales[0] <= 0:
        return []
    roas_adv = sales[0] / spend[0]
    weekly = _metric_series(panel, "roas")[:, cols]
    candidates = []
    for row in np.flatnonzero((panel.series["scope"] == "campaign").to_numpy()):
        if spend[row] / spend[0] < config.min_spend_share or spend[row] <= 0:
            continue
        ratio = (sales[row] / spend[row]) / roas_adv
        if 1 / config.opportunity_ratio < ratio < config.opportunity_ratio:
            continue
        with np.errstate(all="ignore"):
            logs = np.log(weekly[row] / weekly[0])
        logs = logs[np.isfinite(logs)]
        if len(logs) < 3:
            continue
        from scipy import stats as sps

        p = float(sps.ttest_1samp(logs, 0.0).pvalue) if np.std(logs) > 0 else 0.0
        candidates.append((row, ratio, p, logs))
    if not candidates:
        return []
    q = stats.benjamini_hochberg(np.array([c[2] for c in candidates]))
    findings = []
    for (row, ratio, p, logs), qv in zip(candidates, q, strict=True):
        if qv > config.fdr * 5:  # a small family: the campaigns far from the advertiser
            continue
        roas = sales[row] / spend[row]
        findings.append(panel.finding(
            row, kind="opportunity", metric="roas", weeks=tuple(panel.weeks[c] for c in cols),
            direction="up" if ratio > 1 else "down", magnitude=float(ratio - 1), p_value=p,
            provisional=bool(panel.provisional[cols].any()),
            supporting={"roas": roas, "advertiser_roas": roas_adv, "acos": 1 / roas if roas > 0 else None,
                        "advertiser_acos": 1 / roas_adv, "spend": float(spend[row]),
                        "spend_share": float(spend[row] / spend[0]), "q_value": float(qv),
                        "suggestion": "shift budget toward it" if ratio > 1 else "review bids, targeting or budget"},
            confidence=confidence(q_value=float(qv), history_weeks=len(logs), full_history=config.opportunity_weeks,
                                  noise=float(np.std(logs)), provisional_share=float(panel.provisional[cols].mean()),
                                  withheld_share=_withheld_share(panel, row, list(cols))),
        ))
    return findings
