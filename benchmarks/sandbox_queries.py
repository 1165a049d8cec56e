"""Run time of sandbox SQL queries through the engine, in-process.

Times the campaign-performance example (SP, SB, SD and DSP by week and campaign) on the first
instance of a sandbox dataset over one week and over 13 months (AMC's retention), and prints a
markdown table. ``benchmarks/sandbox.py`` imports ``query_timings`` and ``markdown_table``; run on
its own with ``python -m benchmarks.sandbox_queries [--size demo] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

QUERY_NAME = "01_campaign_performance_sp_sb_sd_dsp"
DATA_LAG = timedelta(days=2)


@dataclass(frozen=True)
class QueryTiming:
    label: str
    window_start: datetime
    window_end: datetime
    rows: int
    rows_removed: int
    seconds: list[float]  # one per repeat

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def _monday_on_or_before(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def benchmark_windows(start: date, end: date) -> list[tuple[str, datetime, datetime]]:
    """One calendar week and 13 months of whole weeks, both ending on the last collectable Monday."""
    last_monday = _monday_on_or_before(end - DATA_LAG)
    thirteen_months = max(_monday_on_or_before(last_monday - timedelta(days=396)), start)
    return [
        ("1 week", _midnight(last_monday - timedelta(weeks=1)), _midnight(last_monday)),
        ("13 months", _midnight(thirteen_months), _midnight(last_monday)),
    ]


def query_timings(dataset, *, repeats: int = 3) -> list[QueryTiming]:
    """Time the campaign-performance example over each benchmark window (after one warm-up run)."""
    from amc_pipelines.sandbox.examples import example_query
    from amc_pipelines.sandbox.sql import QueryRequest, SqlEngine

    example = example_query(QUERY_NAME)
    engine = SqlEngine(dataset)
    instance = dataset.instances[0]
    timings = []
    for label, start, end in benchmark_windows(dataset.start_date, dataset.end_date):
        request = QueryRequest(
            sql=example.sql,
            time_window_start=start,
            time_window_end=end,
            time_zone=instance.timezone,
            parameter_values=example.default_values,
            input_parameters=example.input_parameters,
        )
        result = engine.run(request, instance.instance_id)  # warm-up: DuckDB caches, file pages
        seconds = []
        for _ in range(repeats):
            began = time.perf_counter()
            result = engine.run(request, instance.instance_id)
            seconds.append(time.perf_counter() - began)
        timings.append(QueryTiming(label, start, end, len(result.rows), result.rows_removed, seconds))
    return timings


def markdown_table(timings: list[QueryTiming], *, size: str) -> str:
    lines = [
        f"Query `{QUERY_NAME}` through `SqlEngine.run` (in-process), `{size}` dataset, first instance:",
        "",
        "| window | from | to | rows | rows removed | median s | min s | max s |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t in timings:
        lines.append(
            f"| {t.label} | {t.window_start:%Y-%m-%d} | {t.window_end:%Y-%m-%d} | {t.rows} | {t.rows_removed} "
            f"| {t.median:.3f} | {min(t.seconds):.3f} | {max(t.seconds):.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from amc_pipelines.sandbox.datagen import ensure_dataset
    from amc_pipelines.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="demo", choices=["small", "demo", "large"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=None, help="default: AMC_HOME/sandbox")
    args = parser.parse_args(argv)
    directory = args.data_dir or Settings.from_env().sandbox_dir
    dataset = ensure_dataset(directory, size=args.size, seed=args.seed)
    print(markdown_table(query_timings(dataset, repeats=args.repeats), size=args.size))


if __name__ == "__main__":
    main()
