"""`amc backfill` against a real dagster-webserver and dagster-daemon on Postgres instance storage.

The end-to-end test starts both as subprocesses (their own process group, killed at the end), with
the sandbox at 0.2 s latency and the sandbox's instances registered and added as partitions. It
launches a 3-week backfill, pauses it before any run reaches AMC, resumes it, waits for all
partitions, and cancels a second launch. Input errors are checked without a webserver: they must
fail with exit code 2 before anything is sent.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from amc_pipelines.backfill import backfill_progress, pause_record, progress_bar
from amc_pipelines.backfill_api import DagsterGraphQL
from amc_pipelines.commands.backfill import backfill
from amc_pipelines.db import psycopg2_url
from amc_pipelines.partitions import ReportPartition
from amc_pipelines_tests.ledger import conftest as ledger_fixtures

REPO = Path(__file__).resolve().parents[1]
REPORT = "campaign_performance"
# The ledger tests' environment (database, sandbox, registered instances) as fixtures of this module.
make_ledger_env, use_env = ledger_fixtures.make_ledger_env, ledger_fixtures.use_env
# Generous: runs take seconds each on an idle machine, much longer on a loaded one.
WAIT_SECONDS = 300
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _amc(*args: str):
    return CliRunner().invoke(backfill, list(args), catch_exceptions=False)


def _wait(what: str, predicate, timeout: float, logs: list[Path] = (), describe=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
    raise AssertionError(f"{what} did not happen within {timeout} s: {describe()}\n{tails}")


class DagsterProcesses:
    """dagster-webserver and dagster-daemon for one DAGSTER_HOME, each in its own process group."""

    def __init__(self, home: Path, env: dict[str, str], logs: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = [logs / "webserver.log", logs / "daemon.log"]
        commands = [
            [str(VENV_BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(self.port)],
            [str(VENV_BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        ]
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("AMC_", "DAGSTER_"))}
        self.processes = [
            subprocess.Popen(command, cwd=REPO, env={**clean, **env, "DAGSTER_HOME": str(home)},
                             stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
            for command, log in zip(commands, self.logs, strict=True)
        ]

    def wait_ready(self) -> None:
        def answers() -> bool:
            for process, log in zip(self.processes, self.logs, strict=True):
                assert process.poll() is None, f"{log.name} exited:\n{log.read_text()[-3000:]}"
            try:
                return httpx.get(f"{self.url}/server_info", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        _wait("the webserver answering", answers, WAIT_SECONDS, self.logs)

    def stop(self) -> None:
        # The process groups hold the code servers and run workers the two started.
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
            with contextlib.suppress(ProcessLookupError):  # children still alive after their parent exited
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def dagster(make_ledger_env, use_env, tmp_path):
    import dagster as dg

    from amc_pipelines.dagster_home import write_dagster_yaml
    from amc_pipelines.defs.instances.sensors import AMC_INSTANCES_PARTITION_SET

    env = make_ledger_env(latency="0.2")
    home = tmp_path / "dagster_home"
    write_dagster_yaml(home, postgres_url=psycopg2_url(env.url))
    with dg.DagsterInstance.from_config(str(home)) as instance:  # also creates Dagster's tables
        instance.add_dynamic_partitions(AMC_INSTANCES_PARTITION_SET, [i.instance_id for i in env.instances])
    processes = DagsterProcesses(home, env.env(), tmp_path)
    try:
        processes.wait_ready()
        use_env(env.env(AMC_DAGSTER_UI_URL=processes.url))
        yield env, processes, home
    finally:
        processes.stop()


def _started_id(result) -> str:
    assert result.exit_code == 0, result.output
    return re.search(r"backfill (\S+) launched", result.output).group(1)


@pytest.mark.slow
def test_backfills_launched_paused_resumed_and_cancelled_through_the_webserver(dagster) -> None:
    import dagster as dg

    env, processes, home = dagster
    instance_ids = sorted(i.instance_id for i in env.instances)
    api = DagsterGraphQL(processes.url)

    def totals(backfill_id: str) -> dict[str, int]:
        record = pause_record(env.engine, backfill_id)
        counts = dict.fromkeys(("done", "running", "queued", "failed", "paused", "canceled"), 0)
        for row in backfill_progress(api.backfill(backfill_id), set(record.refused) if record else set()):
            for state, n in row.counts.items():
                counts[state] += n
        return counts

    def wait_for(backfill_id: str, state: str, count: int) -> None:
        _wait(f"{count} partition(s) {state} in backfill {backfill_id}", lambda: totals(backfill_id)[state] == count,
              WAIT_SECONDS, processes.logs, lambda: f"{totals(backfill_id)} {api.backfill(backfill_id)}")

    # A one-week backfill, paused at once: its run starts later and refuses to submit to AMC.
    one_week = _started_id(_amc("start", REPORT, "--instances", instance_ids[0], "--weeks", "1"))
    assert _amc("pause", one_week).exit_code == 0
    wait_for(one_week, "paused", 1)
    # Then the whole backfill: 3 weeks x 2 instances, the paused week among them. Launched after the
    # refusal: had its run for that week reached AMC first, the paused run would rightly reattach to
    # that execution instead of refusing (seen under load).
    whole = _started_id(_amc("start", REPORT, "--weeks", "3"))
    assert "PAUSED since" in _amc("status", one_week).output

    resumed = _amc("resume", one_week)
    assert resumed.exit_code == 0, resumed.output
    again = re.search(r"again in backfill (\S+)", resumed.output).group(1)
    assert f"again in backfill {again}" in _amc("status", one_week).output
    wait_for(whole, "done", 6)
    wait_for(again, "done", 1)  # the same partition as one of the six: reused, not run twice

    status = _amc("status", whole)
    assert status.exit_code == 0
    for instance_id in instance_ids:
        assert re.search(rf"^{REPORT}\s+{instance_id}\s+3(\s+0){{5}}\s+\[#{{30}}\] 100%$", status.output, re.M), \
            status.output
    assert re.search(r"^total\s+6(\s+0){5}\s+\[#+\] 100%$", status.output, re.M), status.output
    listed = _amc("status").output  # the newest backfills
    assert whole in listed and again in listed

    assert env.stats()["executions_created"] == 6
    with dg.DagsterInstance.from_config(str(home)) as instance:
        materialized = instance.get_materialized_partitions(dg.AssetKey(["amc", REPORT]))
    assert len(materialized) == 6
    assert {ReportPartition.from_key(REPORT, key).instance_id for key in materialized} == set(instance_ids)

    # The same backfill again, cancelled at once: whether or not a run got through, AMC sees nothing new.
    repeat = _started_id(_amc("start", REPORT, "--weeks", "3"))
    cancelled = _amc("cancel", repeat)
    assert cancelled.exit_code == 0, cancelled.output
    assert api.backfill(repeat).status in ("CANCELING", "CANCELED")
    refused = _amc("pause", repeat)
    assert refused.exit_code == 2 and "nothing to pause" in refused.output

    # The paused one-week backfill ended with its refused week failed: retry-failed runs it once more.
    _wait("the paused backfill ending", lambda: api.backfill(one_week).has_ended, WAIT_SECONDS, processes.logs)
    retried = _amc("retry-failed", one_week)
    assert retried.exit_code == 0, retried.output
    retry = re.search(r"backfill (\S+) launched", retried.output).group(1)
    assert api.backfill(retry).partition_names == api.backfill(one_week).partition_names
    assert env.stats()["executions_created"] == 6


def test_input_errors_exit_2_before_the_webserver_is_asked(make_ledger_env, use_env) -> None:
    env = make_ledger_env()
    # Nothing listens there: an attempt to reach Dagster would fail with exit code 1, not 2.
    use_env(env.env(AMC_DAGSTER_UI_URL=f"http://127.0.0.1:{_free_port()}"))
    instance_id = env.instances[0].instance_id
    monday = env.week(weeks_back=4)
    cases = {
        ("start", "campaign_performence", "--weeks", "2"): "did you mean 'campaign_performance'",
        ("start", REPORT, "--instances", "amcnosuchinst01", "--weeks", "2"): "amcnosuchinst01",
        ("start", REPORT, "--from", str(monday + _days(2)), "--to", str(monday)): "Wednesday",
        ("start", REPORT, "--from", str(monday), "--to", str(monday - _days(7))): "is after --to",
        ("start", REPORT, "--from", "2020-01-06", "--to", "2020-01-13"): "retention",
        ("start", REPORT, "--from", str(monday), "--to", str(monday + _days(7 * 8))): "data lag",
        ("start", REPORT, "--weeks", "0"): "1 or more",
        ("start", REPORT): "--weeks N",
        ("start", REPORT, "--weeks", "2", "--from", str(monday), "--to", str(monday)): "--weeks N",
        ("start", REPORT, "--instances", ",", "--weeks", "2"): "--instances is empty",
    }
    for args, expected in cases.items():
        result = _amc(*args)
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output, (args, result.output)
    assert instance_id  # the registry held the sandbox's instances, so only the unknown one failed
    unreachable = _amc("status")
    assert unreachable.exit_code == 1 and "no Dagster webserver answers" in unreachable.output
    assert _amc("resume", "nosuchbackfill").exit_code == 2  # not paused: said before asking Dagster


def _days(n: int):
    from datetime import timedelta

    return timedelta(days=n)


def test_progress_bar_marks_done_running_and_failed() -> None:
    assert progress_bar({"done": 3, "running": 1, "failed": 1, "queued": 5}, width=10) == "[###>x.....]  30%"
    assert progress_bar({}, width=4) == "[....]   0%"


def test_a_paused_backfill_refuses_new_submissions_but_not_executions_in_flight(make_ledger_env) -> None:

    from amc_pipelines import ledger
    from amc_pipelines.backfill import pause_backfill, refuse_if_paused
    from amc_pipelines.runner import prepare_run

    env = make_ledger_env()
    instance_id = env.instances[0].instance_id
    new_week, in_flight_week = env.week(weeks_back=5), env.week(weeks_back=6)

    def key(week):
        return prepare_run(env.engine, env.settings, report_name=REPORT, instance_id=instance_id, week=week,
                           params={}, now=env.clock.now()).key

    def refuses(backfill_id: str, week) -> bool:
        return refuse_if_paused(env.engine, backfill_id, partition=ReportPartition(REPORT, instance_id, week),
                                execution_key=key(week))

    record = ledger.record_intent(env.engine, key(in_flight_week), parameters={}, workflow_id="wf")
    ledger.transition(env.engine, record.id, "SUBMITTED", amc_execution_id="exec-in-flight")
    assert not refuses("bf-running", new_week)  # not paused
    pause_backfill(env.engine, "bf-paused")
    assert refuses("bf-paused", new_week)
    assert not refuses("bf-paused", in_flight_week)  # reattaches to AMC's execution: nothing new is submitted
    assert not refuses("bf-running", new_week)  # another backfill goes on
    assert pause_record(env.engine, "bf-paused").refused == (ReportPartition(REPORT, instance_id, new_week),)
    pause_backfill(env.engine, "bf-paused")  # paused again: a fresh record
    assert pause_record(env.engine, "bf-paused").refused == ()
