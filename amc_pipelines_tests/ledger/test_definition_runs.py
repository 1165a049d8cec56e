"""Report definitions through the runner and `amc run`, against the sandbox over HTTP and Postgres:
two definitions of one template load side by side, each equal to an independent pandas computation
for its ASINs; an ad hoc run never replaces a definition's result."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from amc_pipelines.catalog.definitions import configured_definitions
from amc_pipelines.commands.run import run
from amc_pipelines.runner import RunInputError, prepare_run, run_report
from amc_pipelines_tests.catalog import report_references as refs
from amc_pipelines_tests.sandbox.example_references import TableReader, Window

TEMPLATE = "asin_performance"


def _definition(directory, name: str, asins: list[str], instances: str = "all") -> None:
    folder = directory / "definitions"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(
        f"name: {name}\ntemplate: {TEMPLATE}\ndescription: The ASINs of {name}.\n"
        f"parameters: {{asins: {json.dumps(asins)}}}\ninstances: {instances}\n")


def _reference(sandbox_dataset, sandbox_instance, window, asins: list[str]) -> dict[str, dict]:
    """pandas over the sandbox tables: the rows AMC returns for these ASINs (threshold applied), by ASIN."""
    connection = sandbox_dataset.connect()
    try:
        reader = TableReader(connection, sandbox_instance.schema, Window(window.start, window.end, window.timezone))
        frame = refs.asin_performance(reader, asins=asins)
    finally:
        connection.close()
    kept = frame[frame[refs.USERS] >= refs.min_users(TEMPLATE)]
    return {row["asin"]: row for _, row in kept.iterrows()}


def _loaded(env, request) -> dict[str, dict]:
    names = request.report.column_names
    return {row[0]: dict(zip(names, row, strict=True)) for row in _raw_rows(env, request)}


def _raw_rows(env, request) -> list[tuple]:
    from psycopg import sql

    from amc_pipelines.results import rows_of

    where, values = rows_of(request.result_key)
    query = sql.SQL("SELECT {} FROM amc_results.{} WHERE {}").format(
        sql.SQL(", ").join(map(sql.Identifier, request.report.column_names)), sql.Identifier(request.report.name),
        where)
    raw = env.engine.raw_connection()
    try:
        with raw.driver_connection.cursor() as cursor:
            cursor.execute(query, values)
            return cursor.fetchall()
    finally:
        raw.close()


def _assert_equal(spec, loaded: dict[str, dict], reference: dict[str, dict]) -> None:
    assert set(loaded) == set(reference) and loaded
    for asin, row in loaded.items():
        for column in spec.output_columns:
            assert refs.same_value(column.type, row[column.name], reference[asin][column.name]), (asin, column.name)


@pytest.fixture
def two_definitions(make_ledger_env, use_env, sandbox_dataset, tmp_path):
    env = make_ledger_env()
    sandbox_instance = env.instances[0]
    week = env.week(weeks_back=6)
    implicit = prepare_run(env.engine, env.settings, report_name=TEMPLATE, instance_id=sandbox_instance.instance_id,
                           week=week)
    every = _reference(sandbox_dataset, sandbox_instance, implicit.window, [])
    assert len(every) >= 2
    chosen = sorted(every)
    _definition(tmp_path, "brand_a_asins", chosen[:1])
    _definition(tmp_path, "brand_b_asins", chosen[1:2])
    env.overrides["AMC_CATALOG_DIR"] = str(tmp_path)
    use_env(env.env())
    return env, sandbox_instance, week, chosen


def test_two_definitions_of_one_template_load_side_by_side_each_equal_to_pandas(two_definitions, sandbox_dataset):
    env, sandbox_instance, week, chosen = two_definitions
    settings = env.settings
    definitions = configured_definitions(settings)
    requests = {name: prepare_run(env.engine, settings, report_name=name, instance_id=sandbox_instance.instance_id,
                                  week=week, definitions=definitions)
                for name in (TEMPLATE, "brand_a_asins", "brand_b_asins")}
    assert len({r.result_key for r in requests.values()}) == 3 and not any(r.ad_hoc for r in requests.values())
    with env.client() as client:
        for request in requests.values():
            assert run_report(env.engine, settings, client, request).how == "submitted"
    assert env.stats()["executions_created"] == 3

    spec = requests[TEMPLATE].report
    for name, asins in ((TEMPLATE, []), ("brand_a_asins", chosen[:1]), ("brand_b_asins", chosen[1:2])):
        expected = _reference(sandbox_dataset, sandbox_instance, requests[name].window, asins)
        _assert_equal(spec, _loaded(env, requests[name]), expected)
    assert set(_loaded(env, requests["brand_a_asins"])) == set(chosen[:1])
    assert set(_loaded(env, requests["brand_b_asins"])) == set(chosen[1:2])

    # Running one definition again reuses its load and leaves the others' rows alone.
    before = {name: _raw_rows(env, r) for name, r in requests.items()}
    with env.client() as client:
        assert run_report(env.engine, settings, client, requests["brand_a_asins"]).how == "reused"
    assert env.stats()["executions_created"] == 3
    assert {name: _raw_rows(env, r) for name, r in requests.items()} == before


def test_an_ad_hoc_amc_run_of_a_definition_keeps_its_rows_apart(two_definitions, sandbox_dataset):
    env, sandbox_instance, week, chosen = two_definitions
    instance_id = sandbox_instance.instance_id
    args = ["brand_a_asins", "--instance", instance_id, "--week", week.isoformat(), "--json"]
    canonical = CliRunner().invoke(run, args, catch_exceptions=False)
    assert canonical.exit_code == 0, canonical.output
    request = prepare_run(env.engine, env.settings, report_name="brand_a_asins", instance_id=instance_id, week=week)
    rows = _raw_rows(env, request)

    ad_hoc = CliRunner().invoke(run, [*args, "--param", f"asins={chosen[1]}"], catch_exceptions=False)
    assert ad_hoc.exit_code == 0, ad_hoc.output
    assert "ad hoc parameters" in ad_hoc.stderr
    assert env.stats()["executions_created"] == 2
    assert _raw_rows(env, request) == rows  # the definition's result is untouched
    adhoc_request = prepare_run(env.engine, env.settings, report_name="brand_a_asins", instance_id=instance_id,
                                week=week, params={"asins": [chosen[1]]})
    assert adhoc_request.ad_hoc and adhoc_request.result_key.definition == "brand_a_asins"
    _assert_equal(request.report, _loaded(env, adhoc_request),
                  _reference(sandbox_dataset, sandbox_instance, adhoc_request.window, [chosen[1]]))
    # Again: the ad hoc load is reused, AMC sees nothing new.
    again = CliRunner().invoke(run, [*args, "--param", f"asins={chosen[1]}"], catch_exceptions=False)
    assert json.loads(again.stdout)["how"] == "reused" and env.stats()["executions_created"] == 2


def test_a_definition_refuses_an_instance_it_does_not_name(make_ledger_env, use_env, tmp_path):
    env = make_ledger_env()
    first, second = (i.instance_id for i in env.instances[:2])
    _definition(tmp_path, "only_first", ["B0ABCDEFGH"], instances=f"[{first}]")
    env.overrides["AMC_CATALOG_DIR"] = str(tmp_path)
    use_env(env.env())
    with pytest.raises(RunInputError, match=f"--instance: definition 'only_first' applies to {first} only"):
        prepare_run(env.engine, env.settings, report_name="only_first", instance_id=second, week=env.week())
    assert prepare_run(env.engine, env.settings, report_name="only_first", instance_id=first,
                       week=env.week()).definition.instances == (first,)
    assert sum(env.stats()["calls"].values()) == 0
