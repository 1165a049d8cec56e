"""The ``amc`` command: help everywhere, and ``amc sandbox run-sql`` as an analyst uses it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from amc_pipelines.cli import main


def _all_commands(group: click.Group, ctx: click.Context, prefix: tuple[str, ...] = ()):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _all_commands(command, ctx, (*prefix, name))


def test_every_subcommand_has_help() -> None:
    runner = CliRunner()
    paths = list(_all_commands(main, click.Context(main)))
    assert {("db",), ("instances",), ("sandbox",), ("sandbox", "run-sql"), ("sandbox", "serve")} <= set(paths)
    for path in [(), *paths]:
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage: " in result.output


@pytest.fixture
def sandbox_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox_dataset, sandbox_data_dir: Path) -> Path:
    # Point AMC_HOME/sandbox at the session's generated dataset so the CLI does not generate again.
    home = tmp_path / "home"
    home.mkdir()
    (home / "sandbox").symlink_to(sandbox_data_dir, target_is_directory=True)
    monkeypatch.setenv("AMC_HOME", str(home))
    monkeypatch.setenv("AMC_SANDBOX_SIZE", "small")
    monkeypatch.setenv("AMC_SANDBOX_SEED", "7")
    return home


def _window(dataset) -> list[str]:
    from datetime import timedelta

    end = dataset.end_date - timedelta(days=3)
    start = end - timedelta(days=7)
    return ["--start", f"{start}T00:00:00", "--end", f"{end}T00:00:00"]


def test_run_sql_prints_the_result_csv(sandbox_env: Path, sandbox_dataset, tmp_path: Path) -> None:
    instance = sandbox_dataset.instances[0]
    query = tmp_path / "by_product.sql"
    query.write_text(
        "SELECT ad_product_type, SUM(impressions) AS impressions, COUNT(DISTINCT user_id) AS users\n"
        "FROM sponsored_ads_traffic\n"
        "WHERE ARRAY_CONTAINS(CUSTOM_PARAMETER('products'), ad_product_type)\n"
        "GROUP BY ad_product_type"
    )
    result = CliRunner().invoke(main, [
        "sandbox", "run-sql", str(query), *_window(sandbox_dataset), "--timezone", instance.timezone,
        "--instance", instance.instance_id, "--param", 'products=["sponsored_products","sponsored_brands"]',
    ])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["ad_product_type"] for r in rows} == {"sponsored_products", "sponsored_brands"}
    assert all(int(r["impressions"]) > 0 and int(r["users"]) >= 2 for r in rows)


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT * FROM dsp_impressions", "SELECT *"),
        ("SELECT campaign, COUNT(*) AS n FROM dsp_impressions GROUP BY campaign LIMIT 5", "LIMIT"),
        ("SELECT SUM(impressions) AS n FROM dsp_impressions WHERE campaign = CUSTOM_PARAMETER('c')", "'c'"),
    ],
)
def test_run_sql_rejection_exits_2_with_amc_reason(sandbox_env: Path, sandbox_dataset, tmp_path: Path, sql: str, reason: str) -> None:
    query = tmp_path / "bad.sql"
    query.write_text(sql)
    result = CliRunner().invoke(main, ["sandbox", "run-sql", str(query), *_window(sandbox_dataset)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "REJECTED" in result.stderr and reason in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2026-01-01", "--end", "2026-01-08T00:00:00"], "does not match the format"),
        (["--start", "2026-01-01T00:00:00Z", "--end", "2026-01-08T00:00:00"], "does not match the format"),
        (["--start", "2026-01-01T00:00:00", "--end", "2026-01-08T00:00:00", "--param", "=1"], "NAME=JSON"),
        (["--start", "2026-01-01T00:00:00", "--end", "2026-01-08T00:00:00", "--instance", "amcnope0000"], "amcnope0000"),
    ],
)
def test_run_sql_bad_input_is_named(sandbox_env: Path, tmp_path: Path, args: list[str], message: str) -> None:
    query = tmp_path / "ok.sql"
    query.write_text("SELECT campaign, SUM(impressions) AS n FROM dsp_impressions GROUP BY campaign")
    result = CliRunner().invoke(main, ["sandbox", "run-sql", str(query), *args])
    assert result.exit_code == 2
    assert message in result.output
