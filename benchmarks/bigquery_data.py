"""BigQuery stand-in data benchmark: generation time, peak memory and file size per size.

Run ``.venv/bin/python benchmarks/bigquery_data.py [--sizes small demo large]``. Each size is
generated in a fresh child process (so its peak RSS is its own, read from ``getrusage``) into a
temporary directory, as ``amc sandbox serve`` does at start. Prints a markdown table to record
under "BigQuery stand-in data" in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host import machine  # noqa: E402

NOW = "2026-03-11T12:00:00+00:00"

CHILD = """
import json, sys, time
from datetime import datetime
from pathlib import Path
from amc_pipelines.sandbox.bigquery import BigQueryConfig
from amc_pipelines.sandbox.bigquery.warehouse import Warehouse
began = time.perf_counter()
warehouse = Warehouse(BigQueryConfig(size=sys.argv[1], now=datetime.fromisoformat(sys.argv[2])), Path(sys.argv[3]))
seconds = time.perf_counter() - began
warehouse.cursor().execute("CHECKPOINT")
size = sum(p.stat().st_size for p in Path(sys.argv[3]).rglob("*") if p.is_file())
print(json.dumps({"rows": warehouse.rows, "seconds": seconds, "generation_seconds": warehouse.generation_seconds,
                  "file_bytes": size}))
warehouse.close()
"""


def measure(size: str) -> dict:
    with tempfile.TemporaryDirectory() as directory:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        output = subprocess.run([sys.executable, "-c", CHILD, size, NOW, directory],
                                check=True, capture_output=True, text=True).stdout
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    figures = json.loads(output)
    # ru_maxrss of children is the largest child so far: sizes run from small to large.
    figures["peak_rss_mb"] = max(peak_kb, before) / 1024
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["small", "demo", "large"], choices=["small", "demo", "large"])
    args = parser.parse_args()
    print(f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; data as of {NOW}.\n")
    print("| size | SQP rows | ASIN rows | generation s (incl. process start of DuckDB file) | peak RSS MB | file MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        began = time.perf_counter()
        figures = measure(size)
        rows = figures["rows"]
        print(f"| {size} | {rows['search_query_performance']:,} | {rows['asin_performance']:,} | "
              f"{figures['generation_seconds']:.2f} ({time.perf_counter() - began:.1f} s wall with imports) | "
              f"{figures['peak_rss_mb']:.0f} | {figures['file_bytes'] / 2**20:.0f} |", flush=True)


if __name__ == "__main__":
    main()
