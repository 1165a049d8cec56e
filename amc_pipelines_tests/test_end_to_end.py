"""End to end: a partition backfill launched over GraphQL on a real webserver + daemon, against the AMC sandbox.

One deployment (``dagster-webserver`` and ``dagster-daemon`` in subprocesses, Dagster's storage in
the test's Postgres database next to the project's tables) runs a 12-week x 2-instance backfill of
one report plus one week that cannot succeed, then the same backfill again, then a headless
Chromium screenshot of the asset's Partitions tab. Set ``UPDATE_SCREENSHOTS=1`` to copy the
screenshot to ``docs/screenshots/``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from amc_pipelines.backfill_api import DagsterGraphQL
from amc_pipelines.dagster_home import DAGSTER_PG_URL_ENV
from amc_pipelines.db import psycopg2_url
from amc_pipelines.deployment import DagsterDeployment
from amc_pipelines.params import latest_collectable_week
from amc_pipelines.registry import InstanceSpec, add_instance, get_instance, remove_instance
from amc_pipelines_tests.ledger.conftest import make_ledger_env  # noqa: F401 - fixture

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

REPORT = "campaign_performance"
ASSET_KEY = ["amc", REPORT]
WEEKS = 12
# The second instance's AMC data arrives ten days after a week ends: its newest week under the
# default 48-hour lag is not collectable yet, a permanent failure raised before any AMC call.
LATE_DATA_LAG_HOURS = 240
BACKFILL_TIMEOUT = 600  # per backfill; a safety net for a loaded machine, not the expected time
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def test_backfill_through_webserver_and_daemon(make_ledger_env, tmp_path, monkeypatch):  # noqa: F811
    chromium = shutil.which("chromium")
    if chromium is None and os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed: `make chromium` installs it (apt-get install chromium)")
    env = make_ledger_env(latency="1")  # AMC's 10 running executions per instance (the sandbox default)
    first, late = (instance.instance_id for instance in env.instances[:2])
    set_data_lag(env.engine, late, LATE_DATA_LAG_HOURS)
    now = datetime.now(UTC)
    newest = {i.instance_id: latest_collectable_week(now=now, timezone=i.timezone, week_start="monday",
                                                     data_lag_hours=48) for i in env.instances[:2]}
    # Two weeks back from the newest: collectable under the late instance's lag too.
    last_week = min(newest.values()) - timedelta(weeks=2)
    weeks = [(last_week - timedelta(weeks=n)).isoformat() for n in reversed(range(WEEKS))]
    good = [f"{instance}|{week}" for instance in (first, late) for week in weeks]
    not_collectable = f"{late}|{newest[late].isoformat()}"

    home = tmp_path / "dagster"
    with contextlib.ExitStack() as stack:
        deployment = stack.enter_context(DagsterDeployment(home, env.env()))
        api = stack.enter_context(DagsterGraphQL(deployment.url, timeout=60))
        deployment.wait_for_partitions(REPORT, "instance", [first, late])
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        monkeypatch.setenv(DAGSTER_PG_URL_ENV, psycopg2_url(env.url))  # read when the URL has a password
        instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))

        first_id = api.launch([REPORT], [*good, not_collectable], title="end-to-end backfill")
        runs = wait_for_backfill(api, instance, first_id)
        assert instance.get_materialized_partitions(dg.AssetKey(ASSET_KEY)) == set(good)
        assert failed_partitions(runs) == {not_collectable}
        (failure,) = step_failures(instance, runs)
        assert "data lag" in failure and newest[late].isoformat() in failure
        stats = env.stats()
        assert stats["executions_created"] == len(good)  # the failing week never reached AMC
        assert set(stats["max_running_by_instance"]) == {first, late}
        assert all(peak <= 10 for peak in stats["max_running_by_instance"].values())

        # The same backfill again: every week reuses its loaded execution, and is materialized again.
        cursor = latest_storage_id(instance)
        second_id = api.launch([REPORT], [*good, not_collectable], title="end-to-end backfill, again")
        runs_again = wait_for_backfill(api, instance, second_id)
        assert env.stats()["executions_created"] == len(good)
        again = [record for record in materializations_after(instance, cursor)
                 if record.run_id in {run.run_id for run in runs_again}]
        assert sorted(record.partition_key for record in again) == sorted(good)
        assert {record.asset_materialization.metadata["how"].value for record in again} == {"reused"}
        assert failed_partitions(runs_again) == {not_collectable}

        untagged = [run.run_id for run in runs + runs_again if "dagster/partition/instance" not in run.tags]
        if chromium is None:
            pytest.skip("the backfill checks passed; the screenshot needs chromium (`make chromium`)")
        png = tmp_path / "partitions.png"
        screenshot(chromium, f"{deployment.url}/assets/{'/'.join(ASSET_KEY)}?view=partitions", png)
    colours, ink, green = colour_stats(png_pixels(png.read_bytes()))
    assert colours > 20 and ink > 0.02, f"{png} looks blank: {colours} colours, {ink:.1%} non-white pixels"
    assert green > 100, f"{png} shows no materialized (green) partition: {green} green pixels"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, SCREENSHOTS / "backfill_partitions.png")
    # Every backfill run carries the instance tag, so the per-instance run limit of
    # deploy/dagster.yaml (AMC's 10 running executions + 10 waiting in AMC's queue) applies to backfills.
    assert not untagged, f"{len(untagged)} backfill runs lack the dagster/partition/instance tag"


def set_data_lag(engine, instance_id: str, hours: int) -> None:
    fields = get_instance(engine, instance_id).model_dump(include=set(InstanceSpec.model_fields))
    remove_instance(engine, instance_id)
    add_instance(engine, InstanceSpec(**{**fields, "data_lag_hours": hours}))


def wait_for_backfill(api: DagsterGraphQL, instance: dg.DagsterInstance, backfill_id: str) -> list[dg.DagsterRun]:
    deadline = time.monotonic() + BACKFILL_TIMEOUT
    while not api.backfill(backfill_id).has_ended:
        assert time.monotonic() < deadline, f"backfill {backfill_id} still running after {BACKFILL_TIMEOUT} s"
        time.sleep(2)
    return list(instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id})))


def partition_of(run: dg.DagsterRun) -> str:
    return run.tags.get("dagster/partition") or run.tags["dagster/asset_partition_range_start"]


def failed_partitions(runs: list[dg.DagsterRun]) -> set[str]:
    assert all(run.status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE) for run in runs)
    return {partition_of(run) for run in runs if run.status == dg.DagsterRunStatus.FAILURE}


def step_failures(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> list[str]:
    messages = []
    for run in runs:
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
            failure = entry.dagster_event.step_failure_data
            messages.append(failure.user_failure_data.description if failure.user_failure_data
                            else failure.error.message)
    return messages


def latest_storage_id(instance: dg.DagsterInstance) -> int:
    records = instance.fetch_materializations(dg.AssetKey(ASSET_KEY), limit=1).records
    return records[0].storage_id if records else 0


def materializations_after(instance: dg.DagsterInstance, storage_id: int) -> list[dg.EventLogRecord]:
    selection = dg.AssetRecordsFilter(asset_key=dg.AssetKey(ASSET_KEY), after_storage_id=storage_id)
    return list(instance.fetch_materializations(selection, limit=1000).records)


def screenshot(chromium: str, url: str, target: Path) -> None:
    """Headless Chromium, flags as DESIGN.md section 5 lists them; the virtual time budget lets the UI
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
