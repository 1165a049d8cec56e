"""``amc run`` against the sandbox over HTTP and a real Postgres: exact rows, reuse, --force, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from click.testing import CliRunner

from amc_pipelines import ledger
from amc_pipelines.commands.run import run
from amc_pipelines.runner import prepare_run, run_report

REPORT = "asin_performance"


def _run_cli(*args: str):
    result = CliRunner().invoke(run, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_run_loads_the_sandbox_rows_then_reuses_them_and_force_submits_once(make_ledger_env, use_env, sandbox_dataset):
    env = make_ledger_env()
    use_env(env.env())
    instance = env.instances[0].instance_id
    week = env.week(weeks_back=5).isoformat()
    report = "path_to_conversion"  # the built-in report with the most rows per week in the small dataset
    args = [report, "--instance", instance, "--week", week]

    first = _run_cli(*args)
    assert (first["status"], first["how"], env.stats()["executions_created"]) == ("LOADED", "submitted", 1)
    request = prepare_run(env.engine, env.settings, report_name=report, instance_id=instance, week=week, params={})
    expected = env.expected_rows(sandbox_dataset, request)
    assert len(expected) >= 5
    assert env.loaded_rows(request) == expected
    assert first["rows"] == len(expected)

    calls_before = sum(env.stats()["calls"].values())
    second = _run_cli(*args)
    assert (second["status"], second["how"], second["amc_execution_id"]) == ("REUSED", "reused", first["amc_execution_id"])
    assert env.stats()["executions_created"] == 1
    assert sum(env.stats()["calls"].values()) == calls_before  # a reuse asks AMC nothing at all

    forced = _run_cli(*args, "--force")
    assert (forced["status"], forced["how"]) == ("LOADED", "submitted")
    assert forced["amc_execution_id"] != first["amc_execution_id"]
    assert env.stats()["executions_created"] == 2
    assert forced["checksum"] == first["checksum"]
    assert env.loaded_rows(request) == expected  # replaced, not appended
    statuses = {r.id: r.status for r in ledger.list_executions(env.engine, report=report)}
    assert statuses == {first["ledger_id"]: "SUPERSEDED", forced["ledger_id"]: "LOADED"}


def test_a_parameterised_run_loads_only_the_asked_asins(make_ledger_env, sandbox_dataset):
    env = make_ledger_env()
    instance = env.instances[0].instance_id
    all_asins = prepare_run(env.engine, env.settings, report_name=REPORT, instance_id=instance,
                            week=env.week(weeks_back=7), params={})
    asins = sorted({row[0] for row in env.expected_rows(sandbox_dataset, all_asins)})[:2]
    request = prepare_run(env.engine, env.settings, report_name=REPORT, instance_id=instance,
                          week=env.week(weeks_back=7), params={"asins": ",".join(asins)})
    with env.client() as client:
        outcome = run_report(env.engine, env.settings, client, request)
    assert outcome.status == "LOADED"
    expected = env.expected_rows(sandbox_dataset, request)
    assert {row[0] for row in expected} == set(asins)
    assert env.loaded_rows(request) == expected
    record = ledger.get_execution(env.engine, outcome.ledger_id)
    assert record.parameters == {"asins": asins}
    assert [e.status for e in ledger.execution_history(env.engine, outcome.ledger_id)][:1] == ["INTENDED"]
    assert [e.status for e in ledger.execution_history(env.engine, outcome.ledger_id)][-2:] == ["SUCCEEDED", "LOADED"]


def _wait_for_ledger(env, statuses: tuple[str, ...], timeout: float = 60.0) -> ledger.ExecutionRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [r for r in ledger.list_executions(env.engine, report=REPORT) if r.status in statuses]
        if rows and rows[0].amc_execution_id:
            return rows[0]
        time.sleep(0.05)
    raise AssertionError(f"no ledger row reached {statuses} within {timeout} s")


def test_kill_9_while_pending_then_the_same_command_reattaches(make_ledger_env, use_env, sandbox_dataset):
    env = make_ledger_env(latency="3")  # the sandbox lives in this process and outlives the killed run
    instance = env.instances[1].instance_id
    week = env.week(weeks_back=6, instance=1).isoformat()
    args = [REPORT, "--instance", instance, "--week", week]
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("AMC_")} | env.env()
    child = subprocess.Popen(
        [sys.executable, "-c", "from amc_pipelines.commands.run import run; run()", *args],
        env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        submitted = _wait_for_ledger(env, ("SUBMITTED", "PENDING", "RUNNING"))
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert env.stats()["executions_created"] == 1

    use_env(env.env())
    again = _run_cli(*args)
    assert (again["how"], again["amc_execution_id"]) == ("reattached", submitted.amc_execution_id)
    assert env.stats()["executions_created"] == 1
    request = prepare_run(env.engine, env.settings, report_name=REPORT, instance_id=instance, week=week, params={})
    assert env.loaded_rows(request) == env.expected_rows(sandbox_dataset, request)
    rows = ledger.list_executions(env.engine, report=REPORT)
    assert [(r.id, r.status) for r in rows] == [(submitted.id, "LOADED")]


def test_an_intent_without_an_amc_id_adopts_the_execution_amc_accepted(make_ledger_env):
    # The crash window: AMC accepted the execution, the process died before recording its id.
    env = make_ledger_env()
    instance = env.instances[0].instance_id
    request = prepare_run(env.engine, env.settings, report_name=REPORT, instance_id=instance,
                          week=env.week(weeks_back=8), params={"asins": "[]"})
    from amc_pipelines.amc.models import InstanceContext
    from amc_pipelines.params import amc_input_parameters, amc_parameter_values

    spec = request.report
    values = amc_parameter_values(spec.parameters, request.parameters)
    intent = ledger.record_intent(env.engine, request.key, parameters=values, workflow_id=spec.workflow_id)
    with env.client() as client:
        ctx = InstanceContext.from_instance(request.instance)
        client.ensure_workflow(ctx, workflow_id=spec.workflow_id, sql=spec.amc_sql(),
                               input_parameters=amc_input_parameters(spec.parameters))
        accepted = client.create_execution(ctx, workflow_id=spec.workflow_id, window=request.window,
                                           parameter_values=values)
        assert env.stats()["executions_created"] == 1
        outcome = run_report(env.engine, env.settings, client, request)
    assert (outcome.ledger_id, outcome.amc_execution_id) == (intent.id, accepted.workflow_execution_id)
    assert (outcome.status, outcome.reattached, outcome.submitted) == ("LOADED", True, False)
    assert env.stats()["executions_created"] == 1
    history = ledger.execution_history(env.engine, intent.id)
    assert any(e.detail == "adopted from AMC's execution list" for e in history)


def test_an_intent_that_never_reached_amc_is_submitted_once(make_ledger_env):
    env = make_ledger_env()
    instance = env.instances[0].instance_id
    request = prepare_run(env.engine, env.settings, report_name=REPORT, instance_id=instance,
                          week=env.week(weeks_back=9), params={})
    from amc_pipelines.params import amc_parameter_values

    intent = ledger.record_intent(env.engine, request.key, workflow_id=request.report.workflow_id,
                                  parameters=amc_parameter_values(request.report.parameters, request.parameters))
    with env.client() as client:
        outcome = run_report(env.engine, env.settings, client, request)
    assert (outcome.ledger_id, outcome.status, outcome.submitted) == (intent.id, "LOADED", True)
    assert env.stats()["executions_created"] == 1


def test_a_provisional_load_is_collected_again_once_the_window_has_settled(make_ledger_env):
    from dataclasses import replace

    env = make_ledger_env()
    request = prepare_run(env.engine, env.settings, report_name="new_to_brand", instance_id=env.instances[0].instance_id,
                          week=env.week(weeks_back=10), params={})
    with env.client() as client:
        first = run_report(env.engine, env.settings, client, replace(request, provisional=True))
        reused = run_report(env.engine, env.settings, client, replace(request, provisional=True))
        settled = run_report(env.engine, env.settings, client, request)
        settled_again = run_report(env.engine, env.settings, client, request)
    assert (first.status, first.provisional, reused.status) == ("LOADED", True, "REUSED")
    assert (settled.status, settled.provisional, settled.submitted) == ("LOADED", False, True)
    assert settled_again.status == "REUSED"
    assert env.stats()["executions_created"] == 2
    assert ledger.get_execution(env.engine, first.ledger_id).status == "SUPERSEDED"
