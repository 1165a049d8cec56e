"""Loading benchmark: a 1,000,000-row AMC result into Postgres with our loader versus pandas ``to_sql``.

Run ``.venv/bin/python benchmarks/loading.py`` (options: ``--rows``, ``--files``, ``--server``,
``--skip-pandas``). It generates CSV files shaped like the built-in ``campaign_performance`` report
(split into several files as AMC does) in a temporary directory, creates a fresh database on the
server (``--server``, default ``AMC_TEST_DATABASE_URL`` or postgresql://postgres@127.0.0.1:5432/postgres)
and drops it at the end. Each contender runs in its own subprocess, so its peak RSS
(``VmHWM``) is the loading alone: CSV generation and the other contender do not count.
Goal for ours: at least 150,000 rows/s and at most 300 MB peak RSS. Prints a markdown section to
record in docs/benchmarks.md under "Loading".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

from benchmarks.host import machine  # noqa: E402 - after the path is set

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
REPORT = "campaign_performance"
KEY_VALUES = ("amc-bench", datetime(2025, 1, 6), datetime(2025, 1, 13))
GOAL_ROWS_PER_SECOND = 150_000
GOAL_PEAK_RSS_MB = 300


def benchmark_spec():
    from amc_pipelines.catalog import BUILTIN_DIR, load_report

    return load_report(BUILTIN_DIR / f"{REPORT}.yaml", check_sql=False)


def generate_csvs(directory: Path, rows: int, files: int, seed: int = 11) -> list[Path]:
    """Campaign-performance rows with realistic values: skewed counts, money with cents, names with
    commas and quotes (so the CSV has quoted fields), some NULL metrics (AMC's filtered values)."""
    import numpy as np
    import pandas as pd

    spec = benchmark_spec()
    rng = np.random.default_rng(seed)
    products = np.array(["sponsored_products", "sponsored_brands", "sponsored_display", "dsp", "sponsored_television"])
    names = np.array([f'Brand {i % 97} - "{["Auto", "Exact", "Broad"][i % 3]}", campaign {i}' for i in range(20_000)])
    generated: dict[str, np.ndarray] = {}
    for column in spec.output_columns:
        if column.type == "string":
            if "product" in column.name:
                generated[column.name] = products[rng.integers(0, len(products), rows)]
            elif column.name.endswith("_id"):
                generated[column.name] = rng.integers(10**11, 10**12, rows).astype(str)
            else:
                generated[column.name] = names[rng.integers(0, len(names), rows)]
        elif column.type == "integer":
            generated[column.name] = np.floor(rng.lognormal(6, 2, rows)).astype(np.int64)
        elif column.type == "decimal":
            generated[column.name] = np.char.mod("%.2f", rng.lognormal(5, 2, rows))
        elif column.type == "double":
            generated[column.name] = rng.lognormal(4, 2, rows)
        elif column.type == "boolean":
            generated[column.name] = rng.integers(0, 2, rows).astype(bool)
        elif column.type == "date":
            generated[column.name] = np.full(rows, "2025-01-06")
        else:
            generated[column.name] = np.full(rows, "2025-01-06 08:30:00")
    frame = pd.DataFrame(generated)
    nullable = [c.name for c in spec.metric_columns if c.type in ("decimal", "double")]
    frame.loc[rng.random(rows) < 0.01, nullable[-1]] = None  # a few filtered values (empty cells)
    paths = []
    for index, part in enumerate(np.array_split(np.arange(rows), files)):
        path = directory / f"part-{index:05d}.csv"
        frame.iloc[part].to_csv(path, index=False)
        paths.append(path)
    return paths


def _peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM). Not ru_maxrss: Linux carries that across
    fork + exec, so a worker would report the parent's peak (the CSV generation)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class CpuMeter:
    """CPU seconds used by this process and by the engine's Postgres backend (when the server runs on
    this machine): wall time on a shared machine depends on its load, CPU seconds much less."""

    def __init__(self, engine):
        import psutil

        self.engine = engine
        self.pid = self._backend_pid()
        try:
            self.backend = psutil.Process(self.pid)
            self.backend.cpu_times()
        except psutil.Error:
            self.backend = None

    def _backend_pid(self) -> int:
        raw = self.engine.raw_connection()  # the pool hands this one connection to every load
        try:
            return raw.driver_connection.info.backend_pid
        finally:
            raw.close()

    def read(self) -> tuple[float, float | None]:
        times = self.backend.cpu_times() if self.backend else None
        return time.process_time(), (times.user + times.system) if times else None

    def used(self, before: tuple[float, float | None]) -> tuple[float, float | None]:
        after = self.read()
        same_backend = self._backend_pid() == self.pid
        backend = after[1] - before[1] if after[1] is not None and same_backend else None
        return after[0] - before[0], backend


def worker_ours(database_url: str, files: list[Path], repeats: int) -> dict:
    """``repeats`` loads into fresh partitions (the first also creates the table), then one reload."""
    import statistics

    from amc_pipelines.db import get_engine
    from amc_pipelines.loading import load_result_files
    from amc_pipelines.partitions import ResultKey

    spec = benchmark_spec()
    engine = get_engine(database_url)
    meter = CpuMeter(engine)
    rss_before = _peak_rss_mb()
    instance_id, window_start, window_end = KEY_VALUES
    keys = [ResultKey(f"{instance_id}-{i}", window_start, window_end, definition=spec.name, parameters_hash="bench")
            for i in range(repeats)]
    runs = []
    for key in [*keys, keys[0]]:  # the last one replaces a loaded partition
        before = meter.read()
        result = load_result_files(engine, spec, key, files, amc_execution_id="bench")
        runs.append((result, meter.used(before)))
    loads, (reload, reload_cpu) = runs[:-1], runs[-1]
    median = sorted(loads, key=lambda run: run[0].seconds)[len(loads) // 2]
    return {
        "rows": loads[0][0].rows,
        "seconds": statistics.median(r.seconds for r, _ in loads),
        "cpu": median[1],
        "all_seconds": [round(r.seconds, 2) for r, _ in loads],
        "reload_seconds": reload.seconds,
        "reload_cpu": reload_cpu,
        "rss_before_mb": rss_before,
        "peak_rss_mb": _peak_rss_mb(),
    }


def worker_pandas(database_url: str, files: list[Path], chunksize: int, method: str | None) -> dict:
    """The usual pandas way: read each CSV into a DataFrame, add the partition columns, ``to_sql``."""
    import pandas as pd

    from amc_pipelines.db import get_engine

    engine = get_engine(database_url)
    meter = CpuMeter(engine)
    rss_before = _peak_rss_mb()
    before = meter.read()
    began = time.perf_counter()
    rows = 0
    instance_id, window_start, window_end = KEY_VALUES
    for path in files:
        frame = pd.read_csv(path)
        frame["instance_id"] = instance_id
        frame["week_start"] = window_start.date()
        frame["window_end"] = window_end
        frame["amc_execution_id"] = "pandas"
        frame.to_sql(f"{REPORT}_pandas", engine, if_exists="append", index=False, chunksize=chunksize, method=method)
        rows += len(frame)
    seconds = time.perf_counter() - began
    return {"rows": rows, "seconds": seconds, "cpu": meter.used(before), "rss_before_mb": rss_before,
            "peak_rss_mb": _peak_rss_mb()}


def run_worker(kind: str, database_url: str, files: list[Path], extra: list[str]) -> dict:
    command = [sys.executable, __file__, "--worker", kind, "--database", database_url, *extra, *map(str, files)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def markdown(results: list[tuple[str, dict]], *, rows: int, files: int, server_version: str, host: str) -> str:
    lines = [
        f"### {date.today().isoformat()}: {rows:,} rows in {files} files ({REPORT} columns)",
        "",
        f"Machine: {host}; {server_version}.",
        "",
        "| loader | rows | seconds | rows/s | CPU s: client + server backend | peak RSS MB | RSS before load MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results:
        client, backend = r["cpu"]
        cpu = f"{client:.1f} + {backend:.1f}" if backend is not None else f"{client:.1f} + (server not local)"
        lines.append(
            f"| {name} | {r['rows']:,} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | {cpu} | "
            f"{r['peak_rss_mb']:.0f} | {r['rss_before_mb']:.0f} |"
        )
    ours = results[0][1]
    met = ours["rows"] / ours["seconds"] >= GOAL_ROWS_PER_SECOND and ours["peak_rss_mb"] <= GOAL_PEAK_RSS_MB
    lines += ["", f"Goal (>= {GOAL_ROWS_PER_SECOND:,} rows/s, <= {GOAL_PEAK_RSS_MB} MB): {'met' if met else 'NOT met'}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=4, help="result files the rows are split into")
    parser.add_argument("--server", default=os.environ.get("AMC_TEST_DATABASE_URL") or DEFAULT_SERVER,
                        help="Postgres server on which a temporary database is created and dropped")
    parser.add_argument("--skip-pandas", action="store_true", help="only our loader")
    parser.add_argument("--pandas-chunksize", type=int, default=10_000)
    parser.add_argument("--pandas-method", choices=["default", "multi"], default="default")
    parser.add_argument("--repeats", type=int, default=3, help="loads of ours into fresh partitions (median)")
    parser.add_argument("--worker", choices=["ours", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        if args.worker == "pandas":
            method = None if args.pandas_method == "default" else "multi"
            result = worker_pandas(args.database, args.paths, args.pandas_chunksize, method)
        else:
            result = worker_ours(args.database, args.paths, args.repeats)
        print(json.dumps(result))
        return

    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    from amc_pipelines.db import libpq_url, normalize_url

    host = machine()  # before anything runs: the load average is of the machine, not of this benchmark
    with tempfile.TemporaryDirectory(prefix="amc-bench-loading-") as directory:
        began = time.perf_counter()
        files = generate_csvs(Path(directory), args.rows, args.files)
        size_mb = sum(path.stat().st_size for path in files) / 2**20
        print(f"generated {args.rows:,} rows ({size_mb:.0f} MB) in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        name = f"amc_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(libpq_url(args.server), autocommit=True) as admin:
            server_version = "PostgreSQL " + admin.execute("SHOW server_version").fetchone()[0]
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        database_url = normalize_url(make_url(normalize_url(args.server)).set(database=name))
        try:
            ours = run_worker("ours", database_url, files, ["--repeats", str(args.repeats)])
            print(f"ours: {ours}", file=sys.stderr)
            loads = ", ".join(f"{seconds:.1f}" for seconds in ours["all_seconds"])
            results = [
                (f"amc_pipelines load_result_files, new partition (median of {args.repeats}: {loads} s)", ours),
                (
                    "same, replacing a loaded partition (DELETE + COPY)",
                    {**ours, "seconds": ours["reload_seconds"], "cpu": ours["reload_cpu"]},
                ),
            ]
            if not args.skip_pandas:
                extra = ["--pandas-chunksize", str(args.pandas_chunksize), "--pandas-method", args.pandas_method]
                label = f"pandas read_csv + to_sql (chunksize {args.pandas_chunksize}, method {args.pandas_method})"
                results.append((label, run_worker("pandas", database_url, files, extra)))
                print(f"pandas: {results[-1][1]}", file=sys.stderr)
        finally:
            with psycopg.connect(libpq_url(args.server), autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    print(markdown(results, rows=args.rows, files=args.files, server_version=server_version, host=host))


if __name__ == "__main__":
    main()
