"""Bad report specs are rejected at load, every problem naming its file and field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from amc_pipelines.catalog import CatalogError, load_catalog, load_report

GOOD_SQL = """-- units per ASIN
SELECT
  tracked_asin AS asin,
  SUM(total_units_sold) AS units
FROM
  amazon_attributed_events_by_conversion_time
WHERE
  CARDINALITY(CUSTOM_PARAMETER('asins')) = 0
  OR ARRAY_CONTAINS(CUSTOM_PARAMETER('asins'), tracked_asin)
GROUP BY
  tracked_asin
"""
GOOD_SPEC = {
    "name": "units_report",
    "title": "Units by ASIN",
    "description": "Units sold per ASIN.",
    "owner": "analytics@agency.example",
    "parameters": [{"name": "asins", "type": "array<string>", "default": [], "pattern": "^[A-Z0-9]{10}$"}],
    "output_columns": [
        {"name": "asin", "type": "string", "kind": "dimension"},
        {"name": "units", "type": "integer", "kind": "metric", "role": "units"},
    ],
    "schedule": {"cron": "0 6 * * 2", "timezone": "America/New_York"},
}


def write_spec(directory: Path, spec: dict | str = GOOD_SPEC, sql: str | None = GOOD_SQL, stem: str = "units_report") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.yaml"
    path.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False))
    if sql is not None:
        (directory / f"{stem}.sql").write_text(sql)
    return path


def changed(change: Callable[[dict], None]) -> dict:
    spec = copy.deepcopy(GOOD_SPEC)
    change(spec)
    return spec


def problems_of(path: Path) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        load_report(path)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def test_the_good_spec_loads(tmp_path):
    spec = load_report(write_spec(tmp_path))
    assert spec.name == "units_report" and spec.column_names == ["asin", "units"]
    assert spec.schedule.timezone == "America/New_York"


# (case id, spec (dict or YAML text), SQL text or None for no SQL file, file the message names, what else it must say)
BAD_SPECS = [
    ("malformed yaml", "name: units_report\ntitle: [Units\nowner: x\n", GOOD_SQL, "units_report.yaml",
     ["line 3, column", "malformed YAML"]),
    ("not a mapping", "- name: units_report\n", GOOD_SQL, "units_report.yaml", ["expected a mapping", "found a list"]),
    ("empty yaml file", "", GOOD_SQL, "units_report.yaml", ["found an empty file"]),
    ("duplicate yaml key", yaml.safe_dump(GOOD_SPEC, sort_keys=False) + "title: Again\n", GOOD_SQL, "units_report.yaml",
     ["duplicate key 'title'", "line"]),
    ("missing sql file", GOOD_SPEC, None, "units_report.yaml", ["no SQL file", "units_report.sql"]),
    ("sql_file that does not exist", changed(lambda s: s.update(sql_file="other.sql")), GOOD_SQL, "units_report.yaml",
     ["sql_file:", "other.sql does not exist"]),
    ("empty sql file", GOOD_SPEC, "  \n", "units_report.sql", ["empty"]),
    ("unknown top-level key", changed(lambda s: s.update(paramters=s.pop("parameters"))), GOOD_SQL, "units_report.yaml",
     ["paramters: unknown key", "did you mean 'parameters'"]),
    ("unknown column key", changed(lambda s: s["output_columns"][1].update(rol="units")), GOOD_SQL, "units_report.yaml",
     ["output_columns[1].rol: unknown key", "did you mean 'role'"]),
    ("sql written in the yaml", changed(lambda s: s.update(sql="SELECT 1")), GOOD_SQL, "units_report.yaml",
     ["sql: not a YAML key"]),
    ("missing title", changed(lambda s: s.pop("title")), GOOD_SQL, "units_report.yaml", ["title: required but missing"]),
    ("bad report name", changed(lambda s: s.update(name="Units-Report")), GOOD_SQL, "units_report.yaml",
     ["name: 'Units-Report' is not a valid report name"]),
    ("bad parameter type", changed(lambda s: s["parameters"][0].update(type="array<int>")), GOOD_SQL,
     "units_report.yaml", ["parameters[0].type:", "array<string>"]),
    ("bad output column type", changed(lambda s: s["output_columns"][1].update(type="float")), GOOD_SQL,
     "units_report.yaml", ["output_columns[1].type:", "'double'"]),
    ("undeclared custom parameter", GOOD_SPEC, GOOD_SQL.replace("SUM(total_units_sold)",
     "SUM(IF(total_units_sold >= CUSTOM_PARAMETER('min_units'), total_units_sold, 0))"), "units_report.sql",
     ["CUSTOM_PARAMETER('min_units') is not declared", "units_report.yaml"]),
    ("declared but unused parameter",
     changed(lambda s: s["parameters"].append({"name": "min_units", "type": "integer", "default": 1})), GOOD_SQL,
     "units_report.yaml", ["parameters[1]: 'min_units' is declared but", "never uses CUSTOM_PARAMETER('min_units')"]),
    ("output columns out of order", changed(lambda s: s["output_columns"].reverse()), GOOD_SQL, "units_report.yaml",
     ["output_columns: must list the final select list of", "units_report.sql", "output_columns[0] is 'units'"]),
    ("output column missing", changed(lambda s: s["output_columns"].pop()), GOOD_SQL, "units_report.yaml",
     ["output_columns:", "output_columns[1] is nothing where the select list has 'units'"]),
    ("unnamed select item", GOOD_SPEC, GOOD_SQL.replace("SUM(total_units_sold) AS units", "SUM(total_units_sold)"),
     "units_report.sql", ["item 2 of the final select list has no name"]),
    ("select star", GOOD_SPEC, GOOD_SQL.replace("tracked_asin AS asin,", "*,"), "units_report.sql",
     ["AMC would reject the query", "SELECT * is not supported"]),
    ("limit", GOOD_SPEC, GOOD_SQL + "LIMIT 10\n", "units_report.sql", ["AMC would reject the query", "LIMIT is not supported"]),
    ("very high column in the output", GOOD_SPEC, GOOD_SQL.replace("tracked_asin AS asin", "user_id AS asin").replace(
        "GROUP BY\n  tracked_asin", "GROUP BY\n  user_id"), "units_report.sql", ["AMC would reject", "user_id"]),
    ("sql syntax error", GOOD_SPEC, GOOD_SQL.replace("GROUP BY", "GROUP BY BY"), "units_report.sql",
     ["does not parse as AMC SQL", "line"]),
    ("bad cron", changed(lambda s: s["schedule"].update(cron="0 25 * * 2")), GOOD_SQL, "units_report.yaml",
     ["schedule.cron:", "'0 25 * * 2' is not a valid cron expression"]),
    ("cron with six fields", changed(lambda s: s["schedule"].update(cron="0 0 6 * * 2")), GOOD_SQL, "units_report.yaml",
     ["schedule.cron:", "5-field"]),
    ("unknown schedule time zone", changed(lambda s: s["schedule"].update(timezone="Mars/Olympus")), GOOD_SQL,
     "units_report.yaml", ["schedule.timezone:", "unknown time zone 'Mars/Olympus'"]),
    ("bad default for the type", changed(lambda s: s["parameters"].__setitem__(0, {
        "name": "asins", "type": "array<string>", "default": ["not-an-asin"], "pattern": "^[A-Z0-9]{10}$"})),
     GOOD_SQL, "units_report.yaml", ["parameters[0].default: item 'not-an-asin' does not match ^[A-Z0-9]{10}$"]),
    ("integer default that is not a number", changed(lambda s: s["parameters"].append(
        {"name": "min_units", "type": "integer", "default": "lots"})), GOOD_SQL, "units_report.yaml",
     ["parameters[1].default: 'lots' is not a whole number"]),
    ("bad pattern regex", changed(lambda s: s["parameters"][0].update(pattern="^[A-Z0-9{10}$")), GOOD_SQL,
     "units_report.yaml", ["parameters[0].pattern:", "not a valid regular expression"]),
    ("duplicate parameter name", changed(lambda s: s["parameters"].append(dict(s["parameters"][0]))), GOOD_SQL,
     "units_report.yaml", ["parameters[1].name: 'asins' is already declared as parameters[0]"]),
    ("duplicate output column", changed(lambda s: s["output_columns"].append(dict(s["output_columns"][0]))), GOOD_SQL,
     "units_report.yaml", ["output_columns[2].name: 'asin' is already output_columns[0]"]),
    ("discriminator not an output column", changed(lambda s: s.update(
        privacy={"behavior": "REMOVE_VALUES", "discriminator_column": "filtered"})), GOOD_SQL, "units_report.yaml",
     ["privacy.discriminator_column: 'filtered' is not one of the output columns"]),
    ("discriminator not boolean", changed(lambda s: (s.update(privacy={"discriminator_column": "filtered"}),
        s["output_columns"].append({"name": "filtered", "type": "string", "kind": "dimension"}))), GOOD_SQL,
     "units_report.yaml", ["privacy.discriminator_column:", "boolean"]),
    ("loader column in the output", changed(lambda s: s["output_columns"][0].update(name="week_start")), GOOD_SQL,
     "units_report.yaml", ["output_columns[0].name:", "added to every result row by the loader"]),
    ("bad output column name", changed(lambda s: s["output_columns"][1].update(name="Units Sold")), GOOD_SQL,
     "units_report.yaml", ["output_columns[1].name: 'Units Sold' is not a valid column name"]),
    ("role on a dimension", changed(lambda s: s["output_columns"][0].update(role="sales")), GOOD_SQL,
     "units_report.yaml", ["output_columns[0]:", "role 'sales' needs a metric column"]),
    ("unknown role", changed(lambda s: s["output_columns"][1].update(role="revenue")), GOOD_SQL, "units_report.yaml",
     ["output_columns[1].role:"]),
    ("negative data lag", changed(lambda s: s.update(data_lag_hours=-1)), GOOD_SQL, "units_report.yaml",
     ["data_lag_hours:"]),
]


@pytest.mark.parametrize(("spec", "sql", "file", "expected"), [case[1:] for case in BAD_SPECS],
                         ids=[case[0] for case in BAD_SPECS])
def test_bad_spec_is_rejected_naming_file_and_field(tmp_path, spec, sql, file, expected):
    problems = problems_of(write_spec(tmp_path, spec, sql))
    matching = [p for p in problems if all(text in p for text in expected)]
    assert matching, f"no problem says {expected}: {problems}"
    assert all(p.startswith(f"{tmp_path}/") for p in problems), problems
    assert matching[0].split(": ")[0] == str(tmp_path / file), matching[0]


def test_every_problem_of_a_file_is_listed(tmp_path):
    spec = changed(lambda s: (s.update(paramters=[], name="Bad Name"), s["schedule"].update(cron="every tuesday")))
    problems = problems_of(write_spec(tmp_path, spec))
    assert len(problems) == 3, problems
    assert {p.split(": ")[1] for p in problems} == {"paramters", "name", "schedule.cron"}
    assert all(p.startswith(str(tmp_path / "units_report.yaml")) for p in problems)


def test_sql_problems_are_all_listed(tmp_path):
    spec = changed(lambda s: s["parameters"].append({"name": "min_units", "type": "integer", "default": 1}))
    sql = GOOD_SQL.replace("AS units", "AS units_sold").replace("CARDINALITY(CUSTOM_PARAMETER('asins'))",
                                                                 "CARDINALITY(CUSTOM_PARAMETER('asin_list'))")
    problems = problems_of(write_spec(tmp_path, spec, sql))
    assert len(problems) == 3, problems
    assert "CUSTOM_PARAMETER('asin_list') is not declared" in problems[0]
    assert "'min_units' is declared but" in problems[1]
    assert "output_columns[1] is 'units' where the select list has 'units_sold'" in problems[2]


def test_duplicate_report_names_across_directories(tmp_path):
    extra = tmp_path / "extra"
    write_spec(extra, changed(lambda s: s.update(name="campaign_performance", sql_file="my_campaigns.sql")),
               stem="my_campaigns")
    with pytest.raises(CatalogError) as caught:
        load_catalog(extra)
    (problem,) = caught.value.problems
    assert problem.startswith(str(extra / "my_campaigns.yaml") + ": name: report 'campaign_performance'")
    assert "campaign_performance.yaml" in problem


def test_catalog_lists_the_problems_of_every_file(tmp_path):
    write_spec(tmp_path, changed(lambda s: s.update(name="first", schedule={"timezone": "Nowhere/City"})), stem="first")
    write_spec(tmp_path, changed(lambda s: s.update(name="second", paramters=[])), stem="second")
    write_spec(tmp_path, changed(lambda s: s.update(name="third")), stem="third")
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path)
    assert len(caught.value.problems) == 2, caught.value.problems
    assert "first.yaml: schedule.timezone" in caught.value.problems[0]
    assert "second.yaml: paramters" in caught.value.problems[1]


def test_extra_directory_reports_join_the_built_ins(tmp_path):
    write_spec(tmp_path, stem="units_report")
    catalog = load_catalog(tmp_path)
    assert "units_report" in catalog and "campaign_performance" in catalog


def test_missing_catalog_directory(tmp_path):
    with pytest.raises(CatalogError, match="nowhere: the report catalog directory does not exist"):
        load_catalog(tmp_path / "nowhere")
