"""``amc reports list | show | validate`` through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from amc_pipelines.catalog import load_catalog
from amc_pipelines.commands.reports import reports
from amc_pipelines_tests.catalog.test_bad_specs import changed, write_spec

BUILT_IN = load_catalog()


@pytest.fixture
def invoke(monkeypatch, tmp_path):
    """Run ``amc reports ...`` with AMC_CATALOG_DIR unset (only the built-in library) unless given."""
    monkeypatch.delenv("AMC_CATALOG_DIR", raising=False)
    monkeypatch.setenv("AMC_HOME", str(tmp_path / "home"))

    def run(*args: str, catalog_dir=None):
        if catalog_dir is not None:
            monkeypatch.setenv("AMC_CATALOG_DIR", str(catalog_dir))
        return CliRunner().invoke(reports, list(args))

    return run


def test_list_shows_every_report(invoke):
    result = invoke("list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:5] == ["name", "title", "params", "columns", "schedule"]
    assert [line.split()[0] for line in lines[2:]] == list(BUILT_IN)
    assert "0 6 * * 2 (instance time zone)" in lines[2]


def test_list_json(invoke):
    result = invoke("list", "--json")
    assert result.exit_code == 0, result.output
    listed = {item["name"]: item for item in json.loads(result.output)}
    assert set(listed) == set(BUILT_IN)
    campaign = listed["campaign_performance"]
    assert campaign["workflow_id"] == BUILT_IN["campaign_performance"].workflow_id
    assert campaign["schedule"] == {"cron": "0 6 * * 2", "timezone": None}
    assert campaign["parameters"][0]["type"] == "array<long>"
    assert [c["name"] for c in campaign["output_columns"]] == BUILT_IN["campaign_performance"].column_names


def test_list_includes_the_configured_catalog_dir(invoke, tmp_path):
    write_spec(tmp_path / "specs")
    result = invoke("list", catalog_dir=tmp_path / "specs")
    assert result.exit_code == 0, result.output
    assert "units_report" in result.output


def test_show_prints_spec_parameters_columns_schedule_workflow_and_sql(invoke):
    spec = BUILT_IN["asin_performance"]
    result = invoke("show", "asin_performance")
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"workflow id:    {spec.workflow_id}" in out
    assert "schedule:       0 6 * * 2 (instance time zone)" in out
    assert "asins  array<string>  []       pattern ^[A-Z0-9]{10}$; max items 1000" in out
    assert "units                 integer  metric     units" in out
    assert out.rstrip().endswith(spec.sql.rstrip())


def test_show_json_has_the_sql_as_sent(invoke):
    result = invoke("show", "new_to_brand", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["amc_sql"] == BUILT_IN["new_to_brand"].amc_sql()
    assert shown["sql_hash"] == BUILT_IN["new_to_brand"].sql_hash


def test_show_unknown_report_suggests_the_closest(invoke):
    result = invoke("show", "campaign_perf")
    assert result.exit_code == 2
    assert "unknown report 'campaign_perf'; did you mean 'campaign_performance'?" in result.output


def test_validate_whole_catalog(invoke):
    result = invoke("validate")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"OK: {len(BUILT_IN)} reports valid")


def test_validate_a_file(invoke, tmp_path):
    result = invoke("validate", str(write_spec(tmp_path)))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "OK: 1 report valid (units_report)"


def test_validate_a_directory_lists_every_problem_and_exits_2(invoke, tmp_path):
    write_spec(tmp_path, changed(lambda s: s["schedule"].update(cron="0 6 * *")), stem="units_report")
    write_spec(tmp_path, changed(lambda s: s.update(name="other_report", paramters=[])), stem="other_report")
    write_spec(tmp_path, changed(lambda s: s.update(name="new_to_brand", sql_file="clash.sql")), stem="clash")
    result = invoke("validate", str(tmp_path))
    assert result.exit_code == 2
    problems = [line.strip() for line in result.output.splitlines()[1:]]
    assert result.output.startswith("Error: 3 problems in the report catalog:")
    assert problems[0].startswith(f"{tmp_path / 'clash.yaml'}: name: report 'new_to_brand' is already defined")
    assert problems[1].startswith(f"{tmp_path / 'other_report.yaml'}: paramters: unknown key")
    assert problems[2].startswith(f"{tmp_path / 'units_report.yaml'}: schedule.cron:")


def test_validate_a_valid_directory_with_the_built_ins(invoke, tmp_path):
    write_spec(tmp_path)
    result = invoke("validate", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert f"OK: {len(BUILT_IN) + 1} reports valid" in result.output


def test_a_broken_configured_catalog_fails_list_with_its_problems(invoke, tmp_path):
    write_spec(tmp_path, changed(lambda s: s["output_columns"].pop()))
    result = invoke("list", catalog_dir=tmp_path)
    assert result.exit_code == 2
    assert f"{tmp_path / 'units_report.yaml'}: output_columns: must list the final select list" in result.output


def test_validate_missing_path(invoke, tmp_path):
    result = invoke("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "does not exist" in result.output



def _definition(directory, text: str) -> None:
    (directory / "definitions").mkdir(parents=True, exist_ok=True)
    (directory / "definitions" / "acme.yaml").write_text(text)


ACME = ("name: acme_hero_asins\ntemplate: asin_performance\ndescription: Acme's hero ASINs.\n"
        "parameters: {asins: [B0ABCDEFGH]}\ninstances: [amcacme00001]\n")


def test_definitions_lists_implicit_builtin_and_configured_definitions(invoke, tmp_path):
    _definition(tmp_path / "catalog", ACME)
    result = invoke("definitions", catalog_dir=tmp_path / "catalog")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines()[2:]}
    assert set(rows) == set(BUILT_IN) | {"reach_frequency_large_campaigns", "acme_hero_asins"}
    assert '{"asins": ["B0ABCDEFGH"]}' in rows["acme_hero_asins"] and "amcacme00001" in rows["acme_hero_asins"]
    assert "implicit" in rows["asin_performance"]
    listed = {d["name"]: d for d in json.loads(invoke("definitions", "--json", catalog_dir=tmp_path / "catalog").output)}
    assert listed["acme_hero_asins"]["template"] == "asin_performance"
    assert listed["acme_hero_asins"]["instances"] == ["amcacme00001"] and listed["asin_performance"]["instances"] == "all"
    assert len(listed["acme_hero_asins"]["parameters_hash"]) == 64


def test_validate_refuses_a_bad_definition_naming_file_and_field(invoke, tmp_path):
    _definition(tmp_path / "catalog", ACME.replace("asins:", "asin:"))
    result = invoke("validate", catalog_dir=tmp_path / "catalog")
    assert result.exit_code == 2
    assert "definitions/acme.yaml: parameters: unknown parameter 'asin'" in result.output


def test_validate_with_instances_checks_them_against_the_registry(invoke, tmp_path, make_database, monkeypatch):
    from amc_pipelines.db import get_engine, upgrade
    from amc_pipelines.registry import InstanceSpec, add_instance

    url = make_database()
    upgrade(url)
    monkeypatch.setenv("AMC_DATABASE_URL", url)
    _definition(tmp_path / "catalog", ACME)
    assert invoke("validate", catalog_dir=tmp_path / "catalog").exit_code == 0  # not checked without --instances
    result = invoke("validate", "--instances", catalog_dir=tmp_path / "catalog")
    assert result.exit_code == 2 and "definitions/acme.yaml: instances[0]: unknown instance 'amcacme00001'" in result.output
    add_instance(get_engine(url), InstanceSpec.parse(
        instance_id="amcacme00001", name="Acme", account_id="ENTITY1A2B3C4D5E", marketplace_id="ATVPDKIKX0DER",
        region="NA", timezone="UTC"))
    result = invoke("validate", "--instances", catalog_dir=tmp_path / "catalog")
    assert result.exit_code == 0, result.output
    assert "OK: 2 report definitions valid (acme_hero_asins, reach_frequency_large_campaigns)" in result.output
