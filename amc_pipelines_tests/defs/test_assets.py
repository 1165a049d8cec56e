"""Report assets materialized in-process on a real Dagster instance against the sandbox and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import dagster as dg
import pytest

from amc_pipelines import ledger
from amc_pipelines.catalog import load_catalog
from amc_pipelines.catalog.definitions import implicit_definition
from amc_pipelines.defs.instances import amc_instances_partitions
from amc_pipelines.defs.reports import catalog, definitions, partitions
from amc_pipelines.defs.reports.assets import build_report_asset, report_asset_key
from amc_pipelines.defs.reports.checks import DUPLICATES_CHECK, ROWS_CHECK, SCHEMA_CHECK
from amc_pipelines.defs.resources import AmcClientResource, DatabaseResource

REPORT = "campaign_performance"


def _materialize(asset: dg.AssetsDefinition, env, instance: dg.DagsterInstance, instance_id: str, week: str):
    return dg.materialize(
        [asset], instance=instance, raise_on_error=False,
        partition_key=dg.MultiPartitionKey({"week": week, "instance": instance_id}),
        resources={"database": DatabaseResource(url=env.url), "amc": AmcClientResource()},
    )


def _materialization(result: dg.ExecuteInProcessResult) -> dg.AssetMaterialization:
    (event,) = result.get_asset_materialization_events()
    return event.event_specific_data.materialization


@pytest.fixture
def env(make_ledger_env, use_env):
    env = make_ledger_env()
    use_env(env.env())
    return env


def test_two_weeks_load_with_metadata_and_checks_then_rematerialize_without_new_executions(env):
    asset = build_report_asset(definitions[REPORT], partitions)
    instance_id = env.instances[0].instance_id
    weeks = [env.week(weeks_back=6).isoformat(), env.week(weeks_back=7).isoformat()]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(amc_instances_partitions.name, [instance_id])
        first = {}
        for week in weeks:
            result = _materialize(asset, env, instance, instance_id, week)
            assert result.success
            metadata = _materialization(result).metadata
            first[week] = metadata
            assert metadata["how"].value == "submitted"
            assert metadata["amc_execution_id"].value
            assert metadata["workflow_id"].value == catalog[REPORT].workflow_id
            assert metadata["rows"].value == metadata["dagster/row_count"].value > 0
            assert metadata["checksum"].value and metadata["files"].value >= 1 and metadata["api_calls"].value > 0
            assert metadata["provisional"].value is False
            assert week in metadata["window"].value
            assert [c.name for c in metadata["dagster/column_schema"].schema.columns] == catalog[REPORT].column_names
            assert metadata["preview"].value.startswith("| ad_product | campaign_id |")
            checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
            assert set(checks) == {SCHEMA_CHECK, DUPLICATES_CHECK, ROWS_CHECK}
            assert all(check.passed for check in checks.values())
            assert checks[ROWS_CHECK].severity == dg.AssetCheckSeverity.ERROR  # rows present: no warning
        assert env.stats()["executions_created"] == 2
        assert first[weeks[0]]["amc_execution_id"].value != first[weeks[1]]["amc_execution_id"].value

        # Again: the ledger reuses both loads, AMC sees nothing.
        calls = sum(env.stats()["calls"].values())
        for week in weeks:
            result = _materialize(asset, env, instance, instance_id, week)
            assert result.success
            metadata = _materialization(result).metadata
            assert metadata["how"].value == "reused"
            assert metadata["amc_execution_id"].value == first[week]["amc_execution_id"].value
            assert metadata["rows"].value == first[week]["rows"].value
        assert env.stats()["executions_created"] == 2
        assert sum(env.stats()["calls"].values()) == calls
        # Each week x instance keeps its own materialization in Dagster.
        materialized = instance.get_materialized_partitions(report_asset_key(REPORT))
        assert materialized == {dg.MultiPartitionKey({"week": w, "instance": instance_id}) for w in weeks}


def _failures(result: dg.ExecuteInProcessResult) -> list[str]:
    return [e.step_failure_data.user_failure_data.description for e in result.get_step_failure_events()
            if e.step_failure_data.user_failure_data is not None]


def _retries(result: dg.ExecuteInProcessResult) -> int:
    return sum(1 for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY")


def test_a_rejected_query_fails_its_partition_at_once(env, tmp_path, use_env):
    (tmp_path / "select_star.sql").write_text("SELECT * FROM dsp_impressions\n")
    (tmp_path / "select_star.yaml").write_text(
        "name: select_star\ntitle: Everything\ndescription: A query AMC refuses.\nowner: analytics@agency.example\n"
        "output_columns:\n  - {name: impressions, type: integer, kind: metric}\n"
    )
    use_env(env.env(AMC_CATALOG_DIR=str(tmp_path)))
    spec = load_catalog(tmp_path, check_sql=False)["select_star"]
    asset = build_report_asset(implicit_definition(spec), partitions)
    instance_id = env.instances[0].instance_id
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(amc_instances_partitions.name, [instance_id])
        result = _materialize(asset, env, instance, instance_id, env.week(weeks_back=6).isoformat())
    assert not result.success
    (message,) = _failures(result)
    assert "reject" in message.lower()
    assert _retries(result) == 0
    (record,) = ledger.list_executions(env.engine, report="select_star")
    assert record.status == "REJECTED"
    assert env.stats()["executions_created"] <= 1


def test_a_week_inside_the_data_lag_fails_fast_without_asking_amc(env, clock):
    # The newest week partition is inside the data lag only on the two days after it ends, so the
    # test moves the clock to the Monday noon (UTC) of this week: the week that ended then exists as a
    # partition and, in every instance zone, is less than 48 h old.
    today = clock.now()
    monday_noon = datetime.combine(today.date() - timedelta(days=today.weekday()), time(12), tzinfo=UTC)
    asset = build_report_asset(definitions[REPORT], partitions)
    instance_id = env.instances[0].instance_id
    too_new = (monday_noon - timedelta(weeks=1)).date().isoformat()
    with clock.moved_to(monday_noon), dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(amc_instances_partitions.name, [instance_id])
        assert partitions.get_partitions_def_for_dimension("week").get_last_partition_key() == too_new
        result = _materialize(asset, env, instance, instance_id, too_new)
    assert not result.success
    (message,) = _failures(result)
    assert "data lag" in message and instance_id in message
    assert _retries(result) == 0
    assert sum(env.stats()["calls"].values()) == 0


def _custom_report(directory, name: str, sql: str, yaml_tail: str):
    (directory / f"{name}.sql").write_text(sql)
    (directory / f"{name}.yaml").write_text(
        f"name: {name}\ntitle: {name}\ndescription: A test report.\nowner: analytics@agency.example\n" + yaml_tail)
    return load_catalog(directory)[name]  # valid AMC SQL


def _rows_check_of_one_week(env, spec, use_env, directory):
    use_env(env.env(AMC_CATALOG_DIR=str(directory)))
    instance_id = env.instances[0].instance_id
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(amc_instances_partitions.name, [instance_id])
        result = _materialize(build_report_asset(implicit_definition(spec), partitions), env, instance, instance_id,
                              env.week(weeks_back=6).isoformat())
    assert result.success  # a warning blocks nothing
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks[SCHEMA_CHECK].passed and checks[DUPLICATES_CHECK].passed
    return _materialization(result).metadata["dagster/row_count"].value, checks[ROWS_CHECK]


def test_a_week_without_rows_and_without_an_explanation_fails_its_row_check_with_a_warning(env, tmp_path, use_env):
    spec = _custom_report(
        tmp_path, "no_rows",
        "SELECT campaign, SUM(impressions) AS impressions FROM dsp_impressions WHERE impressions < 0 GROUP BY campaign\n",
        "output_columns:\n  - {name: campaign, type: string, kind: dimension}\n"
        "  - {name: impressions, type: integer, kind: metric}\n")
    rows, check = _rows_check_of_one_week(env, spec, use_env, tmp_path)
    assert rows == 0
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "nothing says why" in check.description and "discriminator_column" in check.description
    assert check.metadata["privacy_filtered_rows"].value == "not reported"


def test_a_week_whose_rows_are_all_under_the_privacy_threshold_passes_with_a_warning(env, tmp_path, use_env):
    # impression_dt_utc has AMC's MEDIUM threshold (100 users per row): no second of the week has that many.
    spec = _custom_report(
        tmp_path, "per_second",
        "SELECT impression_dt_utc, SUM(impressions) AS impressions FROM dsp_impressions GROUP BY impression_dt_utc\n",
        "output_columns:\n  - {name: impression_dt_utc, type: timestamp, kind: dimension}\n"
        "  - {name: impressions, type: integer, kind: metric}\n  - {name: filtered, type: boolean, kind: dimension}\n"
        "privacy: {behavior: REMOVE_VALUES, discriminator_column: filtered}\n")
    rows, check = _rows_check_of_one_week(env, spec, use_env, tmp_path)
    assert rows > 0
    assert check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "aggregation threshold" in check.description and "filtered" in check.description
    assert check.metadata["privacy_filtered_rows"].value == rows


def test_every_report_definition_is_an_asset_with_its_schedule() -> None:
    from amc_pipelines.definitions import defs

    repo = defs.get_repository_def()
    assert set(catalog) < set(definitions)  # each template's implicit definition, and the built-in examples
    for name, definition in definitions.items():
        spec = definition.template
        key = report_asset_key(name)
        asset_spec = repo.assets_defs_by_key[key].specs_by_key[key]
        assert (asset_spec.group_name, asset_spec.owners, asset_spec.kinds) == (
            "amc_reports", [definition.owner], {"amc", "postgres"})
        assert asset_spec.metadata["template"] == spec.name
        assert asset_spec.metadata["parameters_hash"] == definition.parameters_hash
        assert asset_spec.metadata["dagster/table_name"] == f"amc_results.{spec.name}"
        assert repo.assets_defs_by_key[key].op.pool == "amc"
        assert [c.name for c in asset_spec.metadata["dagster/column_schema"].columns] == spec.column_names
        assert {c.name for c in repo.assets_defs_by_key[key].check_keys} == {SCHEMA_CHECK, DUPLICATES_CHECK, ROWS_CHECK}
        assert repo.has_schedule_def(f"{name}_schedule")
    assert repo.has_schedule_def("amc_settle_schedule") and repo.has_sensor_def("amc_execution_sensor")
