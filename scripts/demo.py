"""`make demo`: backfill two reports x 8 weeks x 2 sandbox instances through a real Dagster deployment.

`scripts/demo.sh` has started the embedded Postgres and the AMC sandbox and registered the sandbox's
instances. This starts `dagster-webserver` and `dagster-daemon` on Postgres storage under
AMC_HOME/dagster-demo (:class:`amc_pipelines.deployment.DagsterDeployment`), launches one partition
backfill per report over GraphQL (`launchPartitionBackfill`), shows progress until both end, prints
a summary and stops the deployment. Every partition is a Dagster run that goes through the
execution ledger, so a second `make demo` reuses every loaded week: zero new AMC executions.
Exit status 1 when a partition failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

from amc_pipelines.backfill import BackfillPlan, plan_backfill  # noqa: E402
from amc_pipelines.backfill_api import DagsterGraphQL  # noqa: E402
from amc_pipelines.db import database_url, get_engine, upgrade  # noqa: E402
from amc_pipelines.deployment import DagsterDeployment  # noqa: E402
from amc_pipelines.settings import get_settings  # noqa: E402

REPORTS = ("campaign_performance", "new_to_brand")
POLL_SECONDS = 3.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=8, help="newest collectable weeks per instance (default 8)")
    parser.add_argument("--instances", type=int, default=2, help="sandbox instances to backfill (default 2)")
    parser.add_argument("--port", type=int, default=None, help="port of the Dagster UI (default: a free one)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the backfills (default 1800)")
    args = parser.parse_args()

    started = time.monotonic()
    settings = get_settings()
    url = database_url(settings)
    upgrade(url)
    engine = get_engine(url)
    instance_ids = sandbox_instance_ids(settings)[:args.instances]
    plans = [plan_backfill(engine, settings, report=report, instance_ids=instance_ids, weeks=args.weeks)
             for report in REPORTS]
    executions_before = sandbox_stats(settings.api_url)["executions_created"]
    # Every Dagster process gets this environment: the AMC_* settings of this shell, and the
    # database this process resolved (the embedded server is not looked up again in each run).
    env = {name: value for name, value in os.environ.items() if name.startswith("AMC_")}
    env |= {"AMC_HOME": str(settings.home), "AMC_DATABASE_URL": url, "AMC_API_URL": settings.api_url}

    print(f"== Dagster webserver + daemon (DAGSTER_HOME={settings.home / 'dagster-demo'})", flush=True)
    with DagsterDeployment(settings.home / "dagster-demo", env, webserver_port=args.port) as deployment:
        print(f"   up in {time.monotonic() - started:.0f} s: the UI is at {deployment.url} while the demo runs",
              flush=True)
        for plan in plans:
            deployment.wait_for_partitions(plan.report, "instance", plan.instance_ids)
        with DagsterGraphQL(deployment.url, timeout=60) as api:
            backfills = {api.launch([plan.report], plan.partition_keys, title=plan.title): plan for plan in plans}
            for backfill_id, plan in backfills.items():
                print(f"== backfill {backfill_id}: {plan.title} ({len(plan.partition_keys)} partitions)", flush=True)
            counts = wait_for_backfills(api, backfills, settings.api_url, executions_before, args.timeout)
    created = sandbox_stats(settings.api_url)["executions_created"] - executions_before
    return summary(engine, plans, counts, created, time.monotonic() - started)


def sandbox_instance_ids(settings) -> list[str]:
    """The sandbox's instances in its own order (its dataset is cached under AMC_HOME)."""
    from amc_pipelines.sandbox.datagen import ensure_dataset

    dataset = ensure_dataset(settings.sandbox_dir, size=settings.sandbox_size, seed=settings.sandbox_seed)
    return [instance.instance_id for instance in dataset.instances]


def sandbox_stats(api_url: str) -> dict:
    response = httpx.get(f"{api_url}/_sandbox/stats", timeout=10)
    response.raise_for_status()
    return response.json()


def wait_for_backfills(api: DagsterGraphQL, backfills: dict[str, BackfillPlan], api_url: str,
                       executions_before: int, timeout: float) -> dict[str, tuple[int, int, int, int]]:
    """Poll until every backfill ended; prints one progress line per change. Returns, per report,
    Dagster's (targeted, in progress, materialized, failed) partition counts."""
    deadline = time.monotonic() + timeout
    began, last = time.monotonic(), ""
    while True:
        infos = {backfill_id: api.backfill(backfill_id) for backfill_id in backfills}
        counts = {plan.report: infos[backfill_id].asset_counts.get(plan.report, (len(plan.partition_keys), 0, 0, 0))
                  for backfill_id, plan in backfills.items()}
        created = sandbox_stats(api_url)["executions_created"] - executions_before
        line = "  ".join(f"{report}: {done}/{total} done, {running} queued or running, {failed} failed"
                         for report, (total, running, done, failed) in counts.items())
        line += f"  | AMC executions created: {created}"
        if line != last:
            print(f"  [{time.monotonic() - began:5.0f} s] {line}", flush=True)
            last = line
        if all(info.has_ended for info in infos.values()):
            return counts
        if time.monotonic() > deadline:
            raise SystemExit(f"the backfills did not end within {timeout:.0f} s; see the UI")
        time.sleep(POLL_SECONDS)


def summary(engine, plans: list[BackfillPlan], counts: dict[str, tuple[int, int, int, int]], created: int,
            elapsed: float) -> int:
    from sqlalchemy import text

    partitions = sum(len(plan.partition_keys) for plan in plans)
    materialized = sum(done for _, _, done, _ in counts.values())
    failed = partitions - materialized
    rows = 0
    with engine.connect() as connection:
        for plan in plans:
            for instance_id, weeks in plan.weeks.items():
                rows += connection.execute(text(
                    f'SELECT count(*) FROM amc_results."{plan.report}" '  # report names are catalog identifiers
                    "WHERE instance_id = :instance AND week_start = ANY(:weeks)"
                ), {"instance": instance_id, "weeks": list(weeks)}).scalar_one()
    print(f"== done in {elapsed:.0f} s: {partitions} partitions ({len(plans)} reports x "
          f"{len(plans[0].instance_ids)} instances x {len(next(iter(plans[0].weeks.values())))} weeks), "
          f"{materialized} materialized, {failed} failed; {rows} rows in amc_results; "
          f"{created} new AMC executions")
    if failed:
        print("   failed partitions: open the backfill in the UI (Overview > Backfills) for each error",
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
