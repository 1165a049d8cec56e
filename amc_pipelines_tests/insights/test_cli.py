"""The end-to-end path at small scale (campaign_performance run through the runner -> Postgres -> dbt
marts -> reader -> findings) and ``amc insights detect`` (JSON and text output, refusals)."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from sqlalchemy import text

from amc_pipelines_tests.insights.test_detectors import BIG, _frame

pytestmark = pytest.mark.slow  # a dbt run
CONSTRUCTED = "amcinsights0001"


def _amc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "amc_pipelines.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def built(marts_env):
    """The marts of the fixture's loaded weeks, plus a registered instance whose fct_campaign_week
    rows are a constructed 40-week series with one spend spike (the marts are tables: rows can be added)."""
    from amc_pipelines.registry import InstanceSpec, add_instance

    marts_env.dbt("build", "--select", "+fct_campaign_week", "+fct_instance_week", "--exclude", "resource_type:test")
    add_instance(marts_env.engine, InstanceSpec(instance_id=CONSTRUCTED, name="Constructed", account_id="ENTITYINSIGHTS1",
                                                marketplace_id="ATVPDKIKX0DER", region="NA", timezone="America/New_York"))
    campaigns = {f"c{i}": dict(BIG) for i in range(5)}
    campaigns["c0"]["effects"] = {30: {"volume": 3.0}}
    frame = _frame(campaigns).assign(instance_id=CONSTRUCTED, currency="USD")
    base = ["impressions", "clicks", "spend", "purchases", "sales", "ntb_purchases", "ntb_sales"]
    with marts_env.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO marts.fct_campaign_week (instance_id, week_start, currency, ad_product, campaign_id, campaign, "
            + ", ".join(base) + ", privacy_withheld_days, provisional) VALUES (:instance_id, :week_start, :currency, "
            ":ad_product, :campaign_id, :campaign, " + ", ".join(f":{c}" for c in base)
            + ", :privacy_withheld_days, :provisional)"), frame.to_dict("records"))
        weekly = frame.groupby("week_start", as_index=False)[base].sum().assign(instance_id=CONSTRUCTED)
        conn.execute(text("INSERT INTO marts.fct_instance_week (instance_id, week_start, currency, campaigns, "
                          + ", ".join(base) + ", privacy_withheld_days, has_rows, provisional) VALUES (:instance_id, "
                          ":week_start, 'USD', 5, " + ", ".join(f":{c}" for c in base) + ", 0, true, false)"),
                     weekly.to_dict("records"))
    return marts_env, frame


def test_reports_to_marts_to_findings_matches_the_replay(built, sandbox_dataset, clock):
    from amc_pipelines.insights.detect import detect_findings
    from amc_pipelines.insights.reader import load_marts
    from amc_pipelines.insights.replay import sandbox_campaign_weeks

    env, _ = built
    instance_id, weeks = env.instance_ids[0], env.weeks
    marts = load_marts(env.engine, instance_id, weeks[0], weeks[-1])
    assert (marts.first_week, marts.last_week) == (weeks[0], weeks[-1])
    loaded = marts.campaign_weeks
    assert sorted(set(loaded["week_start"])) == sorted(weeks) and loaded["provisional"].any()
    # The replay (what the planted-anomaly test reads) equals the marts built from the loaded reports.
    replay, _, _ = sandbox_campaign_weeks(sandbox_dataset, instance_id, weeks=8, now=clock.now())
    replay = replay[replay["week_start"].isin(weeks)]
    key = ["week_start", "ad_product", "campaign_id"]
    measures = ["impressions", "clicks", "spend", "purchases", "sales", "ntb_purchases", "privacy_withheld_days"]
    left = loaded.set_index(key)[measures].astype(float).sort_index()
    right = replay.set_index(key)[measures].astype(float).sort_index()
    pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-9)
    # Three weeks are all warm-up: no anomaly can be claimed yet, but the path runs and serialises.
    findings = detect_findings(loaded, first_week=weeks[0], last_week=weeks[-1])
    assert not [f for f in findings if f.kind == "anomaly"]
    json.dumps([f.to_json() for f in findings])


def test_detect_prints_findings_as_json_and_text(built):
    env, frame = built
    weeks = sorted(frame["week_start"].unique())
    result = _amc(env.ledger.env(), "insights", "detect", "--instance", CONSTRUCTED, "--json")
    assert result.returncode == 0, result.stderr
    findings = [json.loads(line) for line in result.stdout.splitlines()]
    spikes = [f for f in findings if f["kind"] == "anomaly" and f["metric"] == "spend"]
    assert [(f["campaign_id"], f["campaign"], f["week_start"], f["direction"]) for f in spikes] == [
        ("c0", "Campaign c0", weeks[30].isoformat(), "up")]
    for finding in findings:
        assert {"kind", "metric", "campaign_id", "campaign", "week_start", "direction", "magnitude",
                "confidence", "weeks", "supporting", "provisional", "instance_id", "ad_product"} <= set(finding)
        assert 0 <= finding["confidence"] <= 1
    # A range without the spike's week reports no spike; text output names the findings.
    before = _amc(env.ledger.env(), "insights", "detect", "--instance", CONSTRUCTED, "--from", weeks[10].isoformat(),
                  "--to", weeks[29].isoformat())
    assert before.returncode == 0, before.stderr
    assert before.stdout.startswith(f"{before.stdout.split()[0]} findings for {CONSTRUCTED}, weeks {weeks[10]} to {weeks[29]}")
    assert "Campaign c0" not in [line for line in before.stdout.splitlines() if line.startswith("anomaly")]


@pytest.mark.parametrize(("args", "message"), [
    (["--instance", "amcnosuchinst1"], "no instance 'amcnosuchinst1' is registered"),
    (["--instance", CONSTRUCTED, "--from", "2026-03-04"], "is a Wednesday: weeks of this instance start on Monday, e.g. 2026-03-02"),
    (["--instance", CONSTRUCTED, "--from", "2026-03-09", "--to", "2026-03-02"], "--from 2026-03-09 is after --to 2026-03-02"),
    (["--instance", CONSTRUCTED, "--to", "next week"], "is not a date"),
    (["--instance", "amcinsightsempty"], "has no weekly marts yet"),
])
def test_detect_refuses_unknown_instances_bad_weeks_and_missing_marts(built, args, message):
    from click.testing import CliRunner

    from amc_pipelines.cli import main
    from amc_pipelines.registry import InstanceSpec, add_instance, list_instances

    env, _ = built
    if "amcinsightsempty" not in {i.instance_id for i in list_instances(env.engine)}:
        add_instance(env.engine, InstanceSpec(instance_id="amcinsightsempty", name="Empty", account_id="ENTITYEMPTY0001",
                                              marketplace_id="ATVPDKIKX0DER", region="NA", timezone="UTC"))
    result = CliRunner().invoke(main, ["insights", "detect", *args], env=env.ledger.env())  # in-process: fast
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert result.stdout == ""
