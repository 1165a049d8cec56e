"""``make demo``: two reports x the newest 8 weeks x 2 sandbox instances, as Dagster partition backfills.

:func:`run_demo` runs on a started :class:`~amc_pipelines.deployment.local.LocalDeployment` (the
one Dagster home of the AMC_HOME): it plans one backfill per report with the same checks as
``amc backfill start``, waits until the instance sync sensor has made the instances partitions,
launches the backfills over GraphQL (``launchPartitionBackfill``), prints progress until both end
and a summary, then waits until Dagster's marts automation has built the demo's weeks of the marts
(after each week's newest load) and prints the weekly advertiser table of each instance. Every partition is a Dagster run that goes through the execution ledger, so a second
demo reuses every loaded week: zero new AMC executions. Afterwards ``make dev`` shows the same
runs, partitions, backfills and check results, because it runs on the same home and storage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx

from amc_pipelines.backfill import BackfillPlan, plan_backfill
from amc_pipelines.backfill_api import BackfillInfo, DagsterGraphQL
from amc_pipelines.deployment.local import LocalDeployment, sandbox_answers
from amc_pipelines.deployment.processes import DeploymentError

REPORTS = ("campaign_performance", "new_to_brand")
WEEKS = 8
INSTANCES = 2
POLL_SECONDS = 3.0
MARTS_KEY = ["marts", "fct_instance_week"]  # the mart the demo prints; every model is built in the same run
DEMO_SANDBOX_LATENCY = "1-3"  # seconds per execution: a demo that ends in a few minutes


@dataclass
class DemoResult:
    backfills: dict[str, BackfillPlan]  # backfill id -> plan
    infos: dict[str, BackfillInfo]  # backfill id -> its state when both had ended
    executions_created: int  # new AMC executions, from the sandbox's counters
    rows: int  # rows of the backfilled weeks in amc_results
    elapsed: float
    marts_weeks: int = 0  # week partitions of the marts built after their newest load
    weekly_tables: str = ""

    @property
    def partitions(self) -> int:
        return sum(len(plan.partition_keys) for plan in self.backfills.values())

    @property
    def materialized(self) -> int:
        return sum(counts[2] for info in self.infos.values() for counts in info.asset_counts.values())

    @property
    def failed(self) -> int:
        return self.partitions - self.materialized


def run_demo(local: LocalDeployment, *, weeks: int = WEEKS, instances: int = INSTANCES,
             instance_ids: Sequence[str] | None = None, now: datetime | None = None, timeout: float = 1800.0,
             out: Callable[[str], None] = print) -> DemoResult:
    """The demo's backfills on ``local``; ``instance_ids`` default: the first ``instances`` sandbox
    instances. ``now`` decides the newest collectable week (default: the project clock)."""
    from amc_pipelines.db import get_engine

    began = time.monotonic()
    settings = local.settings
    if not sandbox_answers(settings.api_url):
        raise DeploymentError(f"the demo runs against the AMC sandbox, and none answers at AMC_API_URL="
                              f"{settings.api_url}: unset AMC_API_URL (the sandbox starts with the demo)")
    engine = get_engine(local.database_url)
    chosen = list(instance_ids or local.sandbox_instance_ids[:instances])
    plans = [plan_backfill(engine, settings, report=report, instance_ids=chosen, weeks=weeks, now=now)
             for report in REPORTS]
    executions_before = sandbox_stats(settings.api_url)["executions_created"]
    for plan in plans:  # the instance sync sensor (in the daemon) makes registered instances partitions
        local.deployment.wait_for_partitions(plan.report, "instance", plan.instance_ids)
    with DagsterGraphQL(local.url, timeout=60) as api:
        backfills = {api.launch([plan.report], plan.partition_keys, title=plan.title): plan for plan in plans}
        for backfill_id, plan in backfills.items():
            out(f"== backfill {backfill_id}: {plan.title} ({len(plan.partition_keys)} partitions)")
        infos = wait_for_backfills(api, backfills, settings.api_url, executions_before, timeout, out)
    result = DemoResult(backfills, infos, sandbox_stats(settings.api_url)["executions_created"] - executions_before,
                        loaded_rows(engine, plans), time.monotonic() - began)
    per_instance = len(next(iter(plans[0].weeks.values())))
    out(f"== done in {result.elapsed:.0f} s: {result.partitions} partitions ({len(plans)} reports x "
        f"{len(chosen)} instances x {per_instance} weeks), {result.materialized} materialized, {result.failed} "
        f"failed; {result.rows} rows in amc_results; {result.executions_created} new AMC executions")
    if result.failed:
        for backfill_id in backfills:
            out(f"   failed partitions: see each error in the UI: {local.url}/runs/b/{backfill_id}")
        return result
    with DagsterGraphQL(local.url, timeout=60) as api:
        result.marts_weeks = wait_for_marts(api, plans, timeout=max(60.0, timeout - result.elapsed), out=out)
    from amc_pipelines.marts.weekly_table import format_weekly_tables, instance_weeks

    weeks = sorted({week for plan in plans for weeks in plan.weeks.values() for week in weeks})
    result.weekly_tables = format_weekly_tables(instance_weeks(engine, chosen, weeks))
    out("== marts.fct_instance_week: the advertiser's weeks, in the instance's currency")
    out(result.weekly_tables)
    result.elapsed = time.monotonic() - began
    return result


def wait_for_marts(api: DagsterGraphQL, plans: Sequence[BackfillPlan], timeout: float,
                   out: Callable[[str], None]) -> int:
    """Wait until every week of the plans has a materialization of the marts newer than the newest
    load of any partition of that week of a report the marts read (the automation sensor requests
    them; nothing here launches a run). Returns the number of weeks."""
    from amc_pipelines.marts import MART_INPUTS
    from amc_pipelines.partitions import ReportPartition

    read = {need.template for need in MART_INPUTS}
    report_keys = {(plan.report, key) for plan in plans if plan.report in read for key in plan.partition_keys}
    weeks = sorted({ReportPartition.from_key(report, key).week for report, key in report_keys})
    deadline, began = time.monotonic() + timeout, time.monotonic()
    out(f"== marts: waiting for Dagster's automation (sensor aggregates_automation) to build {len(weeks)} weeks")
    while True:
        newest_load: dict = {}
        for report in sorted({report for report, _ in report_keys}):
            keys = [key for r, key in report_keys if r == report]
            for key, loaded_at in api.latest_materializations(["amc", report], keys).items():
                week = ReportPartition.from_key(report, key).week
                newest_load[week] = max(newest_load.get(week, 0.0), loaded_at)
        built = api.latest_materializations(MARTS_KEY, [week.isoformat() for week in weeks])
        behind = [week for week in weeks if built.get(week.isoformat(), 0.0) <= newest_load.get(week, 0.0)]
        if not behind:
            out(f"  [{time.monotonic() - began:5.0f} s] marts built for {len(weeks)} weeks")
            return len(weeks)
        if time.monotonic() > deadline:
            raise DeploymentError(f"the marts of weeks {', '.join(w.isoformat() for w in behind)} were not built "
                                  f"within {timeout:.0f} s of the loads: is the sensor aggregates_automation "
                                  "running? See its ticks and the marts runs in the UI")
        time.sleep(POLL_SECONDS)


def sandbox_stats(api_url: str) -> dict:
    response = httpx.get(f"{api_url}/_sandbox/stats", timeout=10)
    response.raise_for_status()
    return response.json()


def wait_for_backfills(api: DagsterGraphQL, backfills: dict[str, BackfillPlan], api_url: str,
                       executions_before: int, timeout: float, out: Callable[[str], None]) -> dict[str, BackfillInfo]:
    """Poll until every backfill ended, one progress line per change; the backfills' final states."""
    deadline = time.monotonic() + timeout
    began, last = time.monotonic(), ""
    while True:
        infos = {backfill_id: api.backfill(backfill_id) for backfill_id in backfills}
        line = "  ".join(
            f"{plan.report}: {done}/{total} done, {running} queued or running, {failed} failed"
            for backfill_id, plan in backfills.items()
            for total, running, done, failed in [infos[backfill_id].asset_counts.get(
                plan.report, (len(plan.partition_keys), 0, 0, 0))])
        line += f"  | AMC executions created: {sandbox_stats(api_url)['executions_created'] - executions_before}"
        if line != last:
            out(f"  [{time.monotonic() - began:5.0f} s] {line}")
            last = line
        if all(info.has_ended for info in infos.values()):
            return infos
        if time.monotonic() > deadline:
            raise DeploymentError(f"the backfills did not end within {timeout:.0f} s; see the UI")
        time.sleep(POLL_SECONDS)


def loaded_rows(engine, plans: list[BackfillPlan]) -> int:
    from sqlalchemy import text

    rows = 0
    with engine.connect() as connection:
        for plan in plans:
            for instance_id, weeks in plan.weeks.items():
                rows += connection.execute(text(
                    f'SELECT count(*) FROM amc_results."{plan.report}" '  # report names are catalog identifiers
                    "WHERE instance_id = :instance AND week_start = ANY(:weeks)"
                ), {"instance": instance_id, "weeks": list(weeks)}).scalar_one()
    return rows
