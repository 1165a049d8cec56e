"""`amc db` and `amc instances` through click's CliRunner, on the test database."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from amc_pipelines.cli import main
from amc_pipelines.db import current, get_engine, head

ADD = [
    "instances", "add", "amc1a2b3c4d5", "--name", "Acme US", "--account", "ENTITY1A2B3C4D5E6F",
    "--marketplace", "ATVPDKIKX0DER", "--region", "na", "--timezone", "America/New_York",
]


@pytest.fixture
def amc(amc_env, database_url):
    with get_engine(database_url).begin() as connection:
        connection.execute(text("TRUNCATE amc.instances"))
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return run


def test_instances_round_trip(amc) -> None:
    added = amc(*ADD, "--data-lag-hours", "72")
    assert added.exit_code == 0, added.stderr
    assert added.stdout == "added amc1a2b3c4d5 (Acme US)\n"

    table = amc("instances", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "REGION", "MARKETPLACE", "TIME", "ZONE", "WEEK", "START", "LAG", "H", "ENABLED", "SOURCE"]
    assert table[2].split() == ["amc1a2b3c4d5", "Acme", "US", "NA", "ATVPDKIKX0DER", "America/New_York", "monday", "72", "yes", "manual"]

    listed = json.loads(amc("instances", "list", "--json").stdout)
    assert [(i["instance_id"], i["region"], i["data_lag_hours"]) for i in listed] == [("amc1a2b3c4d5", "NA", 72)]

    shown = amc("instances", "show", "amc1a2b3c4d5").stdout
    assert "time zone:           America/New_York" in shown and "enabled:             yes" in shown

    assert amc("instances", "disable", "amc1a2b3c4d5").stdout == "disabled amc1a2b3c4d5\n"
    assert json.loads(amc("instances", "show", "amc1a2b3c4d5", "--json").stdout)["enabled"] is False
    assert json.loads(amc("instances", "list", "--enabled-only", "--json").stdout) == []
    assert amc("instances", "enable", "amc1a2b3c4d5").stdout == "enabled amc1a2b3c4d5\n"
    assert amc("instances", "remove", "amc1a2b3c4d5").stdout == "removed amc1a2b3c4d5\n"
    assert amc("instances", "list").stdout == "no instances registered: add one with `amc instances add`\n"


def test_default_week_start_and_lag_come_from_settings(amc, monkeypatch) -> None:
    monkeypatch.setenv("AMC_WEEK_START", "sunday")
    assert amc(*ADD).exit_code == 0
    shown = amc("instances", "show", "amc1a2b3c4d5").stdout
    assert "week start:          sunday" in shown
    assert "data lag hours:      default (48)" in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timezone", "America/NewYork"], "timezone: unknown time zone 'America/NewYork': did you mean 'America/New_York'?"),
        (["--region", "APAC"], "region: unknown region 'APAC': use one of NA, EU, FE"),
        (["--data-lag-hours", "-5"], "data_lag_hours: -5 is out of range"),
    ],
)
def test_bad_input_exits_2_with_the_message_on_stderr(amc, args, message) -> None:
    result = amc(*ADD, *args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stdout == ""
    assert json.loads(amc("instances", "list", "--json").stdout) == []


def test_duplicate_and_unknown_ids_exit_2(amc) -> None:
    amc(*ADD)
    duplicate = amc(*ADD)
    assert duplicate.exit_code == 2 and "'amc1a2b3c4d5' is already registered" in duplicate.stderr
    for command in ("show", "remove", "enable", "disable"):
        result = amc("instances", command, "amc0000000000")
        assert result.exit_code == 2, command
        assert "no instance 'amc0000000000' is registered" in result.stderr


def test_missing_option_is_a_usage_error(amc) -> None:
    result = amc("instances", "add", "amc1a2b3c4d5", "--name", "x")
    assert result.exit_code == 2 and "Missing option" in result.stderr


@pytest.mark.parametrize(
    "command",
    [[], ["db"], ["instances"], *[["db", c] for c in ("upgrade", "downgrade", "current", "url", "status", "stop")],
     *[["instances", c] for c in ("add", "list", "show", "remove", "enable", "disable")]],
)
def test_every_command_has_help(command) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.stdout


def test_db_upgrade_current_downgrade_on_a_fresh_database(amc, make_database, monkeypatch) -> None:
    url = make_database()
    monkeypatch.setenv("AMC_DATABASE_URL", url)
    assert amc("db", "current").stdout.endswith(f"base (no migrations) (behind: run `amc db upgrade` to reach {head()})\n")
    assert amc("db", "upgrade").stdout.endswith(f": upgraded from base (no migrations) to {head()}.\n")
    assert amc("db", "upgrade").stdout.endswith(f": already at {head()}; nothing to do.\n")
    assert amc("db", "current").stdout.endswith(f": {head()} (up to date)\n")

    refused = amc("db", "downgrade", "base", input="n\n")
    assert refused.exit_code == 1 and current(url) == head()
    assert amc("db", "downgrade", "base", "--yes").stdout.endswith(f": downgraded from {head()} to base (no migrations).\n")
    assert current(url) is None
    assert amc("instances", "list", "--json").stdout == "[]\n"  # instances commands migrate first
    assert current(url) == head()


def test_db_upgrade_to_an_unknown_revision_exits_2(amc) -> None:
    result = amc("db", "upgrade", "--revision", "nope")
    assert result.exit_code == 2 and "--revision 'nope'" in result.stderr


def test_db_url_never_prints_the_password(amc, monkeypatch) -> None:
    monkeypatch.setenv("AMC_DATABASE_URL", "postgres://app:s3cret@db.example:5432/amc")
    assert amc("db", "url").stdout == "postgresql+psycopg://app:***@db.example:5432/amc\n"
    assert amc("db", "url", "--format", "psycopg2").stdout == "postgresql+psycopg2://app:***@db.example:5432/amc\n"
    assert amc("db", "url", "--format", "libpq").stdout == "postgresql://app:***@db.example:5432/amc\n"


def test_unreachable_database_is_a_clear_error(amc, monkeypatch) -> None:
    monkeypatch.setenv("AMC_DATABASE_URL", "postgresql://app:s3cret@127.0.0.1:1/amc")
    result = amc("instances", "list")
    assert result.exit_code == 1
    assert "cannot reach the database at postgresql+psycopg://app:***@127.0.0.1:1/amc" in result.stderr
    assert "s3cret" not in result.stderr


def test_bad_settings_exit_2(amc, monkeypatch) -> None:
    monkeypatch.setenv("AMC_DATA_LAG_HOURS", "soon")
    result = amc("instances", "list")
    assert result.exit_code == 2 and "AMC_DATA_LAG_HOURS='soon' is not a whole number" in result.stderr


def test_db_status_and_stop_without_an_embedded_server(amc) -> None:
    assert "embedded PostgreSQL not running" in amc("db", "status").stdout
    assert "no embedded PostgreSQL is running" in amc("db", "stop").stdout


def test_a_fresh_machine_just_works_with_the_embedded_server(amc, monkeypatch, embedded_home) -> None:
    monkeypatch.delenv("AMC_DATABASE_URL")
    monkeypatch.setenv("AMC_HOME", str(embedded_home / "fresh"))
    added = amc(*ADD)
    assert added.exit_code == 0, added.stderr
    assert "amc1a2b3c4d5" in amc("instances", "list").stdout
    assert amc("db", "url").stdout.startswith("postgresql+psycopg://postgres@/amc?host=")
    assert "embedded PostgreSQL running" in amc("db", "status").stdout
    assert amc("db", "stop").stdout.startswith("stopped the embedded PostgreSQL")
    assert "embedded PostgreSQL not running" in amc("db", "status").stdout
