"""Insights detection benchmark (issue 12): findings for one instance over 52 weeks of all campaigns.

Run ``.venv/bin/python benchmarks/insights.py`` (defaults: the sandbox's ``demo`` data, seed 7, ending
2026-12-07, its first instance; about 30 s to generate once into ``--data-dir``). The weekly campaign
frame comes from the campaign_performance report SQL on the sandbox (``insights.replay``: what
``marts.fct_campaign_week`` holds), built before the clock starts. Timed: ``detect_findings`` (all
detectors: anomalies, trends, changes, opportunities) in this process after one warm-up call (the
first call imports scipy), ``--repeat`` times; the goal is under 2 s. Also times the import of the
detection module in a fresh interpreter. Prints a markdown block for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

from benchmarks.host import machine  # noqa: E402 - after the path is set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="demo")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--end-date", type=date.fromisoformat, default=date(2026, 12, 7))
    parser.add_argument("--instance", type=int, default=0, help="index of the dataset's instance")
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/amc-bench-insights"))
    args = parser.parse_args()

    host = machine()
    started = datetime.now(UTC)
    from amc_pipelines.insights.detect import detect_findings
    from amc_pipelines.insights.replay import sandbox_campaign_weeks
    from amc_pipelines.sandbox.datagen import ensure_dataset

    dataset = ensure_dataset(args.data_dir, size=args.size, seed=args.seed, end_date=args.end_date)
    instance = dataset.instances[args.instance]
    frame, first, last = sandbox_campaign_weeks(dataset, instance.instance_id, weeks=args.weeks)
    detect_findings(frame, first_week=first, last_week=last)  # warm-up: imports, first-call costs

    times, findings = [], []
    for _ in range(args.repeat):
        began = time.perf_counter()
        findings = detect_findings(frame, first_week=first, last_week=last)
        times.append(time.perf_counter() - began)
    cold = subprocess.run(
        [sys.executable, "-c", "import time; t = time.perf_counter(); import amc_pipelines.insights.detect; "
                               "print(time.perf_counter() - t)"], capture_output=True, text=True, check=True)
    kinds = {k: sum(f.kind == k for f in findings) for k in ("anomaly", "change", "opportunity", "trend")}
    campaigns = frame["campaign_id"].nunique()
    print(f"### Detection, one instance x {args.weeks} weeks ({started:%Y-%m-%d %H:%M} UTC)\n")
    print(f"Machine: {host}.\n")
    print(f"Data: sandbox `{args.size}` seed {args.seed} ending {args.end_date}, instance {instance.instance_id} "
          f"({instance.timezone}): {campaigns} campaigns, {len(frame)} campaign-weeks read ({first} to {last} "
          f"reported, 12 weeks of baseline before).\n")
    print("| measure | value |\n|---|---|")
    print(f"| `detect_findings`, median of {args.repeat} (after a warm-up call) | {statistics.median(times):.3f} s |")
    print(f"| slowest of {args.repeat} | {max(times):.3f} s |")
    print(f"| import of `amc_pipelines.insights.detect` (numpy, pandas, scipy.stats), fresh interpreter | "
          f"{float(cold.stdout):.2f} s |")
    print(f"| findings | {len(findings)} ({', '.join(f'{v} {k}' for k, v in kinds.items())}) |")
    print(f"\nGoal: under 2 s. {'Met' if max(times) < 2 else 'NOT met'}.")


if __name__ == "__main__":
    main()
