"""Bad input to ``amc run`` is refused before any AMC call, with a message naming the problem.

Each case runs the real command against the session's sandbox and database; the sandbox's stats
must not move (no API call, no execution).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from amc_pipelines.commands.run import run
from amc_pipelines.db import get_engine
from amc_pipelines.registry import InstanceSpec, upsert_discovered
from amc_pipelines_tests.ledger.conftest import CREDENTIALS, LedgerEnv, register_sandbox_instances

DISABLED = "amcdisabled0001"
GOOD_SQL = ("SELECT ad_product_type AS ad_product, SUM(impressions) AS impressions FROM sponsored_ads_traffic "
            "WHERE ARRAY_CONTAINS(CUSTOM_PARAMETER('campaign_ids'), campaign_id) AND impressions >= "
            "CUSTOM_PARAMETER('min_impressions') GROUP BY ad_product_type")
GOOD_YAML = """\
name: ledger_probe
title: Probe
description: A report for input checks.
owner: tests@example.com
parameters:
  - {name: campaign_ids, type: "array<long>", required: true, min_items: 1}
  - {name: min_impressions, type: integer, default: 0, minimum: 0}
output_columns:
  - {name: ad_product, type: string, kind: dimension}
  - {name: impressions, type: integer, kind: metric, role: impressions}
schedule:
  cron: "0 6 * * 2"
"""


def _catalog(yaml_text: str = GOOD_YAML, sql_text: str = GOOD_SQL) -> dict[str, str]:
    return {"ledger_probe.yaml": yaml_text, "ledger_probe.sql": sql_text}


# (case id, arguments after REPORT --instance ID given as a template, catalog files, expected text)
# {week}: a settled collectable week start; {tuesday}: the day after it; {recent}: the current week;
# {ancient}: a week start 2 years back.
CASES = [
    ("injection-in-list", ["asin_performance", "--week", "{week}", "--param", "asins=B0ABCDEFGH,x') OR 1=1 --"], None, "asins"),
    ("injection-json-list", ["asin_performance", "--week", "{week}", "--param",
                             'asins=["B0ABCDEFGH", "B0ABCDEFG\'; DROP TABLE x; --"]'], None, "asins"),
    ("bad-asin", ["asin_performance", "--week", "{week}", "--param", "asins=b0abcdefgh"], None, "asins"),
    ("unknown-parameter", ["asin_performance", "--week", "{week}", "--param", "asin=B0ABCDEFGH"], None, "'asin'"),
    ("parameter-twice", ["asin_performance", "--week", "{week}", "--param", "asins=B0ABCDEFGH",
                         "--param", "asins=B0ABCDEFGJ"], None, "twice"),
    ("bad-param-syntax", ["asin_performance", "--week", "{week}", "--param", "asins"], None, "NAME=VALUE"),
    ("missing-required", ["ledger_probe", "--week", "{week}"], _catalog(), "campaign_ids"),
    ("wrong-type", ["ledger_probe", "--week", "{week}", "--param", "campaign_ids=1,2", "--param",
                    "min_impressions=many"], _catalog(), "min_impressions"),
    ("wrong-element-type", ["ledger_probe", "--week", "{week}", "--param", "campaign_ids=12,abc"], _catalog(),
     "campaign_ids"),
    ("below-minimum", ["ledger_probe", "--week", "{week}", "--param", "campaign_ids=1", "--param",
                       "min_impressions=-5"], _catalog(), "min_impressions"),
    ("undeclared-custom-parameter", ["ledger_probe", "--week", "{week}"],
     _catalog(sql_text=GOOD_SQL.replace(" GROUP BY", " AND clicks >= CUSTOM_PARAMETER('min_clicks') GROUP BY")),
     "CUSTOM_PARAMETER('min_clicks') is not declared"),
    ("forbidden-select-star", ["ledger_probe", "--week", "{week}"],
     _catalog(sql_text=GOOD_SQL.replace("SELECT ad_product_type AS ad_product, SUM(impressions) AS impressions",
                                        "SELECT *").replace(" GROUP BY ad_product_type", "")),
     "SELECT * is not supported"),
    ("output-columns-mismatch", ["ledger_probe", "--week", "{week}"],
     _catalog(sql_text=GOOD_SQL.replace("AS impressions", "AS imps")), "impressions"),
    ("malformed-yaml", ["ledger_probe", "--week", "{week}"], _catalog(yaml_text="name: [ledger_probe\n  title: x"),
     "ledger_probe.yaml"),
    ("bad-cron", ["ledger_probe", "--week", "{week}"], _catalog(yaml_text=GOOD_YAML.replace('"0 6 * * 2"', '"61 6 * * 2"')),
     "cron"),
    ("unknown-time-zone", ["ledger_probe", "--week", "{week}"],
     _catalog(yaml_text=GOOD_YAML.replace('cron: "0 6 * * 2"', 'cron: "0 6 * * 2"\n  timezone: Mars/Olympus_Mons')),
     "Mars/Olympus_Mons"),
    ("inside-data-lag", ["asin_performance", "--week", "{recent}"], None, "data lag"),
    ("inside-data-lag-expression", ["asin_performance", "--window", "this_week"], None, "data lag"),
    ("beyond-retention", ["asin_performance", "--week", "{ancient}"], None, "retention"),
    ("end-before-start", ["asin_performance", "--start", "{week}", "--end", "{before_week}"], None, "not after start"),
    ("start-without-end", ["asin_performance", "--start", "{week}"], None, "--end"),
    ("not-a-week-start", ["asin_performance", "--week", "{tuesday}"], None, "weeks start on monday"),
    ("two-window-options", ["asin_performance", "--week", "{week}", "--window", "last_week"], None, "exactly one"),
    ("no-window", ["asin_performance"], None, "exactly one"),
    ("bad-date-format", ["asin_performance", "--week", "2025/01/06"], None, "YYYY-MM-DD"),
    ("impossible-date", ["asin_performance", "--start", "2025-02-30", "--end", "2025-03-03"], None, "2025-02-30"),
    ("zone-suffix", ["asin_performance", "--start", "2025-02-03T00:00:00Z", "--end", "2025-02-10"], None, "zone"),
    ("unknown-window-expression", ["asin_performance", "--window", "last_fortnight"], None, "last_fortnight"),
    ("unknown-report", ["asin_performnce", "--week", "{week}"], None, "did you mean 'asin_performance'"),
    ("unknown-instance", ["asin_performance", "--week", "{week}", "--instance", "amcnosuchone1"], None, "amcnosuchone1"),
    ("disabled-instance", ["asin_performance", "--week", "{week}", "--instance", DISABLED], None, "disabled"),
]


@pytest.fixture(scope="module")
def registered(database_url, sandbox_server, clock) -> LedgerEnv:
    engine = get_engine(database_url)
    register_sandbox_instances(engine, sandbox_server)
    sandbox_instance = sandbox_server.backend.instances[0]
    upsert_discovered(engine, InstanceSpec(
        instance_id=DISABLED, name="Disabled", account_id=sandbox_instance.account_id,
        marketplace_id=sandbox_instance.marketplace_id, region="NA", timezone="UTC"), enabled=False)
    return LedgerEnv(database_url, engine, sandbox_server, Path("unused"), clock)


def _stats(server) -> tuple[int, dict]:
    stats = httpx.get(f"{server.url}/_sandbox/stats", timeout=10).json()
    return stats["executions_created"], stats["calls"]


@pytest.mark.parametrize(("arguments", "catalog_files", "expected"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_bad_input_is_refused_before_any_amc_call(arguments, catalog_files, expected, registered, use_env, tmp_path):
    env = {"AMC_HOME": str(tmp_path / "home"), "AMC_DATABASE_URL": registered.url,
           "AMC_API_URL": registered.server.url, **CREDENTIALS}
    if catalog_files:
        for name, text in catalog_files.items():
            (tmp_path / name).write_text(text)
        env["AMC_CATALOG_DIR"] = str(tmp_path)
    use_env(env)
    week = registered.week(weeks_back=6)
    values = {"week": week.isoformat(), "tuesday": (week + timedelta(days=1)).isoformat(),
              "before_week": (week - timedelta(days=3)).isoformat(),
              "recent": registered.week(weeks_back=-1).isoformat(),
              "ancient": (week - timedelta(weeks=104)).isoformat()}
    arguments = [argument.format(**values) if "{" in argument and "}" in argument and "[" not in argument
                 else argument for argument in arguments]
    if "--instance" not in arguments:
        arguments = [arguments[0], "--instance", registered.instances[0].instance_id, *arguments[1:]]
    before = _stats(registered.server)

    result = CliRunner().invoke(run, arguments)

    assert result.exit_code == 2, result.output
    assert expected in result.output, result.output
    assert "Traceback" not in result.output
    assert _stats(registered.server) == before  # AMC was not asked anything
