"""``amc refresh config`` through the real CLI: overrides and their audit in a real Postgres database,
validation of registry files, and discovery against the BigQuery stand-in over HTTP."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import text

from amc_pipelines.cli import main
from amc_pipelines.db import get_engine
from amc_pipelines.refresh.registry import load_registry
from amc_pipelines.settings import Settings


@pytest.fixture
def refresh_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_database) -> str:
    """A fresh database (overrides and audit start empty) and no developer settings."""
    for setting in fields(Settings):
        monkeypatch.delenv(setting.metadata["env"], raising=False)
    url = make_database()
    monkeypatch.setenv("AMC_HOME", str(tmp_path / "amc_home"))
    monkeypatch.setenv("AMC_DATABASE_URL", url)
    monkeypatch.setenv("USER", "os-user")
    monkeypatch.setenv("LOGNAME", "os-user")
    return url


def amc(*args: str):
    return CliRunner().invoke(main, list(args))


def _json(*args: str):
    result = amc(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_set_list_show_and_history(refresh_env: str) -> None:
    listed = _json("refresh", "config", "list")
    assert [t["name"] for t in listed] == ["asin_performance", "search_query_performance", "brand_search_query_weekly"]
    sqp = listed[1]
    assert (sqp["mode"], sqp["mode_source"], sqp["enabled"], sqp["target"], sqp["schedule"]) == (
        "live", "file", True, "sqp.search_query_performance", "0 2 * * *")
    assert sqp["source"] == {"table": "brand_analytics.search_query_performance"}
    assert listed[2]["dependencies"] == {"hard": ["search_query_performance"], "soft": []}
    assert listed[2]["watermark"] == {"column": "updated_at", "overlap": "P3D"}

    result = amc("refresh", "config", "set", "search_query_performance", "--mode", "shadow", "--by", "alice")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "search_query_performance: mode live -> shadow"
    result = amc("refresh", "config", "set", "search_query_performance", "--mode", "dry_run", "--disable")
    assert result.stdout.splitlines() == ["search_query_performance: mode shadow -> dry_run",
                                          "search_query_performance: enabled true -> false"]
    result = amc("refresh", "config", "set", "search_query_performance", "--disable", "--by", "carol")
    assert result.exit_code == 0 and result.stdout.strip() == "search_query_performance: unchanged"
    amc("refresh", "config", "set", "asin_performance", "--mode", "live", "--by", "bob")  # the file's: no change

    shown = _json("refresh", "config", "show", "search_query_performance")
    assert (shown["mode"], shown["mode_source"], shown["file_mode"], shown["enabled"], shown["refreshes"],
            shown["override_updated_by"]) == ("dry_run", "override", "live", False, False, "os-user")
    text_list = amc("refresh", "config", "list").stdout
    assert "dry_run (override, file: live)" in text_list

    history = _json("refresh", "config", "history")
    assert [(h["changed_by"], h["table"], h["field"], h["old_value"], h["new_value"]) for h in history] == [
        ("alice", "search_query_performance", "mode", "live", "shadow"),
        ("os-user", "search_query_performance", "mode", "shadow", "dry_run"),
        ("os-user", "search_query_performance", "enabled", "true", "false"),
    ]
    assert _json("refresh", "config", "history", "--table", "asin_performance") == []
    with get_engine(refresh_env).connect() as connection:  # nothing was written for the no-op changes
        stored = connection.execute(text("SELECT table_name, mode, enabled, updated_by FROM refresh.table_settings")).all()
    assert [tuple(row) for row in stored] == [("search_query_performance", "dry_run", False, "os-user")]
    assert "alice" in amc("refresh", "config", "history", "--table", "search_query_performance").stdout


@pytest.mark.parametrize(("args", "message"), [
    (["search_query_perfomance", "--mode", "live"], "unknown table 'search_query_perfomance' (did you mean 'search_query_performance'?)"),
    (["asin_performance", "--mode", "production"], "unknown mode 'production': use one of disabled, dry_run, shadow, live"),
    (["asin_performance"], "nothing to change: give --mode MODE, --enable or --disable"),
    (["asin_performance", "--mode", "live", "--by", " "], "give --by NAME"),
])
def test_set_refuses_unknown_tables_and_modes_before_touching_the_database(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], message: str) -> None:
    # An unreachable database: the refusal must come first.
    monkeypatch.delenv("AMC_REFRESH_TABLES_DIR", raising=False)
    monkeypatch.setenv("AMC_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    monkeypatch.setenv("AMC_HOME", str(tmp_path))
    result = amc("refresh", "config", "set", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_validate_lists_every_problem_and_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AMC_REFRESH_TABLES_DIR", raising=False)
    result = amc("refresh", "config", "validate")
    assert result.exit_code == 0 and result.stdout.startswith("OK: 3 tables valid")
    bad = {"name": "extra", "description": "x", "source": {"table": "brand_analytics.extra"}, "key_columns": ["k"],
           "mode": "fast", "schedule": "daily", "dependencies": {"hard": ["missing_table"]}}
    (tmp_path / "extra.yaml").write_text(yaml.safe_dump(bad))
    result = amc("refresh", "config", "validate", str(tmp_path))
    assert result.exit_code == 1
    assert "2 problems in the refresh registry" in result.stderr
    assert "extra.yaml: mode: 'fast' is not allowed" in result.stderr and "extra.yaml: schedule: 'daily'" in result.stderr
    result = amc("refresh", "config", "validate", str(tmp_path / "extra.yaml"))
    assert result.exit_code == 1 and "extra.yaml: mode" in result.stderr
    monkeypatch.setenv("AMC_REFRESH_TABLES_DIR", str(tmp_path))
    assert amc("refresh", "config", "validate").exit_code == 1


def test_discover_lists_dataset_tables_without_a_registry_file(bigquery_sandbox, monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    monkeypatch.setenv("AMC_BIGQUERY_ENDPOINT", bigquery_sandbox.server.url)
    monkeypatch.setenv("AMC_HOME", str(tmp_path))
    for variable in ("AMC_BIGQUERY_PROJECT", "AMC_BIGQUERY_DATASET", "AMC_REFRESH_TABLES_DIR"):
        monkeypatch.delenv(variable, raising=False)
    assert _json("refresh", "config", "discover") == []
    bigquery_sandbox.control("tables", {
        "table": "seller_sales_traffic",
        "query": "SELECT account_id, start_date, SUM(clicks) AS clicks FROM brand_analytics.asin_performance GROUP BY 1, 2",
    })
    found = _json("refresh", "config", "discover")
    assert [t["table"] for t in found] == ["seller_sales_traffic"] and found[0]["dataset"] == "brand_analytics"
    result = amc("refresh", "config", "discover")
    assert "seller_sales_traffic" in result.stdout and "not refreshed" in result.stdout
    stats = bigquery_sandbox.stats()
    assert stats["jobs_created"] == 0 and stats["calls"]["tables.list"] == 3  # listing never runs a query

    # The built-in query source is valid GoogleSQL for the stand-in and yields its declared columns.
    rollup = load_registry()["brand_search_query_weekly"]
    rows = list(bigquery_sandbox.client.query(rollup.source.query).result(max_results=5))
    assert list(rows[0].keys()) == rollup.columns
