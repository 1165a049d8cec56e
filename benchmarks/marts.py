"""Marts benchmark (issue 10): a full dbt build of the marts against one new week built incrementally.

Run ``.venv/bin/python benchmarks/marts.py`` (defaults: 52 weeks x 5 instances of the sandbox's
``large`` data, every report of the built-in catalog, each timed build repeated 3 times). One run:

1. **Database** ``amc_bench_marts_<size>_<instances>x<weeks>`` on ``--server`` (default
   ``AMC_TEST_DATABASE_URL`` or postgresql://postgres@127.0.0.1:5432/postgres): created when missing
   and kept afterwards, so that a re-run finds the weeks loaded and only measures. ``--fresh`` drops
   and recreates it; ``--drop`` drops it and exits (or ``DROP DATABASE <name> WITH (FORCE)``).
2. **Loading** (timed, not part of the goal): the AMC sandbox in a child process (no latency, AMC's
   10 running executions per instance), its first ``--instances`` instances registered, and every
   report x instance x week of the ``--weeks`` weeks before the newest collectable week loaded
   through the runner (``prepare_run`` + ``run_report`` over HTTP, as a Dagster run does),
   ``--workers`` partitions at a time. Partitions already loaded are reused by the runner; weeks
   outside those (an earlier run's new week, an earlier day's weeks) are deleted from the result
   tables and the ledger first, so the full build always covers exactly ``--weeks`` weeks. Then
   ``ANALYZE``, as autovacuum would have analyzed the tables of weeks loaded days before a build.
3. **Full build**: ``prepare_database`` (timed on its own), then ``dbt build --full-refresh`` of the
   whole project, ``--repeat`` times; then ``ANALYZE`` (the marts as a week-old build leaves them;
   not again after the new week: autovacuum would not analyze for a fiftieth more rows).
4. **New week**: the newest collectable week loaded for every instance and report, then
   ``dbt build --vars '{"weeks": ["<week>"]}'`` ``--repeat`` times. The marts' table checksums must
   then equal those of a full refresh, run right after (and timed: a full build of one week more).
5. **Re-collected week** (``--no-recollect`` skips it): the newest settled week re-collected
   (``force``) and built the same way, then compared with another full refresh.

Every dbt build gets a fresh target directory holding the project's ``partial_parse.msgpack``, as
dagster-dbt prepares one for each run. Prints a markdown block for "Marts: full build vs one new
week" in docs/benchmarks.md; ``--json FILE`` keeps every figure, including dbt's per-node timings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

from benchmarks.host import ChildServer, machine  # noqa: E402 - after the path is set

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
AMC_RUNNING_PER_INSTANCE = 10
GOAL_RATIO = 0.15
# The sandbox accepts any LwA credentials; the client insists on having some.
CREDENTIALS = {"AMC_CLIENT_ID": "amzn1.application-oa2-client.marts-benchmark", "AMC_CLIENT_SECRET": "secret",
               "AMC_REFRESH_TOKEN": "Atzr|marts-benchmark"}


# ---- the sandbox, in its own process -----------------------------------------------------------------

def serve_sandbox(data_dir: str, work_dir: str, size: str, port: int) -> None:
    """The child process: the sandbox's HTTP API on 127.0.0.1:port until terminated.

    Its own process so that its SQL translation and CSV writing do not share this process's
    interpreter lock with the loaders' downloads and checksums (2 cores).
    """
    from amc_pipelines.sandbox.api import SandboxConfig
    from amc_pipelines.sandbox.api.server import serve

    serve(SandboxConfig(port=port, size=size, data_dir=Path(data_dir), work_dir=Path(work_dir),
                        max_running_per_instance=AMC_RUNNING_PER_INSTANCE), log_level="warning")


# ---- database and weeks ----------------------------------------------------------------------------

def database_name(args: argparse.Namespace) -> str:
    return f"amc_bench_marts_{args.size}_{args.instances}x{args.weeks}"


def bench_database(server: str, name: str, *, fresh: bool) -> tuple[str, bool]:
    """The benchmark's database URL on ``server``, and whether it was created now."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    from amc_pipelines.db import libpq_url, normalize_url

    with psycopg.connect(libpq_url(server), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        if exists and fresh:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        if fresh or not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return normalize_url(make_url(normalize_url(server)).set(database=name)), fresh or not exists


def drop_database(server: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    from amc_pipelines.db import libpq_url

    with psycopg.connect(libpq_url(server), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass(frozen=True)
class Weeks:
    base: list[date]    # oldest first: the weeks the full build covers
    new: date           # the newest collectable week: the week that arrives
    recollect: date | None  # the newest settled week among the base weeks


def choose_weeks(settings, instances, count: int) -> Weeks:
    """Weeks common to every instance's calendar now: the newest collectable one is the new week,
    the ``count`` before it the base; all must lie inside AMC's retention."""
    from amc_pipelines.params import (
        earliest_retained_week,
        is_provisional,
        latest_collectable_week,
        week_window,
    )

    now = datetime.now(UTC)
    new = min(latest_collectable_week(now=now, timezone=i.timezone, week_start=settings.week_start,
                                      data_lag_hours=settings.data_lag_hours) for i in instances)
    base = [new - timedelta(weeks=n) for n in range(count, 0, -1)]
    earliest = max(earliest_retained_week(now=now, timezone=i.timezone, week_start=settings.week_start,
                                          retention_months=settings.retention_months) for i in instances)
    if base[0] < earliest:
        raise SystemExit(f"--weeks {count}: the oldest week would be {base[0]}, beyond AMC's "
                         f"{settings.retention_months}-month retention (earliest week {earliest}); "
                         f"at most {(new - earliest).days // 7} weeks fit before the new week {new}")
    settled = [week for week in base if not any(
        is_provisional(week_window(week, timezone=i.timezone, week_start=settings.week_start), now=now,
                       settle_days=settings.settle_days) for i in instances)]
    return Weeks(base=base, new=new, recollect=settled[-1] if settled else None)


def delete_weeks_outside(engine, templates: list[str], keep: list[date]) -> int:
    """Delete every result row and ledger row of a week not in ``keep``; the number of ledger rows."""
    from sqlalchemy import text

    with engine.begin() as conn:
        for template in templates:
            exists = conn.execute(text("SELECT to_regclass(:name)"), {"name": f"amc_results.{template}"}).scalar()
            if exists:
                conn.execute(text(f'DELETE FROM amc_results."{template}" WHERE NOT (week_start = ANY(:weeks))'),
                             {"weeks": keep})
        return conn.execute(text("DELETE FROM amc.executions WHERE NOT (window_start::date = ANY(:weeks))"),
                            {"weeks": keep}).rowcount


# ---- loading through the runner --------------------------------------------------------------------

@dataclass
class Loading:
    label: str
    partitions: int
    seconds: float
    statuses: dict[str, int]  # LOADED / REUSED / failed
    rows_loaded: int
    failures: list[str] = field(default_factory=list)


def load_partitions(engine, settings, definitions, partitions: list[tuple[str, str, date]], *, workers: int,
                    label: str, force: bool = False) -> Loading:
    """Every (template, instance, week) through prepare_run + run_report, ``workers`` at a time."""
    from amc_pipelines.amc.client import AmcClient
    from amc_pipelines.amc.ratelimit import PostgresRateLimiter
    from amc_pipelines.runner import prepare_run, run_report

    statuses: Counter[str] = Counter()
    failures: list[str] = []
    rows = 0
    lock = threading.Lock()
    began = time.perf_counter()
    done = threading.Event()

    def report_progress() -> None:
        while not done.wait(10):
            with lock:
                finished = sum(statuses.values())
                counts = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
            elapsed = time.perf_counter() - began
            eta = elapsed / finished * (len(partitions) - finished) if finished else float("nan")
            print(f"  {label}: {finished}/{len(partitions)} ({counts}) after {elapsed:.0f} s, "
                  f"about {eta:.0f} s to go", file=sys.stderr, flush=True)

    with AmcClient(settings, rate_limiter=PostgresRateLimiter(engine, settings.api_rate_per_second)) as client:
        def one(template: str, instance_id: str, week: date):
            request = prepare_run(engine, settings, report_name=template, instance_id=instance_id, week=week,
                                  force=force, definitions=definitions)
            return run_report(engine, settings, client, request)

        progress = threading.Thread(target=report_progress, daemon=True)
        progress.start()
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="load")
        try:
            futures = {pool.submit(one, *partition): partition for partition in partitions}
            for future in as_completed(futures):
                template, instance_id, week = futures[future]
                try:
                    outcome = future.result()
                except Exception as err:  # noqa: BLE001 - every failure is reported, the rest go on
                    with lock:
                        statuses["failed"] += 1
                        failures.append(f"{template} {instance_id} {week}: {type(err).__name__}: {err}")
                    continue
                with lock:
                    statuses[outcome.status] += 1
                    rows += outcome.rows if outcome.status == "LOADED" else 0
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            done.set()
    seconds = time.perf_counter() - began
    print(f"  {label}: {len(partitions)} partitions in {seconds:.1f} s ({dict(statuses)})", file=sys.stderr)
    return Loading(label, len(partitions), seconds, dict(statuses), rows, failures)


# ---- dbt builds ------------------------------------------------------------------------------------

@dataclass
class Build:
    label: str
    args: list[str]
    prepare_s: float       # prepare_database before the build
    wall_s: float          # the dbt process, start to exit
    dbt_elapsed_s: float   # run_results.json elapsed_time: the nodes' phase, after start-up and parsing
    phases: dict[str, float]  # from dbt.log: start-up, parse, nodes, after (see dbt_phases)
    nodes: list[dict]      # unique_id, resource_type, status, execution_time (s)
    failed_tests: list[str] = field(default_factory=list)

    def seconds_by_type(self) -> dict[str, float]:
        totals: Counter[str] = Counter()
        for node in self.nodes:
            totals[node["resource_type"]] += node["execution_time"]
        return dict(totals)

    def slowest(self, count: int = 6) -> list[dict]:
        return sorted(self.nodes, key=lambda n: n["execution_time"], reverse=True)[:count]


class Builder:
    """Runs ``dbt build`` on the benchmark's database as Dagster's marts assets do: the database
    prepared first, a fresh target directory seeded with the project's partial parse."""

    def __init__(self, engine, url: str, work: Path) -> None:
        from amc_pipelines.catalog import load_catalog
        from amc_pipelines.catalog.definitions import load_definitions
        from amc_pipelines.marts import MANIFEST_PATH, ensure_manifest

        self.engine, self.url, self.work = engine, url, work
        self.catalog = load_catalog(None, check_sql=False)
        self.definitions = load_definitions(self.catalog)
        ensure_manifest()
        self.partial_parse = MANIFEST_PATH.parent / "partial_parse.msgpack"
        self.count = 0

    def build(self, label: str, args: list[str]) -> Build:
        from amc_pipelines.marts import prepare_database, run_dbt

        self.count += 1
        target = self.work / "dbt" / f"{self.count:02d}-{label}"
        target.mkdir(parents=True)
        if self.partial_parse.exists():
            shutil.copy(self.partial_parse, target / self.partial_parse.name)
        began = time.perf_counter()
        prepare_database(self.engine, self.catalog, self.definitions)
        prepared, launched = time.perf_counter(), datetime.now()
        result = run_dbt(["build", *args], url=self.url, target_dir=target, capture=True)
        ended = time.perf_counter()
        run_results = target / "run_results.json"
        if not run_results.exists():
            raise SystemExit(f"dbt build {' '.join(args)} wrote no run_results.json (exit {result.returncode}):\n"
                             f"{result.stdout[-4000:]}{result.stderr[-2000:]}")
        results = json.loads(run_results.read_text())
        nodes = [{"unique_id": r["unique_id"], "resource_type": r["unique_id"].split(".", 1)[0],
                  "status": r["status"], "execution_time": r["execution_time"]} for r in results["results"]]
        failed_tests = [n["unique_id"] for n in nodes if n["resource_type"] == "test" and n["status"] in ("fail", "error")]
        broken = [n["unique_id"] for n in nodes if n["resource_type"] != "test" and n["status"] not in ("success", "pass")]
        if broken or (result.returncode != 0 and not failed_tests):
            raise SystemExit(f"dbt build {' '.join(args)} failed (exit {result.returncode}; {broken}):\n"
                             f"{result.stdout[-4000:]}{result.stderr[-2000:]}")
        phases = dbt_phases(target / "dbt.log", launched, ended - prepared)
        build = Build(label, args, prepared - began, ended - prepared, results["elapsed_time"], phases, nodes,
                      failed_tests)
        tests = f", {len(failed_tests)} tests FAILED" if failed_tests else ""
        print(f"  {label}: dbt build {ended - prepared:.1f} s ({', '.join(f'{k} {v:.1f}' for k, v in phases.items())}),"
              f" prepare_database {build.prepare_s:.2f} s{tests}", file=sys.stderr, flush=True)
        return build


_LOG_LINE = re.compile(r"^(?:\x1b\[0m)?(\d\d):(\d\d):(\d\d\.\d+) \[\w+ *\] \[MainThread\]: (.*)$")


def dbt_phases(log: Path, launched: datetime, wall_s: float) -> dict[str, float]:
    """Seconds of a dbt invocation from its log's local-time stamps: ``start-up`` (launch to dbt's
    first line: Python and dbt imports), ``parse`` (to "Found N models"), ``nodes`` (to "Finished
    running"), ``after`` (to the process's exit: artifacts, connections)."""
    marks: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        match = _LOG_LINE.match(line)
        if not match:
            continue
        hours, minutes, seconds, message = int(match[1]), int(match[2]), float(match[3]), match[4]
        stamp = launched.replace(hour=hours, minute=minutes, second=0, microsecond=0) + timedelta(seconds=seconds)
        if stamp < launched - timedelta(hours=12):  # past midnight
            stamp += timedelta(days=1)
        offset = (stamp - launched).total_seconds()
        for mark, prefix in (("first", "Running with dbt="), ("found", "Found "), ("finished", "Finished running ")):
            if message.startswith(prefix) and mark not in marks:
                marks[mark] = offset
    if len(marks) < 3:
        return {}
    return {"start-up": marks["first"], "parse": marks["found"] - marks["first"],
            "nodes": marks["finished"] - marks["found"], "after": wall_s - marks["finished"]}


# ---- what the marts hold ---------------------------------------------------------------------------

def analyze(engine, *, skip: bool) -> str:
    """ANALYZE the whole database, as autovacuum would have by the time of a build in a steady state
    (weeks loaded days ago, the last build a week old); the server's autovacuum setting.

    CI's Postgres runs without autovacuum, where tables are never analyzed and the planner's guesses
    (one row per table) turn the relationships tests into nested loops over every row.
    """
    from sqlalchemy import text

    with engine.connect() as conn:
        autovacuum = conn.execute(text("SHOW autovacuum")).scalar()
    if not skip:
        began = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
        print(f"  ANALYZE in {time.perf_counter() - began:.1f} s (server autovacuum {autovacuum})", file=sys.stderr)
    return autovacuum


def mart_tables(engine) -> list[str]:
    from sqlalchemy import text

    with engine.connect() as conn:
        return list(conn.execute(text("SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' "
                                      "AND table_type = 'BASE TABLE' ORDER BY table_name")).scalars())


def checksums(engine) -> dict[str, str]:
    """Per marts table: md5 of its rows as text, ordered (as the marts tests compare tables)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        return {name: conn.execute(text(f'SELECT md5(string_agg(t::text, \'|\' ORDER BY t::text)) FROM marts."{name}" t'))
                .scalar() for name in mart_tables(engine)}


def row_counts(engine, schema: str, tables: list[str]) -> dict[str, int]:
    from sqlalchemy import text

    with engine.connect() as conn:
        return {name: conn.execute(text(f'SELECT count(*) FROM {schema}."{name}"')).scalar() for name in tables}


def differing(left: dict[str, str], right: dict[str, str]) -> list[str]:
    return sorted(name for name in set(left) | set(right) if left.get(name) != right.get(name))


# ---- the run ---------------------------------------------------------------------------------------

def median(builds: list[Build], attribute: str = "wall_s") -> float:
    return statistics.median(getattr(b, attribute) for b in builds)


def benchmark(args: argparse.Namespace, work: Path) -> dict:
    from amc_pipelines.db import dispose_engine, get_engine, upgrade
    from amc_pipelines.marts import partition_vars
    from amc_pipelines.registry import register_sandbox_instances
    from amc_pipelines.results import ensure_result_table
    from amc_pipelines.sandbox.datagen import ensure_dataset
    from amc_pipelines.settings import Settings

    result: dict = {"date": date.today().isoformat(), "machine": machine(), "command": " ".join(sys.argv),
                    "size": args.size, "instances": args.instances, "weeks": args.weeks, "repeat": args.repeat,
                    "workers": args.workers, "analyze": not args.no_analyze}
    name = database_name(args)
    url, created = bench_database(args.server, name, fresh=args.fresh)
    result["database"] = {"name": name, "created": created}
    print(f"database {name} ({'created' if created else 'reused'})", file=sys.stderr)
    began = time.perf_counter()
    dataset = ensure_dataset(Path(args.data_dir), size=args.size, seed=7)
    print(f"sandbox dataset ({args.size}) ready in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    if args.instances > len(dataset.instances):
        raise SystemExit(f"--instances {args.instances}: the {args.size} dataset has {len(dataset.instances)}")
    upgrade(url)
    engine = get_engine(url)
    try:
        with ChildServer(serve_sandbox, (args.data_dir, str(work / "sandbox-results"), args.size), "AMC sandbox",
                         start_timeout=120) as sandbox:
            env = {"AMC_HOME": str(work / "amc-home"), "AMC_DATABASE_URL": url, "AMC_API_URL": sandbox.url,
                   # The sandbox has no rate limit; AMC's 5 calls/s would make the load about an hour.
                   "AMC_API_RATE": "1000", "AMC_POLL_SECONDS": str(args.poll_seconds), **CREDENTIALS}
            settings = Settings.from_env(env)
            instances = dataset.instances[:args.instances]
            register_sandbox_instances(engine, instances, week_start=settings.week_start)
            instance_ids = [i.instance_id for i in instances]
            weeks = choose_weeks(settings, instances, args.weeks)
            if weeks.recollect is None and not args.no_recollect:
                raise SystemExit(f"--weeks {args.weeks}: no settled week among {weeks.base[0]}..{weeks.base[-1]} "
                                 "to re-collect; give more weeks or --no-recollect")
            builder = Builder(engine, url, work)
            templates = sorted(builder.catalog)
            result.update(reports=templates, base_weeks=[str(weeks.base[0]), str(weeks.base[-1])],
                          new_week=str(weeks.new), recollected_week=str(weeks.recollect))
            # One at a time before the concurrent loads: on a new database, first loads of two reports
            # at once can both try to create the amc_results schema (seen here as a UniqueViolation).
            for template in templates:
                ensure_result_table(engine, builder.catalog[template])
            removed = delete_weeks_outside(engine, templates, weeks.base)
            print(f"weeks {weeks.base[0]}..{weeks.base[-1]}, new week {weeks.new}, re-collected week "
                  f"{weeks.recollect}; {len(templates)} reports x {len(instance_ids)} instances "
                  f"({removed} ledger rows of other weeks deleted)", file=sys.stderr)

            def partitions(week_list: list[date]) -> list[tuple[str, str, date]]:
                # Instances innermost: concurrent partitions spread over the instances' AMC slots.
                return [(t, i, w) for w in week_list for t in templates for i in instance_ids]

            loadings = [load_partitions(engine, settings, builder.definitions, partitions(weeks.base),
                                        workers=args.workers, label="base weeks")]
            if loadings[0].failures:
                raise SystemExit("partitions failed to load (a re-run retries them):\n  "
                                 + "\n  ".join(loadings[0].failures[:20]))
            result["result_rows_base"] = row_counts(engine, "amc_results", templates)
            result["autovacuum"] = analyze(engine, skip=args.no_analyze)

            print(f"full builds ({args.repeat})", file=sys.stderr)
            full = [builder.build("full", ["--full-refresh"]) for _ in range(args.repeat)]
            result["mart_rows_base"] = row_counts(engine, "marts", mart_tables(engine))
            analyze(engine, skip=args.no_analyze)  # the marts as a week-old build would have them

            loadings.append(load_partitions(engine, settings, builder.definitions, partitions([weeks.new]),
                                            workers=args.workers, label="new week"))
            new_vars = ["--vars", partition_vars([weeks.new])]
            print(f"incremental builds of the new week {weeks.new} ({args.repeat})", file=sys.stderr)
            incremental = [builder.build("new-week", new_vars) for _ in range(args.repeat)]
            after_incremental = checksums(engine)
            check_full = [builder.build("full-check", ["--full-refresh"])]
            refreshed = checksums(engine)
            result["checks"] = {"new_week_differs": differing(after_incremental, refreshed)}
            result["mart_rows"] = row_counts(engine, "marts", mart_tables(engine))
            result["result_rows"] = row_counts(engine, "amc_results", templates)

            recollected: list[Build] = []
            if not args.no_recollect:
                loadings.append(load_partitions(engine, settings, builder.definitions, partitions([weeks.recollect]),
                                                workers=args.workers, label="re-collected week", force=True))
                old_vars = ["--vars", partition_vars([weeks.recollect])]
                print(f"incremental builds of the re-collected week {weeks.recollect} ({args.repeat})",
                      file=sys.stderr)
                recollected = [builder.build("recollected-week", old_vars) for _ in range(args.repeat)]
                after_recollect = checksums(engine)
                check_full.append(builder.build("full-check", ["--full-refresh"]))
                result["checks"]["recollected_week_differs"] = differing(after_recollect, checksums(engine))
            result["sandbox_stats"] = sandbox.get_json("/_sandbox/stats")
    finally:
        dispose_engine(url)
    failures = [f for loading in loadings[1:] for f in loading.failures]
    result.update(
        loadings=[asdict(loading) for loading in loadings],
        builds=[asdict(b) | {"seconds_by_type": b.seconds_by_type()}
                for b in full + incremental + check_full + recollected],
        full_median_s=median(full), incremental_median_s=median(incremental),
        recollected_median_s=median(recollected) if recollected else None,
        prepare_median_s=median(full + incremental + recollected, "prepare_s"),
        ratio=median(incremental) / median(full),
        recollected_ratio=median(recollected) / median(full) if recollected else None,
        correct=not any(result["checks"].values()) and not failures,
        load_failures=failures,
    )
    result["goal_met"] = result["correct"] and result["ratio"] <= GOAL_RATIO
    result["incremental_breakdown"] = breakdown(incremental)
    result["full_breakdown"] = breakdown(full)
    return result


def breakdown(builds: list[Build]) -> dict:
    """Where a build's time went, medians over the repeats: outside the nodes (start-up, parsing,
    compiling), models, tests, and the slowest nodes."""
    types = {t for b in builds for t in b.seconds_by_type()}
    slowest: dict[str, list[float]] = {}
    for b in builds:
        for node in b.slowest(8):
            slowest.setdefault(node["unique_id"], []).append(node["execution_time"])
    return {
        "wall_s": median(builds),
        "phases_s": {phase: statistics.median(b.phases.get(phase, 0.0) for b in builds)
                     for phase in ("start-up", "parse", "nodes", "after")},
        "node_seconds_by_type": {t: statistics.median(b.seconds_by_type().get(t, 0.0) for b in builds) for t in types},
        "slowest_nodes_s": dict(sorted(((k, statistics.median(v)) for k, v in slowest.items()),
                                       key=lambda kv: kv[1], reverse=True)[:8]),
        "failed_tests": sorted({t for b in builds for t in b.failed_tests}),
    }


def markdown(result: dict) -> str:
    builds = result["builds"]
    full = [b["wall_s"] for b in builds if b["label"] == "full"]
    new = [b["wall_s"] for b in builds if b["label"] == "new-week"]
    old = [b["wall_s"] for b in builds if b["label"] == "recollected-week"]
    checks = [b["wall_s"] for b in builds if b["label"] == "full-check"]
    base = result["loadings"][0]

    def listed(values: list[float]) -> str:
        return ", ".join(f"{v:.1f}" for v in values)

    lines = [
        f"Measured {result['date']} ({result['machine']}). Command: `{result['command']}`.",
        f"Data: {result['weeks']} weeks ({result['base_weeks'][0]} .. {result['base_weeks'][1]}) x "
        f"{result['instances']} instances of the sandbox's `{result['size']}` data, {len(result['reports'])} reports; "
        f"new week {result['new_week']}, re-collected week {result['recollected_week']}. "
        f"ANALYZE after loading and after the full builds: {'yes' if result['analyze'] else 'no'} "
        f"(server autovacuum {result['autovacuum']}).",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| loading the base weeks: {base['partitions']} partitions ({', '.join(f'{k} {v}' for k, v in sorted(base['statuses'].items()))}) | {base['seconds']:.0f} s |",
    ]
    for loading in result["loadings"][1:]:
        lines.append(f"| loading the {loading['label']}: {loading['partitions']} partitions | {loading['seconds']:.1f} s |")
    lines += [
        f"| prepare_database before each build (median, not in the build times) | {result['prepare_median_s']:.2f} s |",
        f"| full build, `dbt build --full-refresh` (median of {listed(full)}) | {result['full_median_s']:.1f} s |",
        f"| one new week, `dbt build --vars '{{\"weeks\": [...]}}'` (median of {listed(new)}) | {result['incremental_median_s']:.1f} s |",
        f"| **incremental / full (goal <= {GOAL_RATIO:.0%})** | **{result['ratio']:.1%}: {'met' if result['goal_met'] else 'missed'}** |",
    ]
    if old:
        lines.append(f"| re-collected week (median of {listed(old)}); / full | {result['recollected_median_s']:.1f} s; "
                     f"{result['recollected_ratio']:.1%} |")
    lines += [
        f"| full refresh after the incremental builds, one week more (checksum reference) | {listed(checks)} s |",
        f"| marts' checksums equal a full refresh's | {'yes' if result['correct'] else 'NO: ' + str(result['checks'])} |",
    ]
    for label, key in (("full build", "full_breakdown"), ("new week", "incremental_breakdown")):
        part = result[key]
        by_type = ", ".join(f"{t} {s:.1f} s" for t, s in sorted(part["node_seconds_by_type"].items()))
        slow = ", ".join(f"{k.split('.')[-1] if k.startswith('model.') else k.split('.')[2]} {v:.1f}"
                         for k, v in list(part["slowest_nodes_s"].items())[:5])
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in part["phases_s"].items())
        lines.append(f"| {label}: dbt's phases (medians): {phases}; node time summed over its 4 threads: {by_type} "
                     f"| {part['wall_s']:.1f} s |")
        lines.append(f"| {label}: slowest nodes, s | {slow} |")
        if part["failed_tests"]:
            lines.append(f"| {label}: failed tests | {', '.join(part['failed_tests'])} |")
    lines += ["", "| result table | rows (base weeks) | rows per instance-week |", "|---|---:|---:|"]
    partitions = result["weeks"] * result["instances"]
    for name, rows in result["result_rows_base"].items():
        lines.append(f"| amc_results.{name} | {rows:,} | {rows / partitions:,.0f} |")
    lines += ["", "| mart | rows (base weeks) | rows after the new week |", "|---|---:|---:|"]
    for name, rows in result["mart_rows_base"].items():
        lines.append(f"| marts.{name} | {rows:,} | {result['mart_rows'].get(name, 0):,} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weeks", type=int, default=52, help="weeks the full build covers (default 52)")
    parser.add_argument("--instances", type=int, default=5, help="sandbox instances (large data has 5; default 5)")
    parser.add_argument("--size", default="large", choices=["small", "demo", "large"],
                        help="sandbox data size (default large)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timed build; medians reported (default 3)")
    parser.add_argument("--workers", type=int, default=10,
                        help="partitions loaded at once (default 10; AMC runs 10 per instance, queues the rest)")
    parser.add_argument("--poll-seconds", type=float, default=0.1,
                        help="AMC_POLL_SECONDS of the loads: the sandbox runs without latency (default 0.1)")
    parser.add_argument("--no-recollect", action="store_true", help="skip the re-collected week")
    parser.add_argument("--no-analyze", action="store_true",
                        help="do not ANALYZE after loading and after the full builds (plans on never-analyzed "
                             "tables where the server runs without autovacuum, as CI's does)")
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the benchmark's database first")
    parser.add_argument("--drop", action="store_true", help="drop the benchmark's database (for these options) and exit")
    parser.add_argument("--server", default=os.environ.get("AMC_TEST_DATABASE_URL") or DEFAULT_SERVER,
                        help="Postgres server holding the benchmark's database")
    parser.add_argument("--data-dir", default=str(REPOSITORY / ".amc" / "sandbox"),
                        help="sandbox dataset cache (default .amc/sandbox of the checkout)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    if args.drop:
        drop_database(args.server, database_name(args))
        print(f"dropped {database_name(args)}", file=sys.stderr)
        return
    if args.repeat < 1 or args.weeks < 1 or args.instances < 1 or args.workers < 1:
        parser.error("--repeat, --weeks, --instances and --workers must be at least 1")
    with tempfile.TemporaryDirectory(prefix="amc-bench-marts-") as work:
        result = benchmark(args, Path(work))
    result["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    print(markdown(result))
    if not result["correct"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
