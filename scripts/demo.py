"""`make demo`: the main job on the embedded defaults, through the real path.

Embedded Postgres, the AMC sandbox over HTTP on loopback, the sandbox's instances registered, then
`campaign_performance` and `new_to_brand` for the newest collectable weeks of every instance, each
run through the execution ledger (reuse / reattach / submit), AMC's API, the downloads and the COPY
loader. A second `make demo` reuses every loaded week: zero new AMC executions.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx

from amc_pipelines.amc.client import AmcClient
from amc_pipelines.amc.ratelimit import PostgresRateLimiter
from amc_pipelines.db import database_url, get_engine, upgrade
from amc_pipelines.params import latest_collectable_week
from amc_pipelines.registry import list_instances
from amc_pipelines.runner import prepare_run, run_report
from amc_pipelines.settings import get_settings

REPORTS = ("campaign_performance", "new_to_brand")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=8, help="newest collectable weeks per instance (default 8)")
    parser.add_argument("--workers", type=int, default=8, help="runs in flight at once (default 8)")
    args = parser.parse_args()

    settings = get_settings()
    stats_url = f"{settings.api_url}/_sandbox/stats"
    started = time.monotonic()
    url = database_url(settings)
    upgrade(url)
    engine = get_engine(url)
    now = datetime.now(UTC)
    instances = list_instances(engine, enabled_only=True)
    partitions = []
    for instance in instances:
        newest = latest_collectable_week(now=now, timezone=instance.timezone, week_start=instance.week_start,
                                         data_lag_hours=instance.data_lag_hours or settings.data_lag_hours)
        partitions += [(report, instance.instance_id, newest - timedelta(weeks=n))
                       for report in REPORTS for n in range(args.weeks)]
    before = httpx.get(stats_url).json()["executions_created"]
    print(f"{len(partitions)} partitions: {len(REPORTS)} reports x {len(instances)} instances x {args.weeks} weeks")

    def run(partition):
        report, instance_id, week = partition
        with AmcClient(settings, rate_limiter=PostgresRateLimiter(engine, settings.api_rate_per_second)) as client:
            request = prepare_run(engine, settings, report_name=report, instance_id=instance_id, week=week, params={})
            return partition, run_report(engine, settings, client, request)

    rows = 0
    with ThreadPoolExecutor(args.workers) as pool:
        for (report, instance_id, week), outcome in pool.map(run, partitions):
            rows += outcome.rows
            print(f"  {report:<22} {instance_id}  week {week}  {outcome.how:<10} {outcome.rows:>5} rows"
                  f"{'  (provisional)' if outcome.provisional else ''}")
    created = httpx.get(stats_url).json()["executions_created"] - before
    print(f"done: {len(partitions)} partitions, {rows} rows loaded, {created} new AMC executions, "
          f"{time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
