"""Sandbox benchmarks: synthetic data generation time per size (and query timings, see --queries).

Run ``.venv/bin/python benchmarks/sandbox.py --generation [--sizes small demo]``. Each measurement
is a function returning rows for a markdown table; ``main`` runs the selected ones and prints the tables
(record results in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout


@dataclass(frozen=True)
class GenerationTiming:
    size: str
    instances: int
    seconds: float
    rows: dict[str, int]  # table -> rows summed over instances
    file_mb: float


def generation_timing(size: str, *, seed: int = 7) -> GenerationTiming:
    """Generate ``size`` from scratch in a fresh temporary directory and time it."""
    from amc_pipelines.sandbox.datagen import ensure_dataset

    with tempfile.TemporaryDirectory(prefix=f"amc-bench-{size}-") as directory:
        began = time.perf_counter()
        dataset = ensure_dataset(Path(directory), size=size, seed=seed)
        seconds = time.perf_counter() - began
        manifest = json.loads(next(Path(directory).glob("*.manifest.json")).read_text())
        rows: dict[str, int] = {}
        for per_instance in manifest["rows"].values():
            for table, count in per_instance.items():
                rows[table] = rows.get(table, 0) + count
        return GenerationTiming(size, len(dataset.instances), seconds, rows, os.path.getsize(dataset.path) / 1e6)


def generation_table(timings: list[GenerationTiming]) -> str:
    tables = list(timings[0].rows)
    header = ["size", "instances", "seconds", "file MB", *tables]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for t in timings:
        cells = [t.size, str(t.instances), f"{t.seconds:.1f}", f"{t.file_mb:.0f}", *(f"{t.rows[n]:,}" for n in tables)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_generation(sizes: list[str]) -> str:
    timings = []
    for size in sizes:
        timing = generation_timing(size)
        print(f"generated {size} in {timing.seconds:.1f} s", file=sys.stderr)
        timings.append(timing)
    return f"### Synthetic data generation ({os.cpu_count()} CPUs)\n\n" + generation_table(timings)


def run_queries(size: str, repeats: int) -> str:
    """Query timings through the sandbox SQL engine (benchmarks/sandbox_queries.py)."""
    try:
        from benchmarks.sandbox_queries import markdown_table, query_timings
    except ImportError:
        from sandbox_queries import markdown_table, query_timings
    from amc_pipelines.sandbox.datagen import ensure_dataset

    directory = Path(tempfile.gettempdir()) / "amc-bench-data"
    dataset = ensure_dataset(directory, size=size)
    return markdown_table(query_timings(dataset, repeats=repeats), size=size)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generation", action="store_true", help="time data generation per size")
    parser.add_argument("--sizes", nargs="+", default=["small", "demo", "large"], help="sizes to generate")
    parser.add_argument("--queries", action="store_true", help="time sandbox SQL queries")
    parser.add_argument("--query-size", default="demo", help="dataset size for --queries (cached)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not (args.generation or args.queries):
        parser.error("choose at least one of --generation, --queries")
    sections = []
    if args.generation:
        sections.append(run_generation(args.sizes))
    if args.queries:
        sections.append(run_queries(args.query_size, args.repeats))
    print("\n\n".join(sections))


if __name__ == "__main__":
    main()
