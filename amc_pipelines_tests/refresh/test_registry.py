"""The refresh registry: bad configurations refused at load naming file and field; the built-in
tables load and order by dependency and priority."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from amc_pipelines.refresh.models import TableConfig
from amc_pipelines.refresh.registry import (
    BUILTIN_DIR,
    RefreshConfigError,
    check_registry,
    dependency_order,
    get_table,
    load_registry,
    load_table,
)

EXAMPLE = BUILTIN_DIR.parent / "example_table.yaml"


def _table(name: str, **fields) -> dict:
    return {
        "name": name,
        "description": f"{name} for a test",
        "source": {"table": f"brand_analytics.{name}"},
        "key_columns": ["account_id", "start_date"],
        "watermark": {"column": "updated_at", "overlap": "P3D"},
        "partition_column": "start_date",
        **fields,
    }


def _write(directory: Path, *tables: dict) -> list[Path]:
    paths = []
    for index, table in enumerate(tables):
        path = directory / f"{index:02d}_{table.get('name', 'unnamed')}.yaml"
        path.write_text(yaml.safe_dump(table, sort_keys=False))
        paths.append(path)
    return paths


# (id, tables to write, the file index the problem is in, field, words of the fix)
BAD = [
    ("unknown dependency", [_table("alpha", dependencies={"hard": ["nope"]})], 0, "dependencies.hard", "unknown table 'nope'"),
    ("unknown soft dependency", [_table("alpha"), _table("beta", dependencies={"soft": ["alpah"]})], 1, "dependencies.soft",
     "did you mean 'alpha'"),
    ("cycle of 3", [_table("alpha", dependencies={"hard": ["beta"]}), _table("beta", dependencies={"soft": ["gamma"]}),
                    _table("gamma", dependencies={"hard": ["alpha"]})], 0, "dependencies", "cycle alpha -> beta -> gamma -> alpha"),
    ("self-dependency", [_table("alpha", dependencies={"hard": ["alpha"]})], 0, "dependencies.hard", "depends on itself"),
    ("hard and soft", [_table("alpha"), _table("beta", dependencies={"hard": ["alpha"], "soft": ["alpha"]})], 1, "dependencies",
     "both a hard and a soft"),
    ("missing key columns", [{k: v for k, v in _table("alpha").items() if k != "key_columns"}], 0, "key_columns",
     "required but missing"),
    ("key column not declared", [_table("alpha", columns=["account_id", "updated_at"], partition_column=None)], 0,
     "key_columns", "'start_date' is not among columns"),
    ("watermark column not declared", [_table("alpha", columns=["account_id", "start_date"])], 0, "watermark.column",
     "'updated_at' is not among columns"),
    ("watermark is a key", [_table("alpha", key_columns=["account_id", "start_date", "updated_at"])], 0,
     "watermark.column", "must not identify the row"),
    ("partition not a key", [_table("alpha", partition_column="end_date")], 0, "partition_column",
     "add it to key_columns"),
    ("unknown mode", [_table("alpha", mode="production")], 0, "mode", "'dry_run'"),
    ("bad cron", [_table("alpha", schedule="0 25 * * *")], 0, "schedule", "not a valid cron expression"),
    ("cron with 6 fields", [_table("alpha", schedule="0 0 2 * * *")], 0, "schedule", "5-field cron"),
    ("duplicate target", [_table("alpha", target="sqp.shared"), _table("beta", target="shared")], 1, "target",
     "already the target of 'alpha'"),
    ("duplicate name", [_table("alpha"), _table("alpha", source={"table": "brand_analytics.other"}, target="other")], 1,
     "name", "already defined in"),
    ("both table and query", [_table("alpha", source={"table": "d.t", "query": "SELECT 1 AS x"})], 0, "source",
     "set exactly one"),
    ("neither table nor query", [_table("alpha", source={})], 0, "source", "neither"),
    ("query not a SELECT", [_table("alpha", source={"query": "DELETE FROM d.t WHERE true"})], 0, "source.query",
     "one SELECT statement"),
    ("query syntax error", [_table("alpha", source={"query": "SELECT FROM WHERE ("})], 0, "source.query",
     "not valid GoogleSQL"),
    ("bad source table", [_table("alpha", source={"table": "`p.d.t`"})], 0, "source.table", "without backticks"),
    ("bad overlap duration", [_table("alpha", watermark={"column": "updated_at", "overlap": "3 days"})], 0,
     "watermark.overlap", "ISO-8601 duration"),
    ("overlap in months", [_table("alpha", watermark={"column": "updated_at", "overlap": "P1M"})], 0,
     "watermark.overlap", "ISO-8601 duration"),
    ("overlap too long", [_table("alpha", watermark={"column": "updated_at", "overlap": "P200D"})], 0,
     "watermark.overlap", "longer than 90 days"),
    ("page size 0", [_table("alpha", page_size=0)], 0, "page_size", "greater than or equal to 100"),
    ("page size too large", [_table("alpha", page_size=1_000_000)], 0, "page_size", "less than or equal to 100000"),
    ("target schema not sqp", [_table("alpha", target="public.alpha")], 0, "target", "schema 'public' is not allowed"),
    ("target into the control schema", [_table("alpha", target="refresh.table_settings")], 0, "target",
     "schema 'refresh' is not allowed"),
    ("bad table name", [_table("A-table")], 0, "name", "not a valid table name"),
    ("unknown key", [_table("alpha", page_sise=500)], 0, "page_sise", "did you mean 'page_size'"),
    ("unknown delete behaviour", [_table("alpha", on_source_delete="purge")], 0, "on_source_delete", "'ignore'"),
    ("unknown drift behaviour", [_table("alpha", on_schema_drift="ignore")], 0, "on_schema_drift", "'add_columns'"),
    ("cutover passes 0", [_table("alpha", validation={"passes_for_cutover": 0})], 0, "validation.passes_for_cutover",
     "greater than or equal to 1"),
    ("negative tolerance", [_table("alpha", validation={"metric_sums": [{"column": "clicks", "tolerance": -1}]})], 0,
     "validation.metric_sums[0].tolerance", "greater than or equal to 0"),
    ("metric sum of a key", [_table("alpha", validation={"metric_sums": [{"column": "account_id"}]})], 0,
     "validation.metric_sums", "is a key column"),
    ("checksum column not declared", [_table("alpha", columns=["account_id", "start_date", "updated_at"],
                                             validation={"checksum_columns": ["clicks"]})], 0,
     "validation.checksum_columns", "'clicks' is not among columns"),
    ("priority out of range", [_table("alpha", priority=1000)], 0, "priority", "less than or equal to 100"),
]


@pytest.mark.parametrize(("tables", "index", "field", "fix"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_configuration_is_refused_naming_file_and_field(tmp_path: Path, monkeypatch, tables, index, field, fix) -> None:
    monkeypatch.chdir(tmp_path)  # messages show paths relative to the working directory
    paths = _write(tmp_path, *tables)
    with pytest.raises(RefreshConfigError) as raised:
        load_registry(tmp_path)
    file = paths[index].name
    matching = [p for p in raised.value.problems if p.startswith(f"{file}") and f": {field}: " in p]
    assert matching, f"no problem names {file} and {field}: {raised.value.problems}"
    assert any(fix in problem for problem in matching), raised.value.problems


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, _table("alpha", mode="fast", page_size=1), _table("beta", schedule="never"), _table("gamma", target="x.c"))
    with pytest.raises(RefreshConfigError) as raised:
        load_registry(tmp_path)
    fields = sorted(problem.split(": ")[1] for problem in raised.value.problems)
    assert fields == ["mode", "page_size", "schedule", "target"]


def test_malformed_yaml_and_a_key_written_twice_are_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    (tmp_path / "twice.yaml").write_text("name: a\nname: b\n")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(RefreshConfigError) as raised:
        load_registry(tmp_path)
    text = str(raised.value)
    assert "broken.yaml: line" in text and "malformed YAML" in text
    assert "twice.yaml" in text and "duplicate key 'name'" in text
    assert "empty.yaml: expected a mapping" in text


def test_builtin_registry_loads_and_orders_by_dependency_then_priority() -> None:
    registry = load_registry()
    assert set(registry) == {"search_query_performance", "asin_performance", "brand_search_query_weekly"}
    sqp = registry["search_query_performance"]
    assert (sqp.source.table, sqp.qualified_target, sqp.key_columns) == (
        "brand_analytics.search_query_performance", "sqp.search_query_performance",
        ["account_id", "start_date", "asin", "search_query"])
    assert (sqp.watermark.column, sqp.watermark.overlap, sqp.partition_column) == ("updated_at", timedelta(days=3), "start_date")
    assert (sqp.schedule, sqp.validation.passes_for_cutover, sqp.on_schema_drift) == ("0 2 * * *", 3, "stop")
    rollup = registry["brand_search_query_weekly"]
    assert rollup.dependencies.hard == ["search_query_performance"]
    assert rollup.source.referenced_tables() == {("brand_analytics", "search_query_performance")}
    assert [t.name for t in dependency_order(registry)] == [
        "asin_performance", "search_query_performance", "brand_search_query_weekly"]


def test_dependency_order_puts_priority_first_among_ready_tables(tmp_path: Path) -> None:
    tables = [TableConfig.model_validate({**_table(name, priority=priority, dependencies={"hard": deps}),
                                          "source_path": tmp_path / f"{name}.yaml"})
              for name, priority, deps in [("low", -5, []), ("high", 50, []), ("mid", 0, []),
                                           ("after_low", 99, ["low"]), ("after_all", 100, ["after_low", "high"])]]
    order = [t.name for t in dependency_order(check_registry(tables))]
    # after_low outranks everything but must wait for low, the last of the ready tables.
    assert order == ["high", "mid", "low", "after_low", "after_all"]


def test_the_commented_example_is_a_valid_table() -> None:
    example = load_table(EXAMPLE)
    assert example.mode == "dry_run" and example.validation.metric_sums[1].tolerance == 0.0001
    documented = set(yaml.safe_load(EXAMPLE.read_text()))
    assert documented | {"columns"} == set(TableConfig.model_fields) - {"source_path"}


@pytest.mark.parametrize("text", ["P3D", "PT12H", "P2DT6H30M", "P1DT5S", "PT0S"])
def test_overlaps_print_as_they_are_written(text: str) -> None:
    from amc_pipelines.params.durations import format_iso_duration, iso_duration

    assert format_iso_duration(iso_duration(text)) == text


def test_extra_directory_adds_tables_and_unknown_names_suggest_one(tmp_path: Path) -> None:
    _write(tmp_path, _table("extra_table", dependencies={"soft": ["asin_performance"]}))
    registry = load_registry(tmp_path)
    assert "extra_table" in registry and len(registry) == 4
    with pytest.raises(RefreshConfigError, match="did you mean 'extra_table'"):
        get_table("extra_tabel", registry)
    with pytest.raises(RefreshConfigError, match="does not exist"):
        load_registry(tmp_path / "missing")
