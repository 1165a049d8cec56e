"""Each detector on constructed weekly series: a planted effect is found, noise is not, small campaigns
do not flood the list, and the false-discovery control holds across many series."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from amc_pipelines.insights import stats
from amc_pipelines.insights.detect import detect_findings
from amc_pipelines.insights.findings import confidence

FIRST = date(2025, 1, 6)  # a Monday
WEEKS = 40


def _frame(campaigns: dict[str, dict], *, weeks: int = WEEKS, seed: int = 1, provisional_last: int = 0) -> pd.DataFrame:
    """Weekly rows of made-up campaigns: impressions ~ Poisson(volume), clicks ~ Binomial(ctr),
    purchases ~ Poisson(cvr x clicks); ``effects`` = {week index: {"volume"|"ctr"|"cvr": factor}}."""
    rng = np.random.default_rng(seed)
    rows = []
    for campaign_id, spec in campaigns.items():
        for w in range(weeks):
            effect = spec.get("effects", {}).get(w, {})
            impressions = rng.poisson(spec["impressions"] * effect.get("volume", 1.0) * rng.lognormal(0, 0.05))
            clicks = rng.binomial(impressions, spec.get("ctr", 0.01) * effect.get("ctr", 1.0))
            purchases = rng.poisson(clicks * spec.get("cvr", 0.1) * effect.get("cvr", 1.0))
            ntb = rng.binomial(purchases, 0.4)
            rows.append({
                "instance_id": "amctest0001", "week_start": FIRST + timedelta(weeks=w),
                "ad_product": spec.get("ad_product", "sponsored_products"), "campaign_id": campaign_id,
                "campaign": f"Campaign {campaign_id}", "impressions": impressions, "clicks": clicks,
                "spend": clicks * 0.8, "purchases": purchases, "sales": purchases * 25.0, "ntb_purchases": ntb,
                "ntb_sales": ntb * 25.0, "privacy_withheld_days": 0, "provisional": w >= weeks - provisional_last,
            })
    return pd.DataFrame(rows)


def _anomalies(findings, **where):
    return [f for f in findings if f.kind == "anomaly" and all(getattr(f, k) == v for k, v in where.items())]


BIG = {"impressions": 200_000, "ctr": 0.01, "cvr": 0.1}


def test_a_spend_spike_is_found_at_its_week_with_its_numbers():
    campaigns = {f"c{i}": dict(BIG) for i in range(5)}
    campaigns["c0"]["effects"] = {30: {"volume": 3.0}}
    findings = detect_findings(_frame(campaigns))
    spikes = _anomalies(findings, metric="spend", campaign_id="c0")
    assert [f.weeks for f in spikes] == [(FIRST + timedelta(weeks=30),)]
    spike = spikes[0]
    assert spike.direction == "up" and 1.5 < spike.magnitude < 3.5
    assert 0 < spike.confidence <= 1 and spike.supporting["q_value"] <= 0.05
    payload = spike.to_json()
    assert {"kind", "metric", "campaign_id", "campaign", "week_start", "direction", "magnitude", "confidence"} <= set(payload)
    assert payload["week_start"] == (FIRST + timedelta(weeks=30)).isoformat() and payload["campaign"] == "Campaign c0"
    # The other campaigns' spend did not move: no finding on them (the reference is the median campaign).
    assert not [f for f in _anomalies(findings, metric="spend") if f.campaign_id != "c0"]


def test_an_account_wide_season_is_not_a_campaign_anomaly():
    campaigns = {f"c{i}": dict(BIG, effects={w: {"volume": 1.6} for w in range(28, 32)}) for i in range(6)}
    assert not _anomalies(detect_findings(_frame(campaigns)), metric="spend")


def test_a_ctr_collapse_and_a_conversion_drop_are_found_by_count_tests():
    campaigns = {f"c{i}": dict(BIG) for i in range(4)}
    campaigns["c1"]["effects"] = {25: {"ctr": 0.2}, 26: {"ctr": 0.2}}
    campaigns["c2"]["effects"] = {33: {"cvr": 0.3}}
    findings = detect_findings(_frame(campaigns))
    ctr = _anomalies(findings, metric="ctr", campaign_id="c1")
    assert len(ctr) == 1 and ctr[0].weeks == (FIRST + timedelta(weeks=25), FIRST + timedelta(weeks=26))
    assert ctr[0].direction == "down" and ctr[0].magnitude < -0.6
    cvr = _anomalies(findings, metric="cvr", campaign_id="c2")
    assert [f.week_start for f in cvr] == [FIRST + timedelta(weeks=33)] and cvr[0].direction == "down"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_noise_alone_gives_no_anomaly(seed):
    campaigns = {f"c{i}": dict(BIG, impressions=20_000 * (i + 1)) for i in range(8)}
    assert _anomalies(detect_findings(_frame(campaigns, seed=seed))) == []


def test_small_campaigns_do_not_flood_the_list():
    # 40 tiny campaigns (a few clicks a week): their rates swing wildly week to week, but counts
    # that small carry no evidence; a large campaign's real collapse is still found among them.
    campaigns = {f"tiny{i}": {"impressions": 300, "ctr": 0.01, "cvr": 0.1} for i in range(40)}
    campaigns["big"] = dict(BIG, effects={30: {"ctr": 0.3}})
    findings = detect_findings(_frame(campaigns, seed=5))
    anomalies = _anomalies(findings)
    assert {f.campaign_id for f in anomalies if f.scope == "campaign"} == {"big"}  # its CTR (and CPC spend)
    tiny = _frame({"t": {"impressions": 300, "ctr": 0.01, "cvr": 0.1}})
    rates = tiny["clicks"] / tiny["impressions"]
    assert rates.max() / rates[rates > 0].min() > 3  # the swings were there to be mistaken


def test_overdispersed_large_series_are_judged_by_their_own_spread():
    # A huge campaign whose CTR wanders +-15 % week to week (far beyond binomial noise): no finding.
    rng = np.random.default_rng(9)
    effects = {w: {"ctr": float(rng.uniform(0.85, 1.15))} for w in range(WEEKS)}
    campaigns = {"huge": dict(BIG, impressions=5_000_000, effects=effects)} | {f"c{i}": dict(BIG) for i in range(3)}
    assert _anomalies(detect_findings(_frame(campaigns)), metric="ctr") == []


def test_benjamini_hochberg_controls_false_discoveries_across_many_series():
    rng = np.random.default_rng(0)
    null = rng.uniform(size=(2000,))
    q = stats.benjamini_hochberg(null)
    assert (q <= 0.05).sum() <= 2  # all null: (almost) nothing survives, unlike raw p < 0.05 (~100)
    assert (null < 0.05).sum() > 60
    mixed = np.concatenate([null, np.full(20, 1e-6)])
    assert (stats.benjamini_hochberg(mixed)[-20:] <= 0.05).all()
    # The textbook example: q_i = min over j >= i of p_j m / j, monotone, NaN left out.
    q = stats.benjamini_hochberg(np.array([0.01, 0.04, 0.03, np.nan, 0.2]))
    assert np.allclose(q[[0, 1, 2, 4]], [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2]) and np.isnan(q[3])


def test_count_test_has_no_power_on_tiny_counts_and_much_on_large_ones():
    rate, phi = np.array([0.01]), np.array([1.0])
    tiny = stats.count_test(np.array([0.0]), np.array([100.0]), rate, phi, np.array([1_000.0]))[0]
    large = stats.count_test(np.array([0.0]), np.array([10_000.0]), rate, phi, np.array([100_000.0]))[0]
    assert tiny > 0.5 and large < 1e-20
    # The baseline's own size counts: the same week against a baseline of 3 events proves less.
    week, expected = np.array([12.0]), np.array([1_000.0])
    small_base = stats.count_test(week, expected, np.array([0.004]), phi, np.array([750.0]))[0]
    big_base = stats.count_test(week, expected, np.array([0.004]), phi, np.array([75_000.0]))[0]
    assert big_base < 0.01 < small_base


def test_trend_found_by_theil_sen_and_mann_kendall_and_noise_not():
    growing = {"c0": dict(BIG, effects={w: {"volume": 1 + 0.03 * w} for w in range(WEEKS)})}
    flat = {f"c{i}": dict(BIG) for i in range(1, 4)}
    findings = detect_findings(_frame(growing | flat))
    trends = [f for f in findings if f.kind == "trend" and f.metric == "spend" and f.scope == "campaign"]
    assert [f.campaign_id for f in trends] == ["c0"]
    assert trends[0].direction == "up" and trends[0].supporting["kendall_tau"] > 0.5
    slope, _, tau, p = stats.theil_sen_mann_kendall(np.array([1.0, 2, 3, 4, 100, 6, 7, 8]))
    assert slope == pytest.approx(1.0) and p < 0.01  # one outlier does not bend the slope


def test_week_over_week_change_and_opportunity():
    campaigns = {f"c{i}": dict(BIG) for i in range(4)}
    campaigns["c3"] = dict(BIG, cvr=0.02)  # a fifth of the others' conversion rate: ROAS far below
    campaigns["c0"]["effects"] = {WEEKS - 1: {"volume": 2.0}}
    findings = detect_findings(_frame(campaigns))
    changes = [f for f in findings if f.kind == "change" and f.campaign_id == "c0" and f.metric == "spend"]
    assert changes and changes[0].supporting["comparison"] == "wow" and changes[0].direction == "up"
    opportunities = [f for f in findings if f.kind == "opportunity"]
    assert [(f.campaign_id, f.direction) for f in opportunities] == [("c3", "down")]
    assert opportunities[0].supporting["roas"] < opportunities[0].supporting["advertiser_roas"] / 2


def test_provisional_weeks_are_flagged_and_lower_the_confidence():
    campaigns = {f"c{i}": dict(BIG) for i in range(5)}
    campaigns["c0"]["effects"] = {WEEKS - 1: {"volume": 3.0}}
    settled = _anomalies(detect_findings(_frame(campaigns)), campaign_id="c0")
    provisional = _anomalies(detect_findings(_frame(campaigns, provisional_last=2)), campaign_id="c0")
    assert len(settled) == len(provisional) == 1
    assert not settled[0].provisional and provisional[0].provisional
    assert provisional[0].confidence < settled[0].confidence


def test_confidence_comes_from_the_data():
    base = dict(q_value=0.001, history_weeks=12, full_history=12, noise=0.1, provisional_share=0.0, withheld_share=0.0)
    top = confidence(**base)
    assert 0.85 < top < 1
    assert confidence(**base | {"history_weeks": 6}) < top
    assert confidence(**base | {"noise": 0.5}) < top
    assert confidence(**base | {"provisional_share": 1.0}) < top
    assert confidence(**base | {"withheld_share": 0.3}) < top
    assert confidence(**base | {"q_value": 0.04}) < top


def test_window_limits_the_reported_weeks_and_one_instance_at_a_time():
    campaigns = {f"c{i}": dict(BIG) for i in range(5)}
    campaigns["c0"]["effects"] = {30: {"volume": 3.0}}
    frame = _frame(campaigns)
    assert not _anomalies(detect_findings(frame, first_week=FIRST + timedelta(weeks=31)), metric="spend")
    assert detect_findings(frame.iloc[0:0]) == []
    with pytest.raises(ValueError, match="one instance"):
        detect_findings(pd.concat([frame, frame.assign(instance_id="amcother0001")]))
