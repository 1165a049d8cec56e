"""``amc refresh run / status / history / validate / cutover / rollback`` through the real CLI: the
BigQuery stand-in over HTTP with the real client, a fresh Postgres database, the real copy."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select, text

from amc_pipelines.cli import main
from amc_pipelines.db import get_engine
from amc_pipelines.db.models import refresh_runs, refresh_validations
from amc_pipelines.notifications import verify_signature
from amc_pipelines.settings import Settings
from amc_pipelines_tests.test_notifications import webhook_receiver

SQP, ASIN, BRAND = "search_query_performance", "asin_performance", "brand_search_query_weekly"
BUILT_IN = [ASIN, SQP, BRAND]
RUN_KEYS = {"table", "status", "rows_read", "rows_inserted", "rows_updated", "rows_deleted", "mode", "target",
            "bytes_processed", "job_id", "run_id", "error", "details", "validation"}


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_database, bigquery_sandbox):
    """A fresh database, the stand-in as BigQuery, no developer settings."""
    for setting in fields(Settings):
        monkeypatch.delenv(setting.metadata["env"], raising=False)
    url = make_database()
    monkeypatch.setenv("AMC_HOME", str(tmp_path / "amc_home"))
    monkeypatch.setenv("AMC_DATABASE_URL", url)
    monkeypatch.setenv("AMC_BIGQUERY_ENDPOINT", bigquery_sandbox.server.url)
    monkeypatch.setenv("USER", "os-user")
    monkeypatch.setenv("LOGNAME", "os-user")
    return url


def amc(*args: str):
    return CliRunner().invoke(main, list(args))


def _lines(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_run_json_second_run_status_and_history(cli_env: str, bigquery_sandbox) -> None:
    first = amc("refresh", "run", "--json")
    assert first.exit_code == 0, first.output
    outcomes = _lines(first)
    assert [o["table"] for o in outcomes] == BUILT_IN
    for outcome in outcomes:
        assert set(outcome) >= RUN_KEYS, set(RUN_KEYS) - set(outcome)
        assert (outcome["status"], outcome["mode"], outcome["target"]) == ("success", "live", f"sqp.{outcome['table']}")
        assert outcome["rows_read"] == outcome["rows_inserted"] > 0 and outcome["rows_updated"] == 0
        assert outcome["validation"] is None and isinstance(outcome["run_id"], int)
    assert "3 tables: 3 success" in first.stderr  # the summary stays off stdout's JSON lines

    second = amc("refresh", "run")
    assert second.exit_code == 0, second.output
    lines = second.stdout.splitlines()
    for table, line in zip(BUILT_IN, lines, strict=False):
        assert line.startswith(f"{table}: success (live, sqp.{table}): read ")
        assert ", inserted 0, updated 0, deleted 0 in " in line
    assert lines[-1].startswith("cycle ") and lines[-1].endswith(": 3 tables: 3 success")

    status = json.loads(amc("refresh", "status", "--json").stdout)
    assert status["health"] == "healthy", [t["reasons"] for t in status["tables"]]
    tables = {t["table"]: t for t in status["tables"]}
    engine = get_engine(cli_env)
    with engine.connect() as connection:
        for table in BUILT_IN:
            rows = connection.execute(text(f"SELECT count(*) FROM sqp.{table}")).scalar_one()
            assert tables[table]["rows"] == rows == outcomes[BUILT_IN.index(table)]["rows_inserted"]
            assert tables[table]["last_run"]["status"] == "success" and tables[table]["failures_24h"] == 0
            assert tables[table]["average_duration_seconds"] > 0 and tables[table]["next_run"]
    assert sum(status["last_cycle"]["statuses"].values()) == 3 and status["last_cycle"]["triggered_by"] == "cli"
    assert amc("refresh", "status").stdout.startswith("refresh: healthy")

    history = json.loads(amc("refresh", "history", "--json").stdout)
    assert len(history) == 6 and [h["table"] for h in history[:3]] == BUILT_IN[::-1]
    assert [h["rows_inserted"] for h in history[:3]] == [0, 0, 0]
    assert len({h["cycle_id"] for h in history}) == 2
    only = json.loads(amc("refresh", "history", "--table", SQP, "--limit", "1", "--json").stdout)
    assert [(h["table"], h["rows_inserted"]) for h in only] == [(SQP, 0)]
    assert SQP in amc("refresh", "history").stdout


def _table_file(directory: Path, name: str, **config) -> None:
    (directory / f"{name}.yaml").write_text(yaml.safe_dump({
        "name": name, "description": f"test table {name}", "key_columns": ["account_id", "start_date"],
        "mode": "live", **config}))


def test_a_failing_table_skips_hard_dependents_and_warns_soft_ones(cli_env: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    extra = tmp_path / "tables"
    extra.mkdir()
    rollup = ("SELECT account_id, start_date, SUM(clicks) AS clicks, MAX(updated_at) AS updated_at "
              "FROM brand_analytics.asin_performance GROUP BY account_id, start_date")
    _table_file(extra, "missing_source", source={"table": "brand_analytics.no_such_table"})
    _table_file(extra, "needs_missing", source={"query": rollup}, dependencies={"hard": ["missing_source"]})
    _table_file(extra, "likes_missing", source={"query": rollup}, dependencies={"soft": ["missing_source"]})
    monkeypatch.setenv("AMC_REFRESH_TABLES_DIR", str(extra))
    monkeypatch.setenv("AMC_WEBHOOK_SECRET", "s3cret")

    with webhook_receiver() as receiver:
        monkeypatch.setenv("AMC_WEBHOOK_URL", receiver.url)
        result = amc("refresh", "run", "likes_missing", "needs_missing", "missing_source", "--json")
    monkeypatch.delenv("AMC_WEBHOOK_URL")
    assert result.exit_code == 1, result.output
    # One signed event per copied table; none for the skipped one.
    events = [json.loads(request.body) for request in receiver.requests]
    assert [(e["event"], e["table"], e["status"]) for e in events] == [
        ("refresh.failed", "missing_source", "failed"), ("refresh.succeeded", "likes_missing", "warning")]
    assert "no_such_table" in events[0]["error"] and events[1]["details"]["warnings"]
    for request in receiver.requests:
        assert verify_signature("s3cret", request.body, timestamp=request.headers["X-AMC-Timestamp"],
                                signature=request.headers["X-AMC-Signature"])
    outcomes = {o["table"]: o for o in _lines(result)}
    assert list(outcomes) == ["missing_source", "likes_missing", "needs_missing"]
    assert outcomes["missing_source"]["status"] == "failed" and "no_such_table" in outcomes["missing_source"]["error"]
    assert outcomes["needs_missing"]["status"] == "skipped" and outcomes["needs_missing"]["rows_read"] == 0
    likes = outcomes["likes_missing"]
    assert likes["status"] == "warning" and likes["rows_inserted"] > 0
    assert likes["details"]["warnings"][0].startswith("soft dependency missing_source failed in this cycle")

    text_run = amc("refresh", "run", "missing_source", "needs_missing")
    assert text_run.exit_code == 1
    lines = text_run.stdout.splitlines()
    assert lines[0].startswith("missing_source: failed (live") and lines[1].startswith("  error: ")
    assert "needs_missing: skipped (live" in text_run.stdout and "  reason: " in text_run.stdout
    assert lines[-1].endswith("2 tables: 1 failed, 1 skipped")

    status = json.loads(amc("refresh", "status", "--json").stdout)
    tables = {t["table"]: t for t in status["tables"]}
    assert status["health"] == "failing" and tables["missing_source"]["failures_24h"] == 2
    assert tables["needs_missing"]["health"] == "degraded" and tables["likes_missing"]["health"] == "degraded"


def test_dry_run_writes_only_audit_rows(cli_env: str) -> None:
    result = amc("refresh", "run", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would insert" in result.stdout and "(dry run): 3 tables: 3 success" in result.stdout
    engine = get_engine(cli_env)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(refresh_runs)).scalar_one() == 3
        assert connection.execute(select(refresh_runs.c.mode).distinct()).scalars().all() == ["dry_run"]
        sqp_tables = connection.execute(text(
            "SELECT count(*) FROM pg_tables WHERE schemaname IN ('sqp', 'sqp_shadow')")).scalar_one()
    assert sqp_tables == 0
    status = json.loads(amc("refresh", "status", "--json").stdout)
    # A forced dry run is history, not health: the live tables were never refreshed.
    assert {t["health"] for t in status["tables"]} == {"degraded"}
    assert {t["reasons"][0] for t in status["tables"]} == {"never refreshed"}


def test_refusals_before_bigquery(cli_env: str, bigquery_sandbox, monkeypatch: pytest.MonkeyPatch,
                                  tmp_path: Path) -> None:
    assert amc("refresh", "config", "set", SQP, "--mode", "disabled", "--by", "alice").exit_code == 0
    assert amc("refresh", "config", "set", ASIN, "--disable", "--by", "bob").exit_code == 0
    result = amc("refresh", "run", SQP, ASIN)
    assert result.exit_code == 2
    assert "2 problems" in result.stderr
    assert f"`amc refresh config set {SQP} --mode dry_run`" in result.stderr
    assert f"`amc refresh config set {ASIN} --enable`" in result.stderr
    full = amc("refresh", "run", "--json")  # a full cycle leaves them out, and so skips nothing
    assert full.exit_code == 0 and [o["table"] for o in _lines(full)] == [BRAND]
    assert bigquery_sandbox.stats()["jobs_created"] > 0

    bigquery_sandbox.control("reset", {})
    monkeypatch.setenv("AMC_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")  # never reached
    result = amc("refresh", "run", "search_query_perfomance")
    assert result.exit_code == 2
    assert "unknown table 'search_query_perfomance' (did you mean 'search_query_performance'?)" in result.stderr
    assert bigquery_sandbox.stats()["jobs_created"] == 0


def test_shadow_run_validate_cutover_and_rollback(cli_env: str) -> None:
    assert amc("refresh", "run", ASIN).exit_code == 0
    assert amc("refresh", "config", "set", ASIN, "--mode", "shadow", "--by", "alice").exit_code == 0
    shadow = _lines(amc("refresh", "run", ASIN, "--json"))[0]
    assert (shadow["status"], shadow["mode"], shadow["target"]) == ("success", "shadow", f"sqp_shadow.{ASIN}")
    assert shadow["validation"]["passed"] is True, shadow["validation"]

    validated = amc("refresh", "validate", ASIN)
    assert validated.exit_code == 0, validated.output
    assert validated.stdout.splitlines()[0].startswith("PASS  ")
    assert validated.stdout.splitlines()[-1].startswith(f"{ASIN}: validation passed")

    refused = amc("refresh", "cutover", ASIN, "--by", "carol")  # 2 passed validations, 3 needed
    assert refused.exit_code == 2, refused.output
    assert "3" in refused.stderr and ASIN in refused.stderr
    assert amc("refresh", "validate", ASIN, "--json").exit_code == 0
    cut = amc("refresh", "cutover", ASIN, "--by", "carol")
    assert cut.exit_code == 0, cut.output
    assert json.loads(amc("refresh", "config", "show", ASIN, "--json").stdout)["mode"] == "live"
    back = amc("refresh", "rollback", ASIN, "--by", "dave")
    assert back.exit_code == 0, back.output
    assert json.loads(amc("refresh", "config", "show", ASIN, "--json").stdout)["mode"] == "shadow"

    # A corrupted shadow fails its validation with exit code 1 and names the failed checks.
    engine = get_engine(cli_env)
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE sqp_shadow.{ASIN} SET clicks = clicks + 1 "
                                f"WHERE start_date = (SELECT max(start_date) FROM sqp_shadow.{ASIN})"))
    failed = amc("refresh", "validate", ASIN)
    assert failed.exit_code == 1 and "FAIL  " in failed.stdout and "validation FAILED" in failed.stdout
    with engine.connect() as connection:
        # Each validation names the shadow run whose rows it compared (cutover refuses a newer unvalidated run).
        assert connection.execute(select(refresh_validations.c.run_id)).scalars().all() == [shadow["run_id"]] * 4
