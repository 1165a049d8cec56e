"""``amc run --dry-run``, ``amc executions`` and ``amc instances discover`` against the sandbox."""

from __future__ import annotations

import json

from click.testing import CliRunner

from amc_pipelines.commands.executions import executions
from amc_pipelines.commands.instances import instances
from amc_pipelines.commands.run import run
from amc_pipelines.registry import list_instances


def test_dry_run_prints_the_exact_requests_and_runs_nothing(make_ledger_env, use_env) -> None:
    env = make_ledger_env()
    use_env(env.env())
    instance = env.instances[0]
    week = env.week(weeks_back=3)
    result = CliRunner().invoke(run, ["asin_performance", "--instance", instance.instance_id, "--week",
                                      week.isoformat(), "--param", "asins=B0ABCDEFGH", "--dry-run"])
    assert result.exit_code == 0, result.output
    url = f"{env.server.url}/amc/reporting/{instance.instance_id}/workflowExecutions"
    assert f"POST {url}" in result.stdout
    body = json.loads(result.stdout.split(f"POST {url}\n", 1)[1].rsplit("AMC validated", 1)[0])
    assert body["timeWindowType"] == "EXPLICIT"
    assert (body["timeWindowStart"], body["timeWindowTimeZone"]) == (f"{week.isoformat()}T00:00:00", instance.timezone)
    assert body["parameterValues"] == {"asins": ["B0ABCDEFGH"]}
    assert body["workflowId"].startswith("asin_performance-")
    stats = env.stats()
    assert stats["executions_created"] == 0 and stats["calls"] == {"createWorkflowExecution": 1}  # the dryRun
    assert CliRunner().invoke(executions, ["list", "--json"]).stdout.strip() == "[]"


def test_executions_list_and_show_describe_the_ledger(make_ledger_env, use_env) -> None:
    env = make_ledger_env()
    use_env(env.env())
    instance = env.instances[1].instance_id
    ran = CliRunner().invoke(run, ["new_to_brand", "--instance", instance, "--week", env.week(3, 1).isoformat(), "--json"])
    assert ran.exit_code == 0, ran.output
    outcome = json.loads(ran.stdout)

    listed = CliRunner().invoke(executions, ["list", "--report", "new_to_brand", "--status", "loaded"])
    assert listed.exit_code == 0, listed.output
    assert outcome["amc_execution_id"] in listed.stdout and "LOADED" in listed.stdout
    as_json = json.loads(CliRunner().invoke(executions, ["list", "--instance", instance, "--json"]).stdout)
    assert [(r["id"], r["status"], r["rows"]) for r in as_json] == [(outcome["ledger_id"], "LOADED", outcome["rows"])]
    assert CliRunner().invoke(executions, ["list", "--status", "failed"]).stdout.startswith("no executions")

    shown = CliRunner().invoke(executions, ["show", str(outcome["ledger_id"])])
    assert shown.exit_code == 0, shown.output
    for text in ("INTENDED", "SUCCEEDED", "LOADED", outcome["amc_execution_id"], outcome["checksum"], "history:"):
        assert text in shown.stdout
    history = json.loads(CliRunner().invoke(executions, ["show", str(outcome["ledger_id"]), "--json"]).stdout)["history"]
    assert [e["status"] for e in history][0] == "INTENDED" and history[-1]["status"] == "LOADED"

    missing = CliRunner().invoke(executions, ["show", "999999"])
    assert missing.exit_code == 2 and "no execution #999999" in missing.output


def test_discover_lists_then_registers_the_account_instances(make_database, sandbox_server, use_env, tmp_path) -> None:
    from amc_pipelines.db import get_engine, upgrade
    from amc_pipelines_tests.ledger.conftest import CREDENTIALS

    url = make_database()
    upgrade(url)
    account = sandbox_server.backend.instances[0]
    env = {"AMC_HOME": str(tmp_path), "AMC_DATABASE_URL": url, "AMC_API_URL": sandbox_server.url, **CREDENTIALS}
    use_env(env)
    missing = CliRunner().invoke(instances, ["discover"])
    assert missing.exit_code == 2 and "AMC_ACCOUNT_ID" in missing.output

    use_env({**env, "AMC_ACCOUNT_ID": account.account_id})
    listed = CliRunner().invoke(instances, ["discover"])
    assert listed.exit_code == 0, listed.output
    assert account.instance_id in listed.stdout and "not registered" in listed.stdout
    assert list_instances(get_engine(url)) == []

    added = CliRunner().invoke(instances, ["discover", "--add"])
    assert added.exit_code == 0, added.output
    assert "created" in added.stdout
    registered = {i.instance_id: i for i in list_instances(get_engine(url))}
    expected = {i.instance_id for i in sandbox_server.backend.instances if i.account_id == account.account_id}
    assert set(registered) == expected
    got = registered[account.instance_id]
    assert (got.timezone, got.region, got.marketplace_id, got.source) == (
        account.timezone, account.region, account.marketplace_id, "discovered")
    again = CliRunner().invoke(instances, ["discover", "--add"])
    assert "unchanged" in again.stdout and "created" not in again.stdout


def test_when_amc_keeps_failing_the_run_ends_with_amcs_reason_and_exit_1(make_ledger_env, use_env) -> None:
    from amc_pipelines import ledger
    from amc_pipelines.runner import MAX_ATTEMPTS

    env = make_ledger_env(faults="failed=1")
    use_env(env.env())
    result = CliRunner().invoke(run, ["new_to_brand", "--instance", env.instances[0].instance_id,
                                      "--week", env.week(4).isoformat()])
    assert result.exit_code == 1, result.output
    assert "internal error" in result.output and f"attempt {MAX_ATTEMPTS} of {MAX_ATTEMPTS}" in result.output
    rows = ledger.list_executions(env.engine, report="new_to_brand")
    assert sorted((r.attempt, r.status) for r in rows) == [(n, "FAILED") for n in range(1, MAX_ATTEMPTS + 1)]
    assert all("internal error" in r.error for r in rows)
    assert env.stats()["executions_created"] == MAX_ATTEMPTS
