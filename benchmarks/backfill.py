"""Backfill benchmark: a partition backfill through a real Dagster deployment against the AMC sandbox.

Run ``.venv/bin/python benchmarks/backfill.py`` (defaults: 52 weeks x 1 instance of
``campaign_performance``, sandbox latency 60 s, AMC's 10 running executions per instance). It
creates a fresh database on ``--server`` (default ``AMC_TEST_DATABASE_URL`` or
postgresql://postgres@127.0.0.1:5432/postgres; dropped at the end), starts the sandbox in this
process with that latency, registers the instances, starts ``dagster-webserver`` and
``dagster-daemon`` on Postgres storage (:class:`amc_pipelines.deployment.DagsterDeployment`),
launches one ``launchPartitionBackfill`` per report over GraphQL, waits and measures:

- makespan (launch to the last run's end) against the bound ceil(partitions per instance / 10) x
  latency, goal at most 1.25 x the bound;
- the sandbox's peak running executions per instance, AMC API calls per execution;
- per-run overhead from the runs' start/end times and the ledger's submitted/finished/loaded times;
- peak memory of the deployment: RSS summed over every descendant process of this one (webserver,
  daemon, code servers, run workers), sampled every 0.5 s. The sandbox runs in this process and
  is not counted.

``--batch-size N`` measures the batched design instead (``AMC_BACKFILL_BATCH_SIZE``, see
``amc_pipelines/defs/reports/assets.py``). ``--json FILE`` keeps every figure. Prints a markdown
block to record under "Backfill" in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

from amc_pipelines.partitions import (  # noqa: E402 - after the path is set
    INSTANCE_DIMENSION,
    INSTANCE_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    ReportPartition,
    key_of_run_tags,
)
from benchmarks.host import machine  # noqa: E402

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
AMC_RUNNING_PER_INSTANCE = 10
GOAL_FACTOR = 1.25
_ALL_RUNS = """{ runsOrError { __typename ... on Runs { results { runId status tags { key value } } } } }"""
_RUNS = """query Runs($tag: String!) { runsOrError(filter: {tags: [{key: "dagster/backfill", value: $tag}]}) {
  __typename ... on Runs { results { runId status creationTime startTime endTime
    tags { key value } assetSelection { path } } } ... on PythonError { message } } }"""


class MemorySampler(threading.Thread):
    """Every ``interval`` s: RSS summed over all descendants of this process, and how many of them
    are Dagster run workers (the code server starts each run as a ``multiprocessing`` spawn child)."""

    def __init__(self, interval: float = 0.5) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        import psutil

        self.psutil, self.interval = psutil, interval
        self.peak_mb = self.peak_processes = self.peak_run_workers = 0.0
        self.samples: list[tuple[float, float, int]] = []
        self._halt = threading.Event()

    def sample(self) -> tuple[float, int, int]:
        total, workers, count = 0, 0, 0
        for process in self.psutil.Process().children(recursive=True):
            try:
                total += process.memory_info().rss
                workers += "spawn_main" in " ".join(process.cmdline())
                count += 1
            except self.psutil.Error:  # ended between listing and reading
                continue
        return total / 2**20, count, workers

    def run(self) -> None:
        while not self._halt.is_set():
            mb, count, workers = self.sample()
            self.samples.append((time.time(), mb, workers))
            self.peak_mb = max(self.peak_mb, mb)
            self.peak_processes = max(self.peak_processes, count)
            self.peak_run_workers = max(self.peak_run_workers, workers)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "p90": ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)],
            "min": ordered[0], "max": ordered[-1]}


def partitions_of_run(report: str, tags: dict[str, str], planned: dict[str, list[date]]) -> list[ReportPartition]:
    """The partitions of ``report`` a run covered: its partition tags, or its range of one instance's weeks."""
    key = key_of_run_tags(tags)
    if key is not None:
        return [ReportPartition.from_key(report, key)]
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if not (start and end):
        return []
    first, last = ReportPartition.from_key(report, start), ReportPartition.from_key(report, end)
    return [ReportPartition(report, first.instance_id, week) for week in sorted(planned.get(first.instance_id, []))
            if first.week <= week <= last.week]


def run_overheads(runs: list[dict], ledger_rows: list[dict], planned: dict[str, list[date]]) -> dict:
    """Per run: queued (created -> started: the run queue's limits at work), start (run started ->
    its first AMC submission), finish (last load -> run ended) and the run's time outside AMC
    (run time minus first submission -> last finish seen)."""
    by_key = {ReportPartition(row["report_name"], row["instance_id"], row["window_start"].date()): row
              for row in ledger_rows}
    queued, start, finish, outside, wall = [], [], [], [], []
    for run in runs:
        tags = {tag["key"]: tag["value"] for tag in run["tags"]}
        reports = [key["path"][-1] for key in run.get("assetSelection") or []]
        rows = [by_key[partition] for report in reports for partition in partitions_of_run(report, tags, planned)
                if partition in by_key]
        if run["status"] != "SUCCESS" or not rows or not run["startTime"] or not run["endTime"]:
            continue
        submitted = [r["submitted_at"].timestamp() for r in rows if r["submitted_at"]]
        finished = [r["finished_at"].timestamp() for r in rows if r["finished_at"]]
        loaded = [r["loaded_at"].timestamp() for r in rows if r["loaded_at"]]
        if not (submitted and finished and loaded):
            continue
        queued.append(run["startTime"] - run["creationTime"])
        start.append(min(submitted) - run["startTime"])
        finish.append(run["endTime"] - max(loaded))
        wall.append(run["endTime"] - run["startTime"])
        outside.append(wall[-1] - (max(finished) - min(submitted)))
    return {"runs_measured": len(wall), "queued_s": spread(queued), "start_to_submit_s": spread(start),
            "load_to_end_s": spread(finish), "run_wall_s": spread(wall), "outside_amc_s": spread(outside)}


def ledger_rows(engine) -> list[dict]:
    from sqlalchemy import text

    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(
            "SELECT report_name, instance_id, window_start, status, created_at, submitted_at, finished_at, loaded_at, "
            "api_calls FROM amc.executions"))]


def register_instances(engine, dataset, count: int, week_start: str) -> list[str]:
    from amc_pipelines.registry import InstanceSpec, upsert_discovered

    if count > len(dataset.instances):
        raise SystemExit(f"--instances {count}: the sandbox's dataset has {len(dataset.instances)} instances; "
                         "use --size large for up to 5")
    chosen = dataset.instances[:count]
    for inst in chosen:
        upsert_discovered(engine, InstanceSpec.parse(
            instance_id=inst.instance_id, name=inst.advertiser, account_id=inst.account_id,
            marketplace_id=inst.marketplace_id, region=inst.region, timezone=inst.timezone, week_start=week_start))
    return [inst.instance_id for inst in chosen]


def benchmark(args: argparse.Namespace, database_url: str, work: Path) -> dict:
    from amc_pipelines.backfill import DagsterGraphQL, plan_backfill
    from amc_pipelines.dagster_home import PENDING_AHEAD_PER_INSTANCE, instance_settings
    from amc_pipelines.db import get_engine, upgrade
    from amc_pipelines.deployment import DagsterDeployment
    from amc_pipelines.sandbox.api import SandboxConfig, SandboxServer
    from amc_pipelines.sandbox.api.backend import SandboxBackend
    from amc_pipelines.sandbox.api.config import Latency
    from amc_pipelines.sandbox.datagen import ensure_dataset
    from amc_pipelines.settings import Settings

    if args.pending_ahead is None:
        args.pending_ahead = PENDING_AHEAD_PER_INSTANCE
    # The dagster.yaml the deployment writes: the project's, or the values being measured.
    dagster_settings = instance_settings(pending_ahead=args.pending_ahead)
    if args.dequeue_workers:
        dagster_settings["run_queue"].update(dequeue_use_threads=True, dequeue_num_workers=args.dequeue_workers)
    upgrade(database_url)
    engine = get_engine(database_url)
    began = time.perf_counter()
    dataset = ensure_dataset(Path(args.data_dir), size=args.size, seed=7)
    print(f"sandbox dataset ({args.size}) ready in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    config = SandboxConfig(data_dir=Path(args.data_dir), work_dir=work / "sandbox-results", size=args.size,
                           latency=Latency.parse(args.latency), max_running_per_instance=AMC_RUNNING_PER_INSTANCE)
    result: dict = {"date": date.today().isoformat(), "machine": machine(), "command": " ".join(sys.argv),
                    "weeks": args.weeks, "instances": args.instances, "reports": args.reports,
                    "latency_s": args.latency, "batch_size": args.batch_size, "dequeue_workers": args.dequeue_workers, "poll_seconds": args.poll_seconds,
                    "pending_ahead": args.pending_ahead,
                    "runs_per_instance_limit": AMC_RUNNING_PER_INSTANCE + args.pending_ahead}
    with SandboxServer(config, backend=SandboxBackend(dataset)) as sandbox:
        env = {"AMC_HOME": str(work / "amc-home"), "AMC_DATABASE_URL": database_url, "AMC_API_URL": sandbox.url,
               "AMC_POLL_SECONDS": str(args.poll_seconds), "AMC_BACKFILL_BATCH_SIZE": str(args.batch_size)}
        settings = Settings.from_env(env)
        instance_ids = register_instances(engine, dataset, args.instances, settings.week_start)
        plans = [plan_backfill(engine, settings, report=report, instance_ids=instance_ids, weeks=args.weeks)
                 for report in args.reports]
        planned = {i: list(plans[0].weeks[i]) for i in instance_ids}
        per_instance = len(args.reports) * args.weeks
        bound = math.ceil(per_instance / AMC_RUNNING_PER_INSTANCE) * float(args.latency)
        result["bound_s"] = bound
        sampler = MemorySampler()
        began = time.perf_counter()
        with DagsterDeployment(work / "dagster-home", env, instance_settings=dagster_settings) as deployment:
            result["deployment_start_s"] = time.perf_counter() - began
            for report in args.reports:
                deployment.wait_for_partitions(report, INSTANCE_DIMENSION, instance_ids)
            result["idle_deployment_rss_mb"], result["idle_processes"], _ = sampler.sample()
            print(f"deployment up in {result['deployment_start_s']:.1f} s ({result['idle_deployment_rss_mb']:.0f} MB, "
                  f"{result['idle_processes']} processes); launching {sum(len(p.partition_keys) for p in plans)} "
                  f"partitions, bound {bound:.0f} s", file=sys.stderr)
            sampler.start()
            with DagsterGraphQL(deployment.url, timeout=60) as api:
                launched = time.time()
                backfill_ids = [api.launch([p.report], p.partition_keys, title=f"benchmark: {p.title}") for p in plans]
                infos = wait_for_backfills(api, backfill_ids, sandbox, launched, args.timeout)
                ended = time.time()
                runs = [run for backfill_id in backfill_ids
                        for run in deployment.graphql(_RUNS, {"tag": backfill_id})["runsOrError"]["results"]]
                # Runs outside the backfills: amc_execution_sensor's rescue runs (and instance sync).
                every_run = deployment.graphql(_ALL_RUNS)["runsOrError"]["results"]
                result["rescue_runs"] = sum(any(t["key"] == "amc/rescued_execution" for t in run["tags"])
                                            for run in every_run)
            sampler.stop()
        stats = sandbox.stats()
    rows = ledger_rows(engine)
    timed_out = not all(info.has_ended for info in infos)
    run_ends = [run["endTime"] for run in runs if run["endTime"]]
    result["launch_to_first_run_created_s"] = min(run["creationTime"] for run in runs) - launched if runs else None
    makespan = (max(run_ends) if run_ends else ended) - launched
    executions = stats["executions_created"]
    calls = sum(stats["calls"].values())
    result.update({
        "backfill_status": [info.status for info in infos],
        "partitions": sum(len(p.partition_keys) for p in plans),
        "partitions_materialized": sum(sum(c[2] for c in info.asset_counts.values()) for info in infos),
        "partitions_failed": sum(sum(c[3] for c in info.asset_counts.values()) for info in infos),
        "runs": len(runs), "runs_by_status": {s: sum(r["status"] == s for r in runs) for s in {r["status"] for r in runs}},
        "timed_out": timed_out, "makespan_s": makespan, "until_backfill_completed_s": ended - launched,
        "makespan_over_bound": makespan / bound, "goal_met": (not timed_out and makespan <= GOAL_FACTOR * bound
                     and sum(r["status"] == "LOADED" for r in rows) == sum(len(p.partition_keys) for p in plans)),
        "amc_executions": executions, "ledger_loaded": sum(r["status"] == "LOADED" for r in rows),
        "max_running_by_instance": stats["max_running_by_instance"],
        "amc_api_calls": calls, "amc_api_calls_by_operation": stats["calls"],
        "amc_api_calls_per_execution": calls / executions if executions else None,
        "peak_deployment_rss_mb": sampler.peak_mb, "peak_processes": sampler.peak_processes,
        "peak_run_workers": sampler.peak_run_workers,
        "overhead": run_overheads(runs, rows, planned),
        "max_runs_in_progress_by_instance": max_overlap_by_instance(runs),
        "amc_time_s": spread([(r["finished_at"] - r["submitted_at"]).total_seconds() for r in rows
                              if r["finished_at"] and r["submitted_at"]]),
    })
    return result


def max_overlap_by_instance(runs: list[dict]) -> dict[str, int]:
    """The most runs of one instance in progress at once, from the runs' start and end times."""
    events: dict[str, list[tuple[float, int]]] = {}
    for run in runs:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        instance = tags.get(INSTANCE_TAG)
        if instance and run["startTime"]:
            events.setdefault(instance, []).extend([(run["startTime"], 1), (run["endTime"] or math.inf, -1)])
    peaks = {}
    for instance, points in events.items():
        level = peak = 0
        for _, step in sorted(points, key=lambda p: (p[0], p[1])):  # an end before a start at the same time
            level += step
            peak = max(peak, level)
        peaks[instance] = peak
    return peaks


def wait_for_backfills(api, backfill_ids: list[str], sandbox, launched: float, timeout: float) -> list:
    deadline, last_print = launched + timeout, 0.0
    while True:
        infos = [api.backfill(backfill_id) for backfill_id in backfill_ids]
        if all(info.has_ended for info in infos):
            return infos
        if time.time() > deadline:  # measure what got done; stopping the deployment ends the runs
            print(f"the backfills did not end within {timeout:.0f} s: {[i.status for i in infos]}", file=sys.stderr)
            return infos
        if time.time() - last_print >= 30:
            last_print = time.time()
            counts = [c for info in infos for c in info.asset_counts.values()]
            stats = sandbox.stats()
            print(f"  {time.time() - launched:6.0f} s: materialized {sum(c[2] for c in counts)}, in progress "
                  f"{sum(c[1] for c in counts)}, failed {sum(c[3] for c in counts)}; AMC executions "
                  f"{stats['executions_created']}, max running {stats['max_running_by_instance']}", file=sys.stderr)
        time.sleep(2)


def _s(figures: dict, key: str = "median") -> str:
    return f"{figures[key]:.1f}" if figures else "-"


def markdown(r: dict) -> str:
    o = r["overhead"]
    design = "one run per partition" if r["batch_size"] == 1 else f"batched, up to {r['batch_size']} weeks per run"
    if r["dequeue_workers"]:
        design += f", runs launched from {r['dequeue_workers']} threads"
    design += f", run limit {r['runs_per_instance_limit']} per instance ({r['pending_ahead']} pending ahead in AMC)"
    return "\n".join([
        f"#### {r['date']}: {r['weeks']} weeks x {r['instances']} instance(s) x {len(r['reports'])} report(s), "
        f"latency {r['latency_s']} s, {design}",
        "",
        f"Machine: {r['machine']}. Command: `{r['command']}`.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| partitions (materialized / failed) | {r['partitions']} ({r['partitions_materialized']} / {r['partitions_failed']}) |",
        f"| Dagster runs of the backfill (+ amc_execution_sensor rescue runs) | {r['runs']} {r['runs_by_status']} "
        f"(+ {r['rescue_runs']}) |",
        f"| makespan, launch to last run end | {r['makespan_s']:.0f} s"
        f"{' (stopped at --timeout: not all partitions done)' if r['timed_out'] else ''} |",
        f"| bound ceil(partitions per instance / 10) x latency | {r['bound_s']:.0f} s |",
        f"| makespan / bound (goal <= {GOAL_FACTOR}) | {r['makespan_over_bound']:.2f} ({'met' if r['goal_met'] else 'missed'}) |",
        f"| launch to backfill COMPLETED in Dagster | {r['until_backfill_completed_s']:.0f} s |",
        f"| AMC executions created (ledger LOADED) | {r['amc_executions']} ({r['ledger_loaded']}) |",
        f"| max running executions per instance (sandbox) | {r['max_running_by_instance']} |",
        f"| max Dagster runs in progress per instance (limit {r['runs_per_instance_limit']}) | "
        f"{r['max_runs_in_progress_by_instance']} |",
        f"| AMC API calls per execution | {r['amc_api_calls_per_execution']:.1f} ({r['amc_api_calls']} calls) |",
        f"| AMC time per execution, submit to finish seen (median / max) | {_s(r['amc_time_s'])} / {_s(r['amc_time_s'], 'max')} s |",
        f"| launch to first run created (backfill daemon tick) | {r['launch_to_first_run_created_s']:.0f} s |",
        f"| run queued, created to started (median / max) | {_s(o['queued_s'])} / {_s(o['queued_s'], 'max')} s |",
        f"| run started to first AMC submission (median / p90 / max) | {_s(o['start_to_submit_s'])} / "
        f"{_s(o['start_to_submit_s'], 'p90')} / {_s(o['start_to_submit_s'], 'max')} s |",
        f"| last load to run end (median / max) | {_s(o['load_to_end_s'])} / {_s(o['load_to_end_s'], 'max')} s |",
        f"| run wall time outside AMC (median / p90 / max) | {_s(o['outside_amc_s'])} / {_s(o['outside_amc_s'], 'p90')} / "
        f"{_s(o['outside_amc_s'], 'max')} s |",
        f"| deployment start (code server + webserver + daemon) | {r['deployment_start_s']:.0f} s |",
        f"| deployment RSS idle / peak (all processes, 0.5 s samples) | {r['idle_deployment_rss_mb']:.0f} / "
        f"{r['peak_deployment_rss_mb']:.0f} MB |",
        f"| peak processes (run workers) | {r['peak_processes']:.0f} ({r['peak_run_workers']:.0f}) |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=52, help="newest collectable weeks per instance (default 52)")
    parser.add_argument("--instances", type=int, default=1, help="sandbox instances to backfill (demo size has 3)")
    parser.add_argument("--reports", nargs="+", default=["campaign_performance"], help="catalog reports, one backfill each")
    parser.add_argument("--latency", default="60", help="sandbox execution latency in seconds (default 60)")
    parser.add_argument("--batch-size", type=int, default=1,
                        help="partitions per run: 1 = one run per partition (the default design), N = batched")
    parser.add_argument("--dequeue-workers", type=int, default=0,
                        help="launch queued runs from N threads (run_queue dequeue_num_workers); 0 = as the "
                             "project's dagster.yaml says")
    parser.add_argument("--pending-ahead", type=int, default=None,
                        help="runs per instance beyond AMC's 10 running, whose executions wait in AMC's queue "
                             "(default: the project's PENDING_AHEAD_PER_INSTANCE)")
    parser.add_argument("--poll-seconds", type=float, default=5.0, help="AMC_POLL_SECONDS of the runs (default 5)")
    parser.add_argument("--size", default="demo", choices=["small", "demo", "large"], help="sandbox data size")
    parser.add_argument("--data-dir", default=str(Path(".amc/sandbox").resolve()), help="sandbox dataset cache")
    parser.add_argument("--server", default=os.environ.get("AMC_TEST_DATABASE_URL") or DEFAULT_SERVER,
                        help="Postgres server on which a fresh database is created and dropped")
    parser.add_argument("--timeout", type=float, default=3600, help="give up after this many seconds")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()

    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    from amc_pipelines.db import dispose_engine, libpq_url, normalize_url

    name = f"amc_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq_url(args.server), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database_url = normalize_url(make_url(normalize_url(args.server)).set(database=name))
    try:
        with tempfile.TemporaryDirectory(prefix="amc-bench-backfill-") as work:
            result = benchmark(args, database_url, Path(work))
    finally:
        dispose_engine(database_url)
        with psycopg.connect(libpq_url(args.server), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    result["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    print(markdown(result))


if __name__ == "__main__":
    main()
