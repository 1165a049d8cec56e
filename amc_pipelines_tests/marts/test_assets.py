"""The dbt assets in Dagster: one report partition loads, automation asks for the same marts partition,
and an in-process materialization of that partition builds the marts with dbt tests as asset checks."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest
from sqlalchemy import text

from amc_pipelines.defs.aggregates import SEED_KEYS, amc_marts, amc_marts_reference, automation_sensor
from amc_pipelines.defs.aggregates import defs as aggregates_defs
from amc_pipelines.defs.instances import amc_instances_partitions
from amc_pipelines.defs.reports import definitions, partitions
from amc_pipelines.defs.reports.assets import build_report_asset
from amc_pipelines.defs.resources import AmcClientResource, DatabaseResource
from amc_pipelines.marts import partition_vars, run_dbt
from amc_pipelines_tests.ledger.conftest import make_ledger_env, use_env

__all__ = ["make_ledger_env", "use_env"]

pytestmark = pytest.mark.slow  # a dbt build; run once in `make test`, not in the clock sweep


def test_a_loaded_report_partition_builds_its_marts_partition_with_checks(make_ledger_env, use_env, tmp_path):
    env = make_ledger_env()
    use_env(env.env())
    instance_id, week = env.instances[0].instance_id, env.week(weeks_back=6).isoformat()
    key = dg.MultiPartitionKey({"week": week, "instance": instance_id})
    report = build_report_asset(definitions["campaign_performance"], partitions)
    resources = {"database": DatabaseResource(url=env.url), "amc": AmcClientResource(),
                 "dbt": aggregates_defs.resources["dbt"]}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(amc_instances_partitions.name, [instance_id])
        # Declarative automation: the seed first (missing), no model; then the report partition loads
        # while the seed is still missing: no model yet, but the load is remembered; once the seed is
        # built, exactly that partition of every model (the sensor evaluates with its cursor the same way).
        automation = dg.Definitions(assets=[report, amc_marts_reference, amc_marts], sensors=[automation_sensor],
                                    resources=resources)
        marts_key = dg.AssetKey(["marts", "fct_campaign_week"])

        def requested_models(evaluation) -> set[str]:
            return {r.key.to_user_string() for r in evaluation.results
                    if r.true_subset.size and r.key not in SEED_KEYS}

        first = dg.evaluate_automation_conditions(defs=automation, instance=instance)
        assert first.get_num_requested(SEED_KEYS[0]) == 1 and not requested_models(first)
        assert dg.materialize([report], instance=instance, partition_key=key, resources=resources).success
        waiting = dg.evaluate_automation_conditions(defs=automation, instance=instance, cursor=first.cursor)
        assert not requested_models(waiting)
        assert dg.materialize([amc_marts_reference], instance=instance, resources=resources).success
        requested = dg.evaluate_automation_conditions(defs=automation, instance=instance, cursor=waiting.cursor)
        assert requested.get_requested_partitions(marts_key) == {week}
        # Every model of the week together, also those that read no report table.
        assert requested_models(requested) == {key.to_user_string() for key in amc_marts.keys}
        assert automation_sensor.default_status == dg.DefaultSensorStatus.RUNNING

        result = dg.materialize([amc_marts], instance=instance, partition_key=week, resources=resources)
        assert result.success
        built = {(e.asset_key.to_user_string(), e.partition) for e in result.get_asset_materialization_events()}
        assert {("marts/fct_campaign_week", week), ("marts/fct_instance_week", week)} <= built
        checks = result.get_asset_check_evaluations()
        assert checks and all(c.passed for c in checks), [c.asset_check_key for c in checks if not c.passed]
        assert any(c.asset_key == marts_key for c in checks)
        reconciled = {c.asset_key.to_user_string() for c in checks if c.check_name.startswith("totals_match_report")}
        assert reconciled == {"marts/fct_campaign_week", "marts/fct_instance_week"}

    with env.engine.connect() as conn:
        raw = conn.execute(text("SELECT sum(impressions), sum(spend)::numeric FROM amc_results.campaign_performance "
                                "WHERE instance_id = :i AND week_start = :w"), {"i": instance_id, "w": week}).one()
        mart = conn.execute(text("SELECT impressions, spend, currency, provisional, has_rows FROM marts.fct_instance_week "
                                 "WHERE instance_id = :i AND week_start = :w"), {"i": instance_id, "w": week}).one()
    assert (mart.impressions, mart.spend, mart.currency, mart.provisional, mart.has_rows) == (
        raw[0], raw[1], "USD", False, True)

    # The reconciliation check fails when the mart and the raw table disagree, naming the week.
    with env.engine.begin() as conn:
        conn.execute(text("UPDATE marts.fct_instance_week SET spend = spend * (1 + 1e-7) "
                          "WHERE instance_id = :i AND week_start = :w"), {"i": instance_id, "w": week})
    result = run_dbt(["test", "--select", "fct_instance_week,test_name:totals_match_report", "--vars",
                      partition_vars([date.fromisoformat(week)])],
                     url=env.url, target_dir=tmp_path / "dbt", capture=True)
    assert result.returncode == 1 and "FAIL 1" in result.stdout, result.stdout[-3000:]
