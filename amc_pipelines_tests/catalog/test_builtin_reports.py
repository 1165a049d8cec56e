"""The built-in report library: every report loads, validates, and runs on the sandbox's AMC SQL engine
over a recent full week, returning rows whose columns are the spec's output columns and whose values
are those of an independent pandas computation (report_references.py)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from amc_pipelines.catalog import BUILTIN_DIR, LOADER_COLUMNS, ReportSpec, load_catalog, load_report
from amc_pipelines.params import (
    amc_input_parameters,
    amc_parameter_values,
    latest_collectable_week,
    week_window,
)
from amc_pipelines.sandbox.sql import InputParameter, QueryRequest, QueryResult, SqlEngine
from amc_pipelines_tests.catalog import report_references as refs
from amc_pipelines_tests.sandbox.example_references import TableReader, Window

REQUIRED_REPORTS = (
    "campaign_performance", "new_to_brand", "reach_frequency", "path_to_conversion", "sp_dsp_overlap",
    "time_to_conversion", "asin_performance",
)
CATALOG = load_catalog()
CANONICAL_ROLES = ("impressions", "clicks", "spend", "purchases", "sales", "ntb_purchases", "ntb_sales")


@pytest.fixture(scope="module")
def engine(sandbox_dataset):
    return SqlEngine(sandbox_dataset)


@pytest.fixture(scope="module")
def instance(sandbox_dataset):
    return sandbox_dataset.instances[0]


def report_week(dataset, instance, *, weeks_back: int = 0):
    """The latest week a 48 h data lag allows at the end of the dataset's last day (or a week before it)."""
    now = datetime.combine(dataset.end_date, time(23, 0), tzinfo=UTC)
    week = latest_collectable_week(now=now, timezone=instance.timezone, week_start="monday", data_lag_hours=48)
    week -= timedelta(weeks=weeks_back)
    assert week - timedelta(days=14) > dataset.start_date
    return week_window(week, timezone=instance.timezone, week_start="monday")


@pytest.fixture(scope="module")
def window(sandbox_dataset, instance):
    return report_week(sandbox_dataset, instance)


def execute(engine, instance, window, spec: ReportSpec, **values) -> QueryResult:
    """Run ``spec`` in the sandbox over ``window`` with the request sent to AMC."""
    request = QueryRequest(
        sql=spec.amc_sql(),  # exactly the text sent to AMC
        time_window_start=window.start,
        time_window_end=window.end,
        time_zone=window.timezone,
        parameter_values=amc_parameter_values(spec.parameters, values),
        input_parameters=[InputParameter.from_api(entry) for entry in amc_input_parameters(spec.parameters)],
        privacy_filtering_behavior=spec.privacy.behavior,
        filtered_metrics_discriminator_column=spec.privacy.discriminator_column,
    )
    return engine.run(request, instance.instance_id)


def run(engine, instance, window, spec: ReportSpec, **values):
    result = execute(engine, instance, window, spec, **values)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows], result.columns


def by_campaign(rows) -> dict:
    """Rows keyed by (ad product, campaign id, and the day where a report has one): AMC output has no
    defined order."""
    return {(row["ad_product"], row["campaign_id"], row.get("event_date")): row for row in rows}


def test_library_has_the_required_reports_each_with_its_own_files():
    assert set(REQUIRED_REPORTS) <= set(CATALOG)
    for name, spec in CATALOG.items():
        assert spec.source_path == BUILTIN_DIR / f"{name}.yaml"
        assert spec.sql_path == BUILTIN_DIR / f"{name}.sql"
        assert spec.description and spec.owner and spec.title
        assert spec.schedule.cron == "0 6 * * 2"
        assert not set(spec.column_names) & set(LOADER_COLUMNS)


def test_campaign_performance_covers_the_canonical_metrics():
    spec = CATALOG["campaign_performance"]
    roles = {c.role: c.name for c in spec.metric_columns if c.role}
    assert set(CANONICAL_ROLES) <= set(roles)
    assert [c.name for c in spec.dimension_columns] == ["ad_product", "campaign_id", "campaign", "event_date",
                                                        "currency", "privacy_filtered"]
    # a campaign-day under AMC's threshold stays a row, flagged, with NULL measures (the marts count them)
    assert (spec.privacy.behavior, spec.privacy.discriminator_column) == ("REMOVE_VALUES", "privacy_filtered")


def test_parameter_declarations():
    asins = CATALOG["asin_performance"].parameters[0]
    assert (asins.name, asins.type.value, asins.pattern, asins.default) == ("asins", "array<string>", "^[A-Z0-9]{10}$", [])
    campaign_ids = CATALOG["campaign_performance"].parameters[0]
    assert (campaign_ids.name, campaign_ids.type.value, campaign_ids.default) == ("campaign_ids", "array<long>", [])


@pytest.mark.parametrize("name", REQUIRED_REPORTS)
def test_report_runs_in_the_sandbox_for_a_recent_week(engine, instance, window, name):
    spec = CATALOG[name]
    rows, columns = run(engine, instance, window, spec)
    assert columns == spec.column_names
    assert rows, f"{name} returned no rows for {window}"
    for row in rows:
        for column in spec.metric_columns:
            value = row[column.name]
            assert value is None or value >= 0, (name, column.name, value)


def test_asin_list_parameter_restricts_the_rows(engine, instance, window):
    spec = CATALOG["asin_performance"]
    every, _ = run(engine, instance, window, spec)
    chosen = every[0]["asin"]
    only, _ = run(engine, instance, window, spec, asins=[chosen])
    assert [row["asin"] for row in only] == [chosen]
    assert only[0] == every[0]


def test_campaign_id_list_parameter_restricts_the_rows(engine, instance, window):
    spec = CATALOG["campaign_performance"]
    every, _ = run(engine, instance, window, spec)
    assert len({row["campaign_id"] for row in every}) > 1
    chosen = every[0]["campaign_id"]
    only, _ = run(engine, instance, window, spec, campaign_ids=str(chosen))
    assert {row["campaign_id"] for row in only} == {chosen}
    assert by_campaign(only) == by_campaign(row for row in every if row["campaign_id"] == chosen)


def test_min_impressions_parameter_leaves_out_small_campaigns(engine, instance, window):
    spec = CATALOG["reach_frequency"]
    every, _ = run(engine, instance, window, spec)
    threshold = sorted(row["impressions"] for row in every)[len(every) // 2]
    above, _ = run(engine, instance, window, spec, min_impressions=threshold)
    assert by_campaign(above) == by_campaign(row for row in every if row["impressions"] >= threshold)
    assert len(above) < len(every)


def test_sql_hash_ignores_comments_and_layout_but_not_the_query(tmp_path):
    spec = CATALOG["new_to_brand"]
    reformatted = "-- same query, other layout\n" + "\n\n".join(spec.sql.split("\n")) + "  ;\n/* trailing */"
    same = spec.model_copy(update={"sql": reformatted})
    assert same.sql_hash == spec.sql_hash and same.workflow_id == spec.workflow_id
    changed = spec.model_copy(update={"sql": spec.sql.replace("total_purchases > 0", "total_purchases > 1")})
    assert changed.sql_hash != spec.sql_hash
    literal = spec.model_copy(update={"sql": spec.sql.replace("'dsp'", "'dsp  -- not a comment'")})
    assert "'dsp  -- not a comment'" in literal.amc_sql()


def test_amc_sql_is_one_line_without_comments_or_semicolon():
    for spec in CATALOG.values():
        text = spec.amc_sql()
        assert "\n" not in text and "--" not in text and not text.endswith(";")
        assert spec.workflow_id == f"{spec.name}-{spec.sql_hash[:12]}"
        assert all(ch.isalnum() or ch in "._-" for ch in spec.workflow_id)


def test_discriminator_column_report_loads_and_runs(tmp_path, engine, instance, window):
    """A REMOVE_VALUES report with a discriminator: AMC appends the boolean column after the select list."""
    (tmp_path / "ntb_values.sql").write_text((BUILTIN_DIR / "new_to_brand.sql").read_text())
    spec_text = (BUILTIN_DIR / "new_to_brand.yaml").read_text().replace("name: new_to_brand", "name: ntb_values")
    spec_text = spec_text.replace(
        "schedule:",
        "  - {name: filtered, type: boolean, kind: dimension}\n"
        "privacy:\n  behavior: REMOVE_VALUES\n  discriminator_column: filtered\nschedule:",
    )
    (tmp_path / "ntb_values.yaml").write_text(spec_text)
    spec = load_report(tmp_path / "ntb_values.yaml")
    rows, columns = run(engine, instance, window, spec)
    assert columns == spec.column_names and columns[-1] == "filtered"
    assert rows and all(isinstance(row["filtered"], bool) for row in rows)


# ---------------------------------------------------------------- checked against pandas


def check_against_pandas(engine, instance, window, connection, spec: ReportSpec, **values) -> None:
    """The engine's answer to the report's SQL equals the pandas reference over the same window."""
    result = execute(engine, instance, window, spec, **values)
    assert result.columns == spec.column_names
    rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    reader = TableReader(connection, instance.schema, Window(window.start, window.end, window.timezone))
    refs.assert_report_matches(spec, rows, result.rows_removed, refs.REFERENCES[spec.name](reader, **values))


@pytest.fixture(scope="module")
def connection(sandbox_dataset):
    connection = sandbox_dataset.connect()
    yield connection
    connection.close()


@pytest.mark.parametrize("name", REQUIRED_REPORTS)
def test_report_matches_pandas(engine, instance, window, connection, name):
    check_against_pandas(engine, instance, window, connection, CATALOG[name])


@pytest.mark.parametrize(("position", "weeks_back"), [(1, 5), (0, 20)], ids=["other instance", "earlier week"])
@pytest.mark.parametrize("name", REQUIRED_REPORTS)
def test_report_matches_pandas_in_other_weeks(engine, sandbox_dataset, connection, name, position, weeks_back):
    """The second instance is in another time zone (Europe/Berlin): its weeks start at another UTC hour."""
    other = sandbox_dataset.instances[position]
    week = report_week(sandbox_dataset, other, weeks_back=weeks_back)
    check_against_pandas(engine, other, week, connection, CATALOG[name])


def test_report_parameters_match_pandas(engine, instance, window, connection):
    campaign_ids = sorted({row["campaign_id"] for row in run(engine, instance, window, CATALOG["campaign_performance"])[0]})
    assert len(campaign_ids) > 1
    check_against_pandas(engine, instance, window, connection, CATALOG["campaign_performance"],
                         campaign_ids=[int(campaign_ids[0])])
    asins = sorted(row["asin"] for row in run(engine, instance, window, CATALOG["asin_performance"])[0])
    check_against_pandas(engine, instance, window, connection, CATALOG["asin_performance"], asins=asins[:1])
    impressions = sorted(row["impressions"] for row in run(engine, instance, window, CATALOG["reach_frequency"])[0])
    check_against_pandas(engine, instance, window, connection, CATALOG["reach_frequency"],
                         min_impressions=impressions[len(impressions) // 2])
