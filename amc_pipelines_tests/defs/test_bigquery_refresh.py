"""The BigQuery refresh in Dagster (defs/bigquery_refresh): what the code location declares, and
real materializations in a Dagster instance of the sqp assets and the SQP summaries (dbt) from the
BigQuery stand-in over HTTP into Postgres: first load, a second run that changes nothing, a late
correction flowing into the summaries, and a table stopped by schema drift failing the run by name."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
from sqlalchemy import text

from amc_pipelines.db import get_engine, upgrade
from amc_pipelines.refresh.models import TableConfig
from amc_pipelines.refresh.orchestration import expected_week, loaded_by_earlier_attempt, refresh_schedules
from amc_pipelines.refresh.registry import load_registry
from amc_pipelines_tests.fixtures.bigquery import BIGQUERY_NOW

TABLES = ["asin_performance", "brand_search_query_weekly", "search_query_performance"]
SUMMARIES = ["monthly_summary", "quarterly_summary", "search_performance_summary", "weekly_summary", "yearly_summary"]


def _key(*path: str) -> dg.AssetKey:
    return dg.AssetKey(list(path))


def test_the_code_location_declares_the_refresh_assets_checks_schedule_and_summaries() -> None:
    from amc_pipelines.definitions import defs
    from amc_pipelines.defs.aggregates import amc_marts
    from amc_pipelines.defs.bigquery_refresh import REFRESH_RETRY, bigquery_refresh

    repo = defs.get_repository_def()
    graph = repo.asset_graph
    for name in TABLES:
        node = graph.get(_key("sqp", name))
        assert node.group_name == "bigquery_refresh" and set(node.kinds) >= {"bigquery", "postgres"}
        assert {check.name for check in node.check_keys} == {"shadow_matches_live", "newest_week_fresh"}
        fresh = graph.get(dg.AssetCheckKey(_key("sqp", name), "newest_week_fresh"))
        assert fresh.automation_condition.get_label() == "hourly_once_loaded"
    assert graph.get(_key("sqp", "brand_search_query_weekly")).parent_keys == {_key("sqp", "search_query_performance")}
    assert bigquery_refresh.can_subset and bigquery_refresh.op.pool == "bigquery"
    assert all(spec.skippable for spec in bigquery_refresh.specs)
    assert (REFRESH_RETRY.backoff, REFRESH_RETRY.jitter) == (dg.Backoff.EXPONENTIAL, dg.Jitter.PLUS_MINUS)
    assert bigquery_refresh.op.retry_policy == REFRESH_RETRY

    # One schedule for the one cron of the built-in tables, at the highest priority of its tables (ASIN: 20).
    schedule = repo.get_schedule_def("bigquery_refresh_0_2_x_x_x")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * *", "UTC")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    job = repo.get_job(schedule.job_name)
    assert job.tags["dagster/priority"] == "20"
    assert set(job.asset_layer.selected_asset_keys) == {_key("sqp", name) for name in TABLES}

    # The summaries: their own unpartitioned dbt assets after the sqp tables, evaluated by a running sensor;
    # the week-partitioned marts do not include them.
    for name in SUMMARIES:
        node = graph.get(_key("sqp_summary", name))
        assert node.partitions_def is None and node.group_name == "bigquery_refresh"
        assert node.automation_condition.get_label() == "after_sqp_tables_update"
        assert _key("sqp", "search_query_performance") in node.parent_keys
        assert not any(key.path[0] == "sqp_summary" for key in amc_marts.keys)
    assert graph.get(_key("sqp_summary", "search_performance_summary")).parent_keys == {
        _key("sqp", "search_query_performance"), _key("sqp", "asin_performance")}
    sensor = repo.get_sensor_def("bigquery_refresh_automation")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    targeted = sensor.asset_selection.resolve(graph)
    assert {_key("sqp_summary", name) for name in SUMMARIES} <= targeted
    assert dg.AssetCheckKey(_key("sqp", "asin_performance"), "newest_week_fresh") in sensor.asset_selection.resolve_checks(graph)
    assert "bigquery" in repo.get_top_level_resources()


def test_the_code_location_imports_no_bigquery_client() -> None:
    """google-cloud-bigquery and pandas cost every run process ~2 s: only a refresh run loads them."""
    probe = ("import sys, amc_pipelines.definitions; "
             "print(sorted(m for m in ('pandas', 'google.cloud.bigquery', 'dagster_gcp') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"


def test_one_schedule_per_cron_at_its_tables_highest_priority() -> None:
    registry = load_registry()

    def changed(name: str, **values) -> TableConfig:
        return registry[name].model_copy(update=values)

    custom = {"a": changed("asin_performance", schedule="0 6 * * 1", priority=-5),
              "b": changed("search_query_performance", schedule="0 6 * * 1", priority=40),
              "c": changed("brand_search_query_weekly", priority=0)}
    schedules = refresh_schedules(custom)
    assert [(s.cron, s.tables, s.priority, s.name) for s in schedules] == [
        ("0 2 * * *", ("brand_search_query_weekly",), 0, "bigquery_refresh_0_2_x_x_x"),
        ("0 6 * * 1", ("asin_performance", "search_query_performance"), 40, "bigquery_refresh_0_6_x_x_1")]


@pytest.mark.parametrize(("now", "week", "refresh"), [
    # The week of Sunday 1 March ended on Saturday 7 March; 3 days later (Wednesday 00:00) it is due,
    # so the 02:00 refresh of Wednesday must have it from 04:00 (2 hours to run) on.
    (datetime(2026, 3, 11, 12, tzinfo=UTC), date(2026, 3, 1), datetime(2026, 3, 11, 2, tzinfo=UTC)),
    (datetime(2026, 3, 11, 4, tzinfo=UTC), date(2026, 3, 1), datetime(2026, 3, 11, 2, tzinfo=UTC)),
    (datetime(2026, 3, 11, 3, 59, tzinfo=UTC), date(2026, 2, 22), datetime(2026, 3, 10, 2, tzinfo=UTC)),
    (datetime(2026, 3, 8, 23, tzinfo=UTC), date(2026, 2, 22), datetime(2026, 3, 8, 2, tzinfo=UTC)),
])
def test_the_expected_week_follows_the_schedule_and_the_landing_delay(now, week, refresh) -> None:
    assert expected_week("0 2 * * *", now) == (week, refresh)


# ---- real materializations -------------------------------------------------------------------------

@pytest.fixture
def refresh_env(make_database, bigquery_sandbox, use_env, tmp_path):
    from amc_pipelines.defs.aggregates import defs as aggregates_defs
    from amc_pipelines.defs.bigquery_refresh import bigquery_client_resource
    from amc_pipelines.defs.resources import DatabaseResource

    url = make_database()
    upgrade(url)
    use_env({"AMC_HOME": str(tmp_path / "home"), "AMC_DATABASE_URL": url,
             "AMC_BIGQUERY_ENDPOINT": bigquery_sandbox.server.url})
    resources = {"database": DatabaseResource(url=url), "bigquery": bigquery_client_resource,
                 "dbt": aggregates_defs.resources["dbt"]}
    return url, get_engine(url), bigquery_sandbox, resources


def _materialize(instance, resources, **kwargs) -> dg.ExecuteInProcessResult:
    from amc_pipelines.defs.bigquery_refresh import (
        bigquery_refresh,
        bigquery_refresh_freshness,
        sqp_summaries,
    )

    return dg.materialize([bigquery_refresh, bigquery_refresh_freshness, sqp_summaries], instance=instance,
                          resources=resources, **kwargs)


def _table_metadata(result) -> dict[str, dict]:
    return {e.asset_key.path[1]: {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events() if e.asset_key.path[0] == "sqp"}


def _summary_week(engine, account: str, week: str) -> tuple[int, int]:
    with engine.connect() as conn:
        summary = conn.execute(text("SELECT asin_click_count FROM sqp_summary.weekly_summary "
                                    "WHERE account_id = :a AND period_start = :w"), {"a": account, "w": week}).scalar_one()
        table = conn.execute(text("SELECT sum(asin_click_count) FROM sqp.search_query_performance "
                                  "WHERE account_id = :a AND start_date = :w"), {"a": account, "w": week}).scalar_one()
    return summary, table


@pytest.mark.slow
def test_refresh_assets_load_the_tables_and_build_the_summaries_then_change_nothing_then_pick_up_a_correction(
        refresh_env, clock) -> None:
    url, engine, sandbox, resources = refresh_env
    with clock.moved_to(BIGQUERY_NOW), dg.instance_for_test() as instance:
        first = _materialize(instance, resources)
        assert first.success
        loaded = _table_metadata(first)
        assert sorted(loaded) == TABLES
        for name, metadata in loaded.items():
            assert metadata["mode"] == "live" and metadata["target"] == f"sqp.{name}" and metadata["status"] == "success"
            assert metadata["rows_inserted"] == metadata["rows_read"] > 0 and metadata["job_id"]
            assert metadata["bytes_processed"] > 0 and metadata["duration_seconds"] > 0 and metadata["peak_memory_bytes"] > 0
        assert loaded["search_query_performance"]["rows_inserted"] == 4992
        built = {e.asset_key for e in first.get_asset_materialization_events() if e.asset_key.path[0] == "sqp_summary"}
        assert built == {_key("sqp_summary", name) for name in SUMMARIES}
        checks = first.get_asset_check_evaluations()
        failed = [c.asset_check_key.to_user_string() for c in checks if not c.passed]
        assert not failed, failed
        fresh = {c.asset_key.path[1]: c for c in checks if c.check_name == "newest_week_fresh"}
        assert sorted(fresh) == TABLES
        assert fresh["search_query_performance"].metadata["expected_week"].value == "2026-03-01"
        assert any(c.check_name == "weekly_summary_sums_match_source" for c in checks)
        with engine.connect() as conn:
            runs = conn.execute(text("SELECT count(*) FROM refresh.runs WHERE triggered_by = :r AND status = 'success'"),
                                {"r": first.run_id}).scalar_one()
        assert runs == 3
        # What a retry of that run would leave out: every table it loaded.
        assert loaded_by_earlier_attempt(engine, first.run_id) == set(TABLES)

        # Nothing changed at the source: every table reports nothing inserted, updated or deleted.
        second = _table_metadata(_materialize(instance, resources))
        assert {name: (m["rows_inserted"], m["rows_updated"], m["rows_deleted"]) for name, m in second.items()} == {
            name: (0, 0, 0) for name in TABLES}
        assert second["search_query_performance"]["rows_read"] > 0  # the overlap was read again

        # A late correction of a year-old week (stamped inside the 3-day overlap) reaches the table and the summary.
        with engine.connect() as conn:
            account, asin = conn.execute(text("SELECT account_id, asin FROM sqp.search_query_performance "
                                              "WHERE start_date = '2025-03-02' ORDER BY 1, 2 LIMIT 1")).one()
            watermark = conn.execute(text("SELECT watermark FROM refresh.table_state "
                                          "WHERE table_name = 'search_query_performance'")).scalar_one()
        before, _ = _summary_week(engine, account, "2025-03-02")
        corrected = sandbox.control("corrections", {"table": "search_query_performance", "start_date": "2025-03-02",
                                                    "asin": asin, "factor": 1.5,
                                                    "at": (watermark - timedelta(days=1)).isoformat()})
        assert corrected["rows_changed"] > 0
        third = _materialize(instance, resources)
        assert third.success
        late = _table_metadata(third)
        assert late["search_query_performance"]["rows_updated"] == corrected["rows_changed"]
        assert late["search_query_performance"]["weeks_changed"] == {
            "2025-03-02": {"read": 48, "inserted": 0, "updated": corrected["rows_changed"], "deleted": 0}}
        assert late["brand_search_query_weekly"]["rows_updated"] > 0  # its query reads the corrected rows
        assert (late["asin_performance"]["rows_inserted"], late["asin_performance"]["rows_updated"]) == (0, 0)
        after, in_table = _summary_week(engine, account, "2025-03-02")
        assert after == in_table > before


@pytest.mark.slow
def test_a_table_stopped_by_schema_drift_fails_the_run_by_name_and_the_others_load(refresh_env, clock) -> None:
    url, engine, sandbox, resources = refresh_env
    with clock.moved_to(BIGQUERY_NOW), dg.instance_for_test() as instance:
        assert _materialize(instance, resources).success
        sandbox.control("schema", {"table": "asin_performance", "drop": "page_views"})
        result = _materialize(instance, resources, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = failure.step_failure_data.error.message if failure.step_failure_data.error else ""
    description = failure.step_failure_data.user_failure_data.description
    assert "asin_performance" in description and "page_views" in description, (description, message)
    assert failure.step_failure_data.user_failure_data.metadata["failed_tables"].value == "asin_performance"
    # Not retried: drift fails the same way until the config or the source changes.
    assert not [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert sorted(_table_metadata(result)) == ["brand_search_query_weekly", "search_query_performance"]


def test_automation_builds_summaries_after_a_live_copy_only_and_judges_freshness_hourly_once_loaded() -> None:
    from amc_pipelines.defs.aggregates import defs as aggregates_defs
    from amc_pipelines.defs.bigquery_refresh import defs as refresh_defs
    from amc_pipelines.defs.bigquery_refresh import sqp_summaries
    from amc_pipelines.defs.resources import DatabaseResource

    defs = dg.Definitions.merge(refresh_defs, dg.Definitions(
        resources={"database": DatabaseResource(), "dbt": aggregates_defs.resources["dbt"]}))
    table = _key("sqp", "search_query_performance")
    t0 = BIGQUERY_NOW  # 12:00

    def evaluate(previous, minutes: int):
        return dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=t0 + timedelta(minutes=minutes),
                                                 cursor=previous.cursor if previous else None)

    with dg.instance_for_test() as instance:
        start = evaluate(None, 0)
        assert start.total_requested == 0
        # A dry run or shadow run reports an observation: sqp.<t> did not change.
        instance.report_runless_asset_event(dg.AssetObservation(asset_key=table))
        observed = evaluate(start, 1)
        assert observed.total_requested == 0
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=table))
        copied = evaluate(observed, 2)
        assert {key for key in sqp_summaries.keys if copied.get_num_requested(key)} == set(sqp_summaries.keys)
        again = evaluate(copied, 3)
        assert again.total_requested == 0  # requested once per update
        # At half past, the freshness check of the table Dagster has loaded is due; never-loaded ones are not.
        hourly = evaluate(again, 31)
        assert {r.key for r in hourly.results if r.true_subset.size} == {dg.AssetCheckKey(table, "newest_week_fresh")}


@pytest.mark.slow
def test_a_shadow_run_is_an_observation_with_its_validation_as_a_check(refresh_env, clock) -> None:
    from amc_pipelines.defs.bigquery_refresh import bigquery_refresh
    from amc_pipelines.refresh.overrides import set_table

    url, engine, sandbox, resources = refresh_env
    table = _key("sqp", "asin_performance")
    with clock.moved_to(BIGQUERY_NOW), dg.instance_for_test() as instance:
        assert dg.materialize([bigquery_refresh], instance=instance, resources=resources, selection=[table]).success
        set_table(engine, load_registry(), "asin_performance", by="pytest", mode="shadow")
        result = dg.materialize([bigquery_refresh], instance=instance, resources=resources, selection=[table])
    assert result.success
    assert not result.get_asset_materialization_events()  # sqp.asin_performance did not change
    observed = [e for e in result.all_events if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION]
    assert [e.asset_key for e in observed] == [table]
    metadata = observed[0].asset_observation_data.asset_observation.metadata
    assert (metadata["mode"].value, metadata["target"].value) == ("shadow", "sqp_shadow.asin_performance")
    [check] = result.get_asset_check_evaluations()
    assert (check.asset_key, check.check_name, check.passed) == (table, "shadow_matches_live", True)
    assert check.metadata["validation_id"].value > 0
