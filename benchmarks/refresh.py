"""BigQuery refresh benchmark (issue 11): one table's rows from the BigQuery stand-in into Postgres.

Run ``.venv/bin/python benchmarks/refresh.py`` (defaults: the stand-in's ``large`` data, about 5.1
million SQP rows, as of 2026-03-11 12:00 UTC). One run:

1. **The stand-in** in its own spawned process (``amc sandbox serve``'s server with that data; about
   50 s to generate), so that its DuckDB and JSON encoding do not count in the measured process.
2. **A fresh database** ``amc_bench_refresh`` on ``--server`` (default ``AMC_TEST_DATABASE_URL`` or
   postgresql://postgres@127.0.0.1:5432/postgres), migrated.
3. **The refresh** (``refresh.copy.copy_table``, mode live, the table's page size or ``--page-size``)
   in a fresh spawned process: rows per second over the whole copy and the process's peak RSS
   (``getrusage``), the time split between BigQuery (requesting pages, decoding their JSON: the
   client's page requests, timed around them) and Postgres (COPY into staging, the upsert).
4. **Decoding**: the first 20 pages fetched over plain httpx, their JSON decoded by the standard
   library (what the client does) and by orjson, to show what decoding costs and could cost.
5. **The baseline** (``--no-baseline`` skips it) in another fresh process, over the first
   ``--baseline-rows`` rows (default 500,000: at its pace the whole table takes hours): ``client.list_rows(table)
   .to_dataframe()`` then ``DataFrame.to_sql(chunksize=10_000)``, timed per stage.

Each process imports its libraries before its clock starts. Prints a markdown block for "BigQuery
refresh" in docs/benchmarks.md; ``--json FILE`` keeps every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from queue import Empty

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

from benchmarks.host import ChildServer, machine  # noqa: E402 - after the path is set

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "amc_bench_refresh"
NOW = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
GOAL_ROWS_PER_SECOND = 100_000
GOAL_PEAK_MB = 300


# ---- the stand-in, in its own process ----------------------------------------------------------------

def serve_stand_in(data_dir: str, size: str, port: int) -> None:
    from amc_pipelines.sandbox.api import SandboxConfig
    from amc_pipelines.sandbox.api.server import serve
    from amc_pipelines.sandbox.bigquery import BigQueryConfig, BigQueryStandIn

    stand_in = BigQueryStandIn(BigQueryConfig(size=size, now=NOW), Path(data_dir) / "bigquery")
    serve(SandboxConfig(port=port, size="small", data_dir=Path(data_dir)), bigquery=stand_in, log_level="warning")


# ---- the database ------------------------------------------------------------------------------------

def fresh_database(server: str) -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    from amc_pipelines.db import upgrade

    url = make_url(server)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    database = url.set(database=DATABASE).render_as_string(hide_password=False)
    upgrade(database)
    return database


# ---- the measured processes --------------------------------------------------------------------------

def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _settings(endpoint: str, database: str):
    from amc_pipelines.settings import Settings

    return Settings.from_env({"AMC_BIGQUERY_ENDPOINT": endpoint, "AMC_DATABASE_URL": database})


def measure_refresh(endpoint: str, database: str, table: str, page_size: int | None, queue) -> None:
    """Child: one live copy of ``table`` through the project's refresh."""
    import dataclasses

    from google.cloud.bigquery.table import RowIterator

    from amc_pipelines.db import get_engine
    from amc_pipelines.refresh.bigquery import bigquery_client
    from amc_pipelines.refresh.copy import copy_table
    from amc_pipelines.refresh.overrides import effective_table
    from amc_pipelines.refresh.registry import load_registry

    settings = _settings(endpoint, database)
    engine, client = get_engine(database), bigquery_client(settings)
    registry = load_registry(None)
    effective = effective_table(engine, registry, table)
    if page_size is not None:
        effective = dataclasses.replace(effective, config=effective.config.model_copy(update={"page_size": page_size}))
    # Where the time goes: the client's page requests (HTTP and JSON decoding), the COPY of each page
    # into staging, and the upsert transaction; timed around those calls (one call per page or per
    # copy, so the timing costs nothing measurable). The rest is turning pages into rows and the
    # control tables.
    from amc_pipelines.refresh import copy as refresh_copy
    from amc_pipelines.refresh import postgres as refresh_postgres
    from amc_pipelines.refresh import source as refresh_source

    timings = {"query_job": 0.0, "bigquery_fetch": 0.0, "copy_into_staging": 0.0, "upsert": 0.0}

    def timed(owner, name: str, stage: str) -> None:
        function = getattr(owner, name)

        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timings[stage] += time.perf_counter() - began

        setattr(owner, name, wrapper)

    timed(refresh_source, "run_query", "query_job")
    timed(RowIterator, "_get_next_page_response", "bigquery_fetch")
    timed(refresh_postgres, "copy_rows", "copy_into_staging")
    timed(refresh_copy._Copy, "_upsert", "upsert")
    began, cpu_began = time.perf_counter(), time.process_time()
    outcome = copy_table(engine, client, effective, mode="live", cycle_id="benchmark", triggered_by="benchmark")
    seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu_began
    queue.put({"outcome": outcome.summary(), "details": outcome.details, "seconds": seconds, "cpu_seconds": cpu_seconds,
               "timings": timings, "peak_rss_mb": _peak_rss_mb()})


def measure_baseline(endpoint: str, database: str, table: str, rows: int | None, queue) -> None:
    """Child: the usual script: list_rows -> pandas -> to_sql."""
    import pandas  # noqa: F401 - imported before the clock starts

    from amc_pipelines.db import get_engine
    from amc_pipelines.refresh.bigquery import bigquery_client
    from amc_pipelines.refresh.registry import load_registry

    settings = _settings(endpoint, database)
    engine, client = get_engine(database), bigquery_client(settings)
    source = load_registry(None)[table].source.table
    began, cpu_began = time.perf_counter(), time.process_time()
    frame = client.list_rows(f"{settings.bigquery_project}.{source}", max_results=rows).to_dataframe(create_bqstorage_client=False)
    decoded = time.perf_counter()
    # pandas' default method: SQLAlchemy's executemany, batched by psycopg ("insertmanyvalues");
    # method="multi" was 10 times slower here.
    frame.to_sql(f"baseline_{table}", engine, schema="public", if_exists="replace", index=False, chunksize=10_000)
    written = time.perf_counter()
    queue.put({"rows": len(frame), "decode_seconds": decoded - began, "to_sql_seconds": written - decoded,
               "seconds": written - began, "cpu_seconds": time.process_time() - cpu_began,
               "peak_rss_mb": _peak_rss_mb()})


def measure_decoding(endpoint: str, table: str, page_size: int, pages: int, queue) -> None:
    """Child: the JSON of the first ``pages`` pages of the source table (tabledata.list over httpx),
    decoded by the standard library's json, as google-cloud-bigquery does (through requests), and by
    orjson: what decoding costs per row, and what a faster decoder would give."""
    import json

    import httpx
    import orjson

    from amc_pipelines.refresh.registry import load_registry

    dataset, name = load_registry(None)[table].source.table.split(".")
    url = f"{endpoint}/bigquery/v2/projects/amc-sandbox/datasets/{dataset}/tables/{name}/data"
    bodies, token, fetch = [], None, 0.0
    with httpx.Client(timeout=300) as http:
        for _ in range(pages):
            params = {"maxResults": page_size, "formatOptions.useInt64Timestamp": "true"}
            if token:
                params["pageToken"] = token
            began = time.perf_counter()
            response = http.get(url, params=params)
            fetch += time.perf_counter() - began
            response.raise_for_status()
            bodies.append(response.content)
            token = orjson.loads(bodies[-1]).get("pageToken")
            if not token:
                break
    rows = sum(len(orjson.loads(body).get("rows", [])) for body in bodies)
    timings = {}
    for decoder, loads in (("json", json.loads), ("orjson", orjson.loads)):
        began = time.perf_counter()
        for body in bodies:
            loads(body)
        timings[decoder] = time.perf_counter() - began
    queue.put({"rows": rows, "pages": len(bodies), "bytes": sum(map(len, bodies)), "fetch_seconds": fetch,
               "json_seconds": timings["json"], "orjson_seconds": timings["orjson"]})


def in_child(target, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    while True:
        try:
            result = queue.get(timeout=5)
            break
        except Empty:
            if not process.is_alive():
                raise SystemExit(f"{target.__name__} ended with code {process.exitcode}; see its output above") from None
    process.join()
    return result


# ---- main --------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large", choices=["small", "demo", "large"])
    parser.add_argument("--table", default="search_query_performance")
    parser.add_argument("--page-size", type=int, default=None, help="default: the table's page_size")
    parser.add_argument("--server", default=os.environ.get("AMC_TEST_DATABASE_URL", DEFAULT_SERVER))
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--baseline-rows", type=int, default=500_000,
                        help="rows the baseline copies (default 500,000; 0: all): at its pace all 5 million take hours")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    host = machine()
    args.baseline_rows = args.baseline_rows or None
    from amc_pipelines.refresh.registry import load_registry

    page_size = args.page_size or load_registry(None)[args.table].page_size
    figures: dict = {"machine": host, "size": args.size, "table": args.table, "started": datetime.now(UTC).isoformat()}
    with tempfile.TemporaryDirectory() as directory, ChildServer(serve_stand_in, (directory, args.size), "BigQuery stand-in",
                                                                   start_timeout=600) as stand_in:
        database = fresh_database(args.server)
        figures["refresh"] = refresh = in_child(measure_refresh, stand_in.url, database, args.table, args.page_size)
        figures["decoding"] = in_child(measure_decoding, stand_in.url, args.table, page_size, 20)
        if not args.no_baseline:
            figures["baseline"] = in_child(measure_baseline, stand_in.url, database, args.table, args.baseline_rows)
        figures["stand_in_stats"] = stand_in.get_json("/_sandbox/bigquery/stats")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))

    rows = refresh["outcome"]["rows_read"]
    rate = rows / refresh["seconds"]
    print(f"Measured {figures['started'][:16].replace('T', ' ')} UTC on {host}; stand-in data `{args.size}` as of "
          f"{NOW:%Y-%m-%d %H:%M} UTC, table `{args.table}`.\n")
    timings = refresh["timings"]
    print("| path | rows | seconds | rows/s | CPU s of the process | peak RSS MB | query job s | BigQuery pages (HTTP + JSON) s | "
          "rows from pages, checkpoints s | COPY into staging s | upsert s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rest = refresh["seconds"] - sum(timings.values())
    print(f"| `copy_table` (live) | {rows:,} | {refresh['seconds']:.1f} | {rate:,.0f} | {refresh['cpu_seconds']:.1f} | "
          f"{refresh['peak_rss_mb']:.0f} | {timings['query_job']:.1f} | {timings['bigquery_fetch']:.1f} | {rest:.1f} | "
          f"{timings['copy_into_staging']:.1f} | {timings['upsert']:.1f} |")
    if "baseline" in figures:
        baseline = figures["baseline"]
        print(f"| list_rows -> pandas -> to_sql | {baseline['rows']:,} | {baseline['seconds']:.1f} | "
              f"{baseline['rows'] / baseline['seconds']:,.0f} | {baseline['cpu_seconds']:.1f} | "
              f"{baseline['peak_rss_mb']:.0f} | | {baseline['decode_seconds']:.1f} (to_dataframe) | | "
              f"{baseline['to_sql_seconds']:.1f} (to_sql) | |")
    decoding = figures["decoding"]
    print(f"\nDecoding the first {decoding['pages']} pages ({decoding['rows']:,} rows, {decoding['bytes'] / 2**20:.0f} MB of "
          f"JSON): served in {decoding['fetch_seconds']:.1f} s ({decoding['rows'] / decoding['fetch_seconds']:,.0f} rows/s), "
          f"json {decoding['json_seconds']:.1f} s ({decoding['rows'] / decoding['json_seconds']:,.0f} rows/s), "
          f"orjson {decoding['orjson_seconds']:.1f} s ({decoding['rows'] / decoding['orjson_seconds']:,.0f} rows/s).")
    goal = rate >= GOAL_ROWS_PER_SECOND and refresh["peak_rss_mb"] <= GOAL_PEAK_MB
    print(f"\nGoal (>= {GOAL_ROWS_PER_SECOND:,} rows/s and <= {GOAL_PEAK_MB} MB): {'met' if goal else 'not met'}.")


if __name__ == "__main__":
    main()
