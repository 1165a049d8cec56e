"""End to end: `make demo`, then `make dev` on the same Dagster home, against the AMC sandbox.

The demo's own logic (:func:`amc_pipelines.deployment.demo.run_demo`: 2 reports x 8 weeks x 2
instances, 32 partitions) runs on a fresh AMC_HOME in :class:`LocalDeployment`, the deployment that
`make demo` and `make dev` both run (a code server, the webserver and the daemon in subprocesses,
Dagster's storage in the test's Postgres database next to the project's tables). Then the dev
deployment starts on the same Dagster home and must show, over the UI's GraphQL, what the demo did:
32 materialized partitions, both backfills COMPLETED_SUCCESS, every run and check result. While it
runs, a second `amc dagster dev` is refused with what runs, `amc backfill status` finds its
webserver, a backfill over loaded weeks plus one week inside its instance's data lag creates no AMC
execution and fails that week alone, an ad hoc run launched as the UI's launch dialog does (run
config with other parameters) makes one AMC execution (none when repeated) and leaves the report's
own rows alone, and headless Chromium screenshots the Partitions tab and the lineage of a mart (set
``UPDATE_SCREENSHOTS=1`` to copy them to ``docs/screenshots/``). The demo waits for the marts
automation to build its weeks and prints the weekly tables. Every assertion about runs and
partitions comes before the screenshot, which alone may skip (no Chromium outside CI).

The per-instance run limit is lowered to :data:`RUNS_PER_INSTANCE` for this test: the project's 20
would never bind on 16 runs per instance, and the sandbox caps AMC at 10 running whatever Dagster
does. With 3, the runs' own records must show Dagster holding each instance to 3 runs in flight,
and the sandbox must never have seen more than 3 of an instance's executions running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from amc_pipelines.backfill_api import DagsterGraphQL
from amc_pipelines.dagster_home import DAGSTER_PG_URL_ENV, INSTANCE_PARTITION_TAG, instance_settings
from amc_pipelines.db import psycopg2_url
from amc_pipelines.defs.reports.checks import DUPLICATES_CHECK, ROWS_CHECK, SCHEMA_CHECK
from amc_pipelines.deployment.demo import REPORTS, run_demo
from amc_pipelines.deployment.local import LocalDeployment
from amc_pipelines.deployment.lock import find_running
from amc_pipelines.params import latest_collectable_week
from amc_pipelines.registry import InstanceSpec, add_instance, get_instance, remove_instance
from amc_pipelines_tests.ledger.conftest import make_ledger_env  # noqa: F401 - fixture

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

RUNS_PER_INSTANCE = 3
CHECKS = (SCHEMA_CHECK, DUPLICATES_CHECK, ROWS_CHECK)
# The second instance's AMC data arrives ten days after a week ends: its newest week under the
# default 48-hour lag is not collectable for it, a permanent failure raised before any AMC call.
LATE_DATA_LAG_HOURS = 240
BACKFILL_TIMEOUT = 600  # a safety net for a loaded machine, not the expected time
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
VENV_BIN = Path(sys.executable).parent

_ASSET = """query Asset($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { __typename
  ... on AssetNode { partitionStats { numMaterialized numFailed numMaterializing } } } }"""
_CHECK_EXECUTIONS = """query Checks($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 100) { status partition } }"""
_LAUNCH = """mutation Launch($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message } } }"""
_RUNS = """query Runs($tag: String!) { runsOrError(filter: {tags: [{key: "dagster/backfill", value: $tag}]}) {
  ... on Runs { results { runId status } } } }"""


def test_demo_then_dev_on_one_dagster_home(make_ledger_env, clock, tmp_path, monkeypatch):  # noqa: F811
    chromium = shutil.which("chromium")
    if chromium is None and os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed: `make chromium` installs it (apt-get install chromium)")
    env = make_ledger_env(latency="1")  # AMC's 10 running executions per instance (the sandbox default)
    first, late = env.instances[:2]
    set_data_lag(env.engine, late.instance_id, LATE_DATA_LAG_HOURS)
    now = clock.now()
    limits = instance_settings(runs_per_instance=RUNS_PER_INSTANCE)
    log: list[str] = []

    # -- make demo: a fresh AMC_HOME, 2 reports x 8 weeks x 2 instances ------------------------
    with LocalDeployment(env.env(), purpose="make demo", port=None, instance_settings=limits, out=log.append) as demo:
        home = demo.home
        result = run_demo(demo, instance_ids=[first.instance_id, late.instance_id], now=now, out=log.append)
    assert home == env.home / "dagster"  # AMC_HOME/dagster: the one Dagster home
    assert find_running(home) is None, "the demo left its deployment running"
    assert (result.partitions, result.materialized, result.failed) == (32, 32, 0), "\n".join(log)
    assert result.rows > 0
    # The marts' automation built every demo week after its loads; the demo printed each instance's weeks.
    demo_weeks = {week for plan_ in result.backfills.values() for weeks in plan_.weeks.values() for week in weeks}
    assert result.marts_weeks == len(demo_weeks), "\n".join(log)
    for instance_id in (first.instance_id, late.instance_id):
        assert f"instance {instance_id} (" in result.weekly_tables, result.weekly_tables
    assert "ROAS" in result.weekly_tables and "NTB share" in result.weekly_tables
    stats = env.stats()
    assert stats["executions_created"] == result.executions_created == 32  # one per partition, none twice
    # What AMC saw: never more of an instance's executions running than Dagster let runs start.
    assert set(stats["max_running_by_instance"]) == {first.instance_id, late.instance_id}
    assert max(stats["max_running_by_instance"].values()) <= RUNS_PER_INSTANCE, stats["max_running_by_instance"]
    backfill_ids = set(result.backfills)
    plan = next(plan for plan in result.backfills.values() if plan.report == REPORTS[0])

    with contextlib.ExitStack() as stack:
        monkeypatch.setenv(DAGSTER_PG_URL_ENV, psycopg2_url(env.url))  # read when the URL has a password
        instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))
        demo_runs = [run for backfill_id in backfill_ids for run in backfill_runs(instance, backfill_id)]
        # One run per partition, plus Dagster's own retries of a run whose process died (run retries;
        # the ledger makes a retry reattach, so AMC executions stay 32): the last run of each succeeded.
        retries = [run for run in demo_runs if RETRY_TAG in run.tags]
        assert len(demo_runs) == 32 + len(retries), describe(demo_runs)
        assert {run.status for run in last_run_per_partition(demo_runs)} == {dg.DagsterRunStatus.SUCCESS}, \
            describe(demo_runs)
        # The per-instance run limit, from Dagster's own records: runs in flight (dequeued to ended)
        # per instance reached the limit and never passed it.
        assert in_flight_peaks(instance, demo_runs) == {first.instance_id: RUNS_PER_INSTANCE,
                                                        late.instance_id: RUNS_PER_INSTANCE}

        # -- make dev on the same home: the UI shows what the demo did ---------------------------
        dev = stack.enter_context(LocalDeployment(env.env(), purpose="make dev", port=None, instance_settings=limits,
                                                  out=log.append))
        assert dev.home == home
        api = stack.enter_context(DagsterGraphQL(dev.url, timeout=60))
        for report in REPORTS:
            stats_ = api.execute(_ASSET, {"key": {"path": ["amc", report]}})["assetNodeOrError"]["partitionStats"]
            assert stats_ == {"numMaterialized": 16, "numFailed": 0, "numMaterializing": 0}, report
            for check in CHECKS:  # one result per partition; the row check may warn on an empty week
                executions = api.execute(_CHECK_EXECUTIONS, {"key": {"path": ["amc", report]}, "check": check})
                found = {e["partition"]: e["status"] for e in executions["assetCheckExecutions"]}
                assert len(found) == 16, (report, check, found)
                allowed = {"SUCCEEDED", "FAILED"} if check == ROWS_CHECK else {"SUCCEEDED"}
                assert set(found.values()) <= allowed, (report, check, found)
        assert {info.backfill_id: info.status for info in api.backfills()} == dict.fromkeys(backfill_ids,
                                                                                         "COMPLETED_SUCCESS")
        for backfill_id in backfill_ids:
            runs = api.execute(_RUNS, {"tag": backfill_id})["runsOrError"]["results"]
            assert len(runs) == 16 and {run["status"] for run in runs} == {"SUCCESS"}

        # One deployment per home: a second `make dev` says what runs instead of failing on a port.
        again = amc(env, "dagster", "dev")
        assert again.returncode == 1
        assert "make dev (pid" in again.stderr and f"is already running on DAGSTER_HOME={home}" in again.stderr
        assert dev.url in again.stderr and "amc dagster stop" in again.stderr
        # `amc backfill` finds the webserver of the running deployment, whatever its port.
        status = amc(env, "backfill", "status")
        assert status.returncode == 0, status.stderr
        assert all(backfill_id in status.stdout for backfill_id in backfill_ids)

        # The same weeks again plus one inside its instance's data lag: no new AMC execution, the
        # loaded weeks are reused and materialized again, the lagging week fails alone.
        reused = [f"{instance_id}|{week.isoformat()}" for instance_id in plan.instance_ids
                  for week in plan.weeks[instance_id][-2:]]
        newest = latest_collectable_week(now=now, timezone=late.timezone, week_start="monday", data_lag_hours=48)
        lagging = f"{late.instance_id}|{newest.isoformat()}"
        assert lagging not in plan.partition_keys and newest - plan.weeks[late.instance_id][-1] >= timedelta(weeks=1)
        second = api.launch([plan.report], [*reused, lagging], title="end-to-end: loaded weeks + one in the data lag")
        info = wait_for_backfill(api, second)
        runs = backfill_runs(instance, second)
        assert info.status == "COMPLETED_FAILED"
        assert {partition_of(run) for run in runs if run.status == dg.DagsterRunStatus.FAILURE} == {lagging}
        assert sorted(partition_of(run) for run in runs if run.status == dg.DagsterRunStatus.SUCCESS) \
            == sorted(reused)
        (failure,) = step_failures(instance, runs)
        assert "data lag" in failure and newest.isoformat() in failure
        assert env.stats()["executions_created"] == 32
        assert {record.asset_materialization.metadata["how"].value
                for run in runs for record in materializations(instance, plan.report, run.run_id)} == {"reused"}
        untagged = [run.run_id for run in demo_runs + runs if INSTANCE_PARTITION_TAG not in run.tags]
        assert not untagged, f"{len(untagged)} backfill runs lack the {INSTANCE_PARTITION_TAG} tag"

        # An ad hoc run as the launch dialog makes it: the partition's tags and, in the run config, other
        # parameters than the report's own. One new AMC execution; the report's rows stay as they were.
        partition = reused[0]
        instance_id, week = partition.split("|")
        own = result_rows(env, plan.report, instance_id, week)
        assert own and {r[0] for r in own} == {plan.report}
        campaign = int(own[0][2])
        config = {"campaign_ids": [campaign]}
        ad_hoc_run = launch_run(api, plan.report, partition, config)
        wait_for_run(instance, ad_hoc_run)
        (ad_hoc,) = materializations(instance, plan.report, ad_hoc_run)
        metadata = ad_hoc.asset_materialization.metadata
        assert metadata["ad_hoc"].value is True and metadata["how"].value == "submitted"
        assert metadata["result_table"].value == f"amc_results.{plan.report}"
        assert env.stats()["executions_created"] == 33
        assert result_rows(env, plan.report, instance_id, week) == own
        ad_hoc_rows = result_rows(env, plan.report, instance_id, week, parameters_hash=metadata["parameters_hash"].value)
        assert ad_hoc_rows and {r[2] for r in ad_hoc_rows} == {str(campaign)}
        again = launch_run(api, plan.report, partition, config)
        wait_for_run(instance, again)
        assert materializations(instance, plan.report, again)[0].asset_materialization.metadata["how"].value == "reused"
        assert env.stats()["executions_created"] == 33

        if chromium is None:
            pytest.skip("every deployment check passed; the screenshot needs chromium (`make chromium`)")
        png = tmp_path / "partitions.png"
        screenshot(chromium, f"{dev.url}/assets/amc/{plan.report}?view=partitions", png)
        # The lineage of a mart: amc/<report> -> staging -> marts.
        lineage = tmp_path / "lineage.png"
        screenshot(chromium, f"{dev.url}/assets/marts/fct_instance_week?view=lineage&lineageScope=upstream"
                             "&lineageDepth=5", lineage)
    colours, ink, green = colour_stats(png_pixels(png.read_bytes()))
    assert colours > 20 and ink > 0.02, f"{png} looks blank: {colours} colours, {ink:.1%} non-white pixels"
    assert green > 100, f"{png} shows no materialized (green) partition: {green} green pixels"
    colours, ink, _ = colour_stats(png_pixels(lineage.read_bytes()))
    assert colours > 20 and ink > 0.02, f"{lineage} looks blank: {colours} colours, {ink:.1%} non-white pixels"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, SCREENSHOTS / "backfill_partitions.png")
        shutil.copy(lineage, SCREENSHOTS / "marts_lineage.png")


def amc(env, *args: str) -> subprocess.CompletedProcess:
    """The `amc` command in a process of its own, with the test's AMC_* settings only."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("AMC_")}
    return subprocess.run([str(VENV_BIN / "amc"), *args], env={**inherited, **env.env()}, capture_output=True,
                          text=True, timeout=120)


def launch_run(api: DagsterGraphQL, report: str, partition: str, config: dict) -> str:
    """Materialize one partition with run config, the mutation the UI's launch dialog sends."""
    from amc_pipelines.deployment.processes import LOCATION_NAME

    instance_id, week = partition.split("|")
    path = ["amc", report]
    params = {
        "selector": {"repositoryLocationName": LOCATION_NAME, "repositoryName": "__repository__",
                     "pipelineName": "__ASSET_JOB", "assetSelection": [{"path": path}],
                     "assetCheckSelection": [{"assetKey": {"path": path}, "name": check} for check in CHECKS]},
        "runConfigData": {"ops": {"__".join(path): {"config": config}}},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition},
                                       {"key": "dagster/partition/instance", "value": instance_id},
                                       {"key": "dagster/partition/week", "value": week}]},
    }
    answer = api.execute(_LAUNCH, {"params": params})["launchPipelineExecution"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    return answer["run"]["runId"]


def wait_for_run(instance: dg.DagsterInstance, run_id: str) -> None:
    deadline = time.monotonic() + BACKFILL_TIMEOUT
    while not (run := instance.get_run_by_id(run_id)).is_finished:
        assert time.monotonic() < deadline, f"run {run_id} still running after {BACKFILL_TIMEOUT} s"
        time.sleep(1)
    assert run.status == dg.DagsterRunStatus.SUCCESS, run.status


def result_rows(env, report: str, instance_id: str, week: str, parameters_hash: str | None = None) -> list[tuple]:
    """(definition, parameters_hash, campaign_id, impressions) of a week's rows: the report's own
    (its implicit definition's hash) unless another hash is given."""
    from sqlalchemy import text

    from amc_pipelines.catalog.definitions import configured_definitions

    wanted = parameters_hash or configured_definitions(env.settings, check_sql=False)[report].parameters_hash
    with env.engine.connect() as connection:
        return connection.execute(text(
            f"SELECT definition, parameters_hash, campaign_id, impressions FROM amc_results.{report} "
            "WHERE definition = :report AND parameters_hash = :hash AND instance_id = :instance "
            "AND week_start = :week ORDER BY 1, 2, 3"), {"report": report, "hash": wanted, "instance": instance_id,
                                                          "week": week}).all()


def set_data_lag(engine, instance_id: str, hours: int) -> None:
    fields = get_instance(engine, instance_id).model_dump(include=set(InstanceSpec.model_fields))
    remove_instance(engine, instance_id)
    add_instance(engine, InstanceSpec(**{**fields, "data_lag_hours": hours}))


def wait_for_backfill(api: DagsterGraphQL, backfill_id: str):
    deadline = time.monotonic() + BACKFILL_TIMEOUT
    while not (info := api.backfill(backfill_id)).has_ended:
        assert time.monotonic() < deadline, f"backfill {backfill_id} still running after {BACKFILL_TIMEOUT} s"
        time.sleep(2)
    return info


def backfill_runs(instance: dg.DagsterInstance, backfill_id: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id})))


RETRY_TAG = "dagster/retry_number"


def last_run_per_partition(runs: list[dg.DagsterRun]) -> list[dg.DagsterRun]:
    last: dict[str, dg.DagsterRun] = {}
    for run in sorted(runs, key=lambda run: int(run.tags.get(RETRY_TAG, 0))):
        last[partition_of(run)] = run
    return list(last.values())


def describe(runs: list[dg.DagsterRun]) -> str:
    return "\n".join(f"{partition_of(run)} {run.status.value} {run.run_id[:8]} retry={run.tags.get(RETRY_TAG)} "
                     f"parent={run.tags.get('dagster/parent_run_id', '')[:8]}" for run in sorted(runs, key=partition_of))


def partition_of(run: dg.DagsterRun) -> str:
    return run.tags.get("dagster/partition") or run.tags["dagster/asset_partition_range_start"]


def in_flight_peaks(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> dict[str, int]:
    """Per instance, the most runs in flight at once: from the run's dequeue (RUN_STARTING, when
    the queue lets it through) to its end, as the run queue counts them."""
    points: dict[str, list[tuple[float, int]]] = {}
    for record in instance.get_run_records(dg.RunsFilter(run_ids=[run.run_id for run in runs])):
        run = record.dagster_run
        (starting,) = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_STARTING).records
        assert record.end_time is not None, f"run {run.run_id} has not ended"
        points.setdefault(run.tags[INSTANCE_PARTITION_TAG], []).extend(
            [(starting.timestamp, 1), (record.end_time, -1)])
    peaks = {}
    for instance_id, events in points.items():
        level = peak = 0
        for _, step in sorted(events):  # an end before a start at the same moment
            level += step
            peak = max(peak, level)
        peaks[instance_id] = peak
    return peaks


def step_failures(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> list[str]:
    messages = []
    for run in runs:
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
            failure = entry.dagster_event.step_failure_data
            messages.append(failure.user_failure_data.description if failure.user_failure_data
                            else failure.error.message)
    return messages


def materializations(instance: dg.DagsterInstance, report: str, run_id: str) -> list[dg.EventLogRecord]:
    records = instance.fetch_materializations(dg.AssetKey(["amc", report]), limit=1000).records
    return [record for record in records if record.run_id == run_id]


def screenshot(chromium: str, url: str, target: Path) -> None:
    """Headless Chromium without a sandbox, GPU, QUIC or background networking; the virtual time budget lets the UI
    fetch and render the partition statuses before the capture."""
    with tempfile.TemporaryDirectory(prefix="amc-chromium-") as profile:
        subprocess.run([
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--window-size=1600,1000", "--virtual-time-budget=15000",
            f"--screenshot={target}", url,
        ], check=True, capture_output=True, timeout=120)
    assert target.exists(), f"chromium wrote no screenshot of {url}"


def png_pixels(data: bytes) -> np.ndarray:
    """The (height, width, channels) pixels of an 8-bit RGB or RGBA PNG (no Pillow here)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks, header = 8, [], None
    while position < len(data):
        (length,), kind = struct.unpack(">I", data[position:position + 4]), data[position + 4:position + 8]
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour_type, *_ = header
    assert depth == 8 and colour_type in (2, 6), f"unexpected PNG format: depth {depth}, colour type {colour_type}"
    bpp = 3 if colour_type == 2 else 4
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8).reshape(height, stride + 1)
    pixels = np.zeros((height, stride), dtype=np.int32)
    previous = np.zeros(stride, dtype=np.int32)
    for row in range(height):
        kind, line = raw[row, 0], raw[row, 1:].astype(np.int32)
        if kind == 0:
            current = line
        elif kind == 1:  # Sub: a running sum along each channel
            current = np.cumsum(line.reshape(width, bpp), axis=0).reshape(stride) % 256
        elif kind == 2:  # Up
            current = (line + previous) % 256
        else:  # Average and Paeth depend on the reconstructed left byte: byte by byte
            current = np.array(_unfilter_sequential(kind, line.tolist(), previous.tolist(), bpp), dtype=np.int32)
        pixels[row], previous = current, current
    return pixels.reshape(height, width, bpp)[:, :, :3].astype(np.uint8)


def _unfilter_sequential(kind: int, line: list[int], previous: list[int], bpp: int) -> list[int]:
    for i, value in enumerate(line):
        left = line[i - bpp] if i >= bpp else 0
        up = previous[i]
        if kind == 3:
            line[i] = (value + (left + up) // 2) & 0xFF
        else:
            up_left = previous[i - bpp] if i >= bpp else 0
            estimate = left + up - up_left
            pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - up_left)
            line[i] = (value + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 0xFF
    return line


def colour_stats(pixels: np.ndarray) -> tuple[int, float, int]:
    """(distinct colours, share of not near-white pixels, pixels of a clear green: Dagster's
    materialized status)."""
    flat = pixels.reshape(-1, 3).astype(np.int32)
    colours = len(np.unique(flat[:, 0] << 16 | flat[:, 1] << 8 | flat[:, 2]))
    ink = float((flat.min(axis=1) < 235).mean())
    green = int(((flat[:, 1] - np.maximum(flat[:, 0], flat[:, 2])) > 40).sum())
    return colours, ink, green
