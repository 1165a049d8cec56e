"""The BigQuery refresh (issue 11) as Dagster assets, group ``bigquery_refresh``: wiring only; the
refresh itself is :mod:`amc_pipelines.refresh` (``cycle.run_cycle``, ``orchestration``).

- ``bigquery_refresh``: one multi-asset over every registry table, keys ``sqp/<table>``, deps = the
  tables' hard and soft dependencies, subsettable (a schedule or a person picks tables). One cycle per
  step: ``run_cycle(tables=selected)`` copies them in dependency order in their effective modes and
  reports each table as it finishes: a live copy is a materialization with the audit row as
  metadata, a dry run or shadow run an observation (``sqp.<t>`` did not change, so nothing
  downstream rebuilds), a shadow validation the ``shadow_matches_live`` check. Failed tables fail the
  step at the end (named, with their errors), after every other table has been reported.
- Pool ``bigquery`` (``dagster instance concurrency set bigquery N`` caps concurrent refresh runs);
  retries with exponential backoff and jitter for what the client's own retries did not absorb, when
  the copy says a failure is retryable; a retry copies only the tables the earlier attempts did not load.
- One schedule per distinct cron of the tables (default daily 02:00 UTC), STOPPED like every
  schedule of this project, whose runs carry ``dagster/priority`` = their tables' highest priority.
- ``newest_week_fresh``: per table, the newest week in its target against the week expected by now
  (``refresh.orchestration.freshness``); runs with every refresh and hourly (once a table has been
  materialized) through the automation sensor.
- ``sqp_summaries``: the dbt models ``dbt_project/models/sqp/`` (schema ``sqp_summary``),
  unpartitioned, built once the sqp tables they read were updated (materialized) and none is being
  refreshed; dbt tests are their checks. ``bigquery_refresh_automation`` (RUNNING) evaluates them.

Imports stay light: google-cloud-bigquery and pandas load only in a run that needs a client.
"""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.

import queue
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from amc_pipelines.defs.aggregates import project, stream_dbt
from amc_pipelines.defs.resources import DatabaseResource
from amc_pipelines.marts import SQP_SUMMARIES_SELECTION
from amc_pipelines.refresh.models import TARGET_SCHEMA
from amc_pipelines.refresh.orchestration import refresh_schedules
from amc_pipelines.refresh.registry import configured_registry

GROUP = "bigquery_refresh"
POOL = "bigquery"
SHADOW_CHECK = "shadow_matches_live"
FRESHNESS_CHECK = "newest_week_fresh"
# Freshness is also judged hourly, so a refresh that never ran (schedule stopped, daemon down) shows, but
# only for tables Dagster has materialized once: a deployment that does not use the refresh gets no runs.
FRESHNESS_CONDITION = (
    dg.AutomationCondition.cron_tick_passed("30 * * * *")
    & ~dg.AutomationCondition.any_deps_match(dg.AutomationCondition.missing())
).with_label("hourly_once_loaded")

REGISTRY = configured_registry()  # a broken table file fails the code location, naming file and field


def table_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([TARGET_SCHEMA, name])


TABLE_KEYS = {name: table_key(name) for name in REGISTRY}
TABLE_NAMES = {key: name for name, key in TABLE_KEYS.items()}

# The client's own retries absorb short BigQuery faults; this covers longer ones (1, 2 then 4 minutes,
# +/- jitter so retried runs do not hit BigQuery together).
REFRESH_RETRY = dg.RetryPolicy(max_retries=3, delay=60, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


@dg.resource(
    description="google.cloud.bigquery.Client of the refresh (RefreshBigQueryResource: dagster-gcp's BigQueryResource "
                "with api_endpoint; anonymous credentials for the stand-in). Unset fields come from AMC_BIGQUERY_*.",
    config_schema={
        "api_endpoint": dg.Field(dg.StringSource, is_required=False),
        "project": dg.Field(dg.StringSource, is_required=False),
        "location": dg.Field(dg.StringSource, is_required=False),
        "gcp_credentials": dg.Field(dg.StringSource, is_required=False),
    },
)
def bigquery_client_resource(context: dg.InitResourceContext) -> Iterator[Any]:
    # Built here, not at import: the resource module imports google-cloud-bigquery and pandas.
    from amc_pipelines.defs.bigquery_refresh.resource import RefreshBigQueryResource

    with RefreshBigQueryResource(**(context.resource_config or {})).get_client() as client:
        yield client


def _table_spec(name: str) -> dg.AssetSpec:
    config = REGISTRY[name]
    source = config.source.table or "GoogleSQL query"
    return dg.AssetSpec(
        key=TABLE_KEYS[name], group_name=GROUP, kinds={"bigquery", "postgres"}, skippable=True,
        deps=[TABLE_KEYS[dependency] for dependency in config.dependencies.all],
        description=f"{config.description}\n\nCopied from BigQuery ({source}) into {config.qualified_target}.",
        metadata={"source": source, "target": config.qualified_target, "schedule": config.schedule,
                  "priority": config.priority, "hard_dependencies": ", ".join(config.dependencies.hard) or "-",
                  "soft_dependencies": ", ".join(config.dependencies.soft) or "-",
                  "file": str(config.source_path)},
    )


def _event_metadata(outcome) -> dict[str, Any]:
    from amc_pipelines.refresh.orchestration import outcome_metadata

    metadata = {}
    for name, value in outcome_metadata(outcome).items():
        if value is None:
            continue
        metadata[name] = dg.MetadataValue.json(value) if isinstance(value, dict) else value
    return metadata


def _events_for(context: dg.AssetExecutionContext, outcome, validation) -> Iterator[Any]:
    key = TABLE_KEYS[outcome.table]
    if outcome.status in ("failed", "skipped"):
        context.log.error(f"{outcome.table}: {outcome.status}: {outcome.error}")
        return
    metadata = _event_metadata(outcome)
    if outcome.mode == "live":
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)
    else:
        # Nothing in sqp.<t> changed: an observation keeps the audit visible without triggering the summaries.
        yield dg.AssetObservation(asset_key=key, metadata=metadata,
                                  description=f"{outcome.mode} run of {outcome.table}: {outcome.status}")
    check_key = dg.AssetCheckKey(key, SHADOW_CHECK)
    if validation is not None and check_key in context.selected_asset_check_keys:
        yield dg.AssetCheckResult(
            asset_key=key, check_name=SHADOW_CHECK, passed=validation.passed, description=validation.summary,
            metadata={"validation_id": validation.validation_id, "audit_run_id": validation.run_id,
                      "checks": dg.MetadataValue.json(validation.checks)},
        )


def _failure(result) -> dg.Failure:
    failed, skipped = result.failed, result.skipped
    lines = [f"{o.table}: {o.error}" for o in failed] + [f"{o.table} skipped: {o.error}" for o in skipped]
    # Retry only when running again soon may succeed for some table (the copy says so); config, schema
    # drift, quota or a refused value fail the same way until someone changes something.
    transient = any(o.details.get("retryable", False) for o in failed)
    return dg.Failure(
        description=f"BigQuery refresh failed for {', '.join(o.table for o in failed)} (cycle {result.cycle_id}):\n"
                    + "\n".join(lines),
        metadata={"cycle_id": result.cycle_id, "failed_tables": ", ".join(o.table for o in failed),
                  "skipped_tables": ", ".join(o.table for o in skipped) or "-"},
        allow_retries=transient,
    )


@dg.multi_asset(
    name="bigquery_refresh",
    specs=[_table_spec(name) for name in REGISTRY],
    check_specs=[dg.AssetCheckSpec(SHADOW_CHECK, asset=key, description=(
        "After a shadow run: the shadow table equals the live one (row counts by week, keys, checksums, metric "
        "sums within tolerance); amc refresh cutover needs the last N to pass.")) for key in TABLE_KEYS.values()],
    can_subset=True,
    pool=POOL,
    retry_policy=REFRESH_RETRY,
    # "bigquery" is a function resource (built lazily, see bigquery_client_resource); Dagster then wants every
    # resource of the op named here rather than as parameters.
    required_resource_keys={"bigquery", "database"},
    description="One refresh cycle over the selected tables (amc_pipelines.refresh.cycle.run_cycle).",
)
def bigquery_refresh(context: dg.AssetExecutionContext) -> Iterator[Any]:
    from concurrent.futures import ThreadPoolExecutor

    from amc_pipelines.refresh.cycle import run_cycle
    from amc_pipelines.refresh.events import refresh_notifier
    from amc_pipelines.refresh.orchestration import loaded_by_earlier_attempt
    from amc_pipelines.settings import get_settings

    database: DatabaseResource = context.resources.database
    engine = database.get_engine()
    selected = [TABLE_NAMES[key] for key in context.selected_asset_keys]
    if context.retry_number:
        done = loaded_by_earlier_attempt(engine, context.run.run_id)
        context.log.info(f"Retry {context.retry_number}: already loaded by an earlier attempt: {', '.join(sorted(done)) or 'none'}")
        selected = [name for name in selected if name not in done]
    if not selected:
        return
    registry = REGISTRY
    outcomes: queue.Queue = queue.Queue()
    # The cycle runs in a worker thread so each table's events are yielded here as it finishes.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bigquery-refresh") as pool:
        running = pool.submit(
            run_cycle, engine, context.resources.bigquery, registry, tables=selected, triggered_by=context.run.run_id,
            notifier=refresh_notifier(get_settings()), refuse_not_refreshing=False,
            on_outcome=lambda outcome, validation: outcomes.put((outcome, validation)))
        while not (running.done() and outcomes.empty()):
            try:
                outcome, validation = outcomes.get(timeout=0.2)
            except queue.Empty:
                continue
            yield from _events_for(context, outcome, validation)
        result = running.result()
    not_run = sorted(set(selected) - {o.table for o in result.outcomes})
    if not_run:
        context.log.info(f"Not refreshed (disabled or paused): {', '.join(not_run)}")
    if result.failed:
        raise _failure(result)


@dg.multi_asset_check(
    name="bigquery_refresh_freshness",
    specs=[dg.AssetCheckSpec(
        FRESHNESS_CHECK, asset=key, automation_condition=FRESHNESS_CONDITION,
        description="The newest week (partition_column) in the table is not older than the week expected by now: "
                    "the newest Sunday-to-Saturday week that ended 3 days before the table's last scheduled refresh "
                    "(2 hours ago or earlier).")
        for name, key in TABLE_KEYS.items() if REGISTRY[name].partition_column],
    can_subset=True,
)
def bigquery_refresh_freshness(context: dg.AssetCheckExecutionContext, database: DatabaseResource) -> Iterator[Any]:
    from amc_pipelines import clock
    from amc_pipelines.refresh.orchestration import freshness
    from amc_pipelines.refresh.overrides import effective_tables

    engine = database.get_engine()
    tables = effective_tables(engine, REGISTRY)
    now = clock.now()
    for check_key in context.selected_asset_check_keys:
        result = freshness(engine, tables[TABLE_NAMES[check_key.asset_key]], now)
        yield dg.AssetCheckResult(asset_key=check_key.asset_key, check_name=FRESHNESS_CHECK, passed=result.passed,
                                  description=result.description,
                                  metadata={k: v for k, v in result.metadata().items() if v is not None})


# --- The SQP summaries (dbt) ---

# Built after the refresh tables they read were materialized (a live copy), once none of them is being
# refreshed, one build for all five (each condition looks at its own sources, updated by one run).
# "Since requested": an update that lands while the summaries build requests them again afterwards.
SUMMARY_CONDITION = (
    dg.AutomationCondition.any_deps_updated().since(dg.AutomationCondition.newly_requested())
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("after_sqp_tables_update")


class SummariesTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition | None:
        return SUMMARY_CONDITION


@dbt_assets(manifest=project.manifest_path, project=project, select=SQP_SUMMARIES_SELECTION, name="sqp_summaries",
            dagster_dbt_translator=SummariesTranslator())
def sqp_summaries(context: dg.AssetExecutionContext, dbt: DbtCliResource, database: DatabaseResource):
    # Tables, not incremental: a summary reads at most a few years of weeks, and a late correction of
    # any week (or a week moving between periods) is simply in the next build.
    yield from stream_dbt(context, dbt, database, ["build"], prepare_marts=False)


def build_schedules() -> list[dg.ScheduleDefinition]:
    schedules = []
    for schedule in refresh_schedules(REGISTRY):
        job = dg.define_asset_job(
            f"{schedule.name}_job", selection=dg.AssetSelection.assets(*(TABLE_KEYS[t] for t in schedule.tables)),
            tags={"dagster/priority": str(schedule.priority)},
            description=f"Refresh of {', '.join(schedule.tables)} (cron {schedule.cron} UTC).")
        schedules.append(dg.ScheduleDefinition(
            name=schedule.name, job=job, cron_schedule=schedule.cron, execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.STOPPED,
            description=f"Refreshes {', '.join(schedule.tables)} from BigQuery at `{schedule.cron}` UTC "
                        f"(run priority {schedule.priority}, the highest of its tables)."))
    return schedules


SCHEDULES = build_schedules()

automation_sensor = dg.AutomationConditionSensorDefinition(
    "bigquery_refresh_automation", target=dg.AssetSelection.groups(GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30, emit_backfills=False,
)

defs = dg.Definitions(
    assets=[bigquery_refresh, sqp_summaries],
    asset_checks=[bigquery_refresh_freshness],
    schedules=SCHEDULES,
    sensors=[automation_sensor],
    resources={"bigquery": bigquery_client_resource},
)
