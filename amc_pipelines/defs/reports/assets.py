"""One asset per catalog report, partitioned by week x AMC instance; each partition runs through the ledger.

Design (issue 4, item 2): one run per partition (no backfill policy, so every run carries its
partition tags). Each week x instance then has its own run, status, retries, checks and logs in the
UI; a failing week fails only its run; one run holds one AMC execution, so the per-instance run
limit on the tag ``dagster/partition/instance`` (``dagster_home.py``: AMC's running executions plus
those allowed to wait in AMC's queue) bounds what each instance has at AMC. The alternative, batched
runs that submit several weeks and wait for all, saves a run process per week but lets one week's
failure and the slowest execution hold the whole batch, and gives up per-week checks and the
per-instance limit; ``benchmarks/backfill.py`` measured both (docs/benchmarks.md) and this design
stays. For that benchmark, ``AMC_BACKFILL_BATCH_SIZE=N`` (read when the definitions load; default 1,
this design) builds the assets with ``multi_run(N)`` instead: a backfill run then covers up to N
weeks of one instance and keeps their N AMC executions in flight at once (:func:`materialize_batch`).

Errors: a user error (week not collectable yet, out of retention, disabled or unknown instance,
bad parameter), an AMC REJECTED query, an execution AMC keeps failing, and a result table that
no longer fits the spec fail the partition at once (``dg.Failure(allow_retries=False)``) with the
message that says what to fix. Everything else (AMC 5xx or throttling that outlasted the client's
own retries, network, database) is retried by the step's retry policy; the ledger makes a retry
reattach to the same AMC execution instead of submitting another.
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING

import dagster as dg

from amc_pipelines.dagster_home import AMC_POOL
from amc_pipelines.defs.reports.checks import evaluate_checks, report_check_specs
from amc_pipelines.defs.resources import AmcClientResource, DatabaseResource
from amc_pipelines.partitions import INSTANCE_DIMENSION, WEEK_DIMENSION, ReportPartition

if TYPE_CHECKING:
    from amc_pipelines.catalog import ReportSpec
    from amc_pipelines.runner import RunOutcome
    from amc_pipelines.settings import Settings

GROUP = "amc_reports"
PREVIEW_ROWS = 10

TRANSIENT_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)




def backfill_batch_size() -> int:
    """Partitions per backfill run (``AMC_BACKFILL_BATCH_SIZE``): 1, or N > 1 for batched runs."""
    from amc_pipelines.settings import get_settings

    return get_settings().backfill_batch_size


def report_asset_key(report_name: str) -> dg.AssetKey:
    return dg.AssetKey(["amc", report_name])


def report_partitions(settings: Settings) -> dg.MultiPartitionsDefinition:
    """week (calendar weeks from the oldest retained one, starting on AMC_WEEK_START) x instance."""
    from amc_pipelines.defs.instances import amc_instances_partitions
    from amc_pipelines.scheduling import partition_weeks_start, week_day_offset

    weeks = dg.WeeklyPartitionsDefinition(
        start_date=partition_weeks_start(settings).isoformat(), day_offset=week_day_offset(settings.week_start),
        end_offset=0,
    )
    return dg.MultiPartitionsDefinition({WEEK_DIMENSION: weeks, INSTANCE_DIMENSION: amc_instances_partitions})


def column_schema(spec: ReportSpec) -> dg.TableSchema:
    """The spec's output columns with their catalog types (amc_pipelines.results maps them to Postgres)."""
    return dg.TableSchema(columns=[
        dg.TableColumn(c.name, c.type, description=c.description or c.kind) for c in spec.output_columns
    ])


def _owners(owner: str) -> list[str]:
    # Dagster takes an email address or team:<name>.
    return [owner] if "@" in owner else [f"team:{re.sub(r'[^A-Za-z0-9_]+', '_', owner)}"]


def build_report_asset(spec: ReportSpec, partitions: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    key = report_asset_key(spec.name)
    schema = column_schema(spec)
    with warnings.catch_warnings():
        # Partitioned check results and backfill_policy are marked preview/beta in Dagster 1.13.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        batch_size = backfill_batch_size()
        if batch_size > 1:
            return _batched_report_asset(spec, key, schema, partitions, batch_size)
        # No backfill policy: a backfill then makes single-partition runs, which carry the
        # dagster/partition/<dimension> tags that the per-instance run limit, the execution sensor and
        # `amc backfill status` key on (multi_run(1) makes one-key ranged runs without them).
        policy = None
        return _report_asset(spec, key, schema, partitions, policy)


def _report_asset(spec: ReportSpec, key: dg.AssetKey, schema: dg.TableSchema,
                  partitions: dg.MultiPartitionsDefinition, policy: dg.BackfillPolicy | None) -> dg.AssetsDefinition:
    @dg.asset(
        key=key,
        group_name=GROUP,
        description=f"{spec.title}\n\n{spec.description}",
        partitions_def=partitions,
        backfill_policy=policy,
        kinds={"amc", "postgres"},
        owners=_owners(spec.owner),
        pool=AMC_POOL,
        retry_policy=TRANSIENT_RETRY_POLICY,
        check_specs=report_check_specs(key, partitions),
        metadata={
            "dagster/column_schema": schema,
            "dagster/table_name": f"amc_results.{spec.name}",
            "report_spec": dg.MetadataValue.path(str(spec.source_path)),
            "schedule": f"{spec.schedule.cron} ({spec.schedule.timezone or 'instance time zone'})",
        },
    )
    def report_asset(context, database: DatabaseResource, amc: AmcClientResource) -> dg.MaterializeResult:
        return materialize_partition(context, spec, schema, database, amc)

    return report_asset


def materialize_partition(context: dg.AssetExecutionContext, spec: ReportSpec, schema: dg.TableSchema,
                          database: DatabaseResource, amc: AmcClientResource) -> dg.MaterializeResult:
    partition = ReportPartition.from_key(spec.name, context.partition_key)
    metadata, check_results = run_partition(context, partition, spec, schema, database, amc)
    return dg.MaterializeResult(metadata=metadata, check_results=check_results)


def run_partition(context: dg.AssetExecutionContext, partition: ReportPartition, spec: ReportSpec,
                  schema: dg.TableSchema, database: DatabaseResource, amc: AmcClientResource,
                  ) -> tuple[dict[str, object], list[dg.AssetCheckResult]]:
    """Run one week x instance through the ledger; its materialization metadata and check results."""
    # Imported here: every run process loads the code location, only report runs need these.
    from amc_pipelines.backfill import BACKFILL_TAG, paused_message, refuse_if_paused
    from amc_pipelines.result_checks import markdown_table, preview_rows
    from amc_pipelines.results import ResultTableError
    from amc_pipelines.runner import RunFailed, RunInputError, prepare_run, run_report
    from amc_pipelines.settings import get_settings

    instance_id, week = partition.instance_id, partition.week
    settings = get_settings()
    engine = database.get_engine()
    try:
        request = prepare_run(engine, settings, report_name=spec.name, instance_id=instance_id, week=week,
                              params={}, catalog={spec.name: spec})
    except RunInputError as err:
        raise dg.Failure(description=f"{spec.name}, instance {instance_id}, week {week}: {err}",
                         allow_retries=False) from None
    backfill_id = context.run.tags.get(BACKFILL_TAG)
    if backfill_id and refuse_if_paused(engine, backfill_id, partition=partition, execution_key=request.key):
        raise dg.Failure(description=paused_message(backfill_id), allow_retries=False)
    with amc.open_client(engine) as client:
        try:
            outcome = run_report(engine, settings, client, request, progress=context.log.info)
        except RunFailed as err:  # REJECTED, or FAILED after the runner's own resubmissions
            raise dg.Failure(
                description=str(err), allow_retries=False,
                metadata={"amc_execution_id": err.amc_execution_id or "", "amc_status": err.status or "",
                          "ledger_id": err.ledger_id if err.ledger_id is not None else -1},
            ) from None
        except ResultTableError as err:
            raise dg.Failure(description=str(err), allow_retries=False) from None
    preview = preview_rows(engine, spec, partition.result_key, limit=PREVIEW_ROWS)
    context.log.info(f"{spec.name} {instance_id} week {week}: {outcome.rows} rows ({outcome.how}, "
                     f"AMC execution {outcome.amc_execution_id})")
    metadata = outcome_metadata(outcome, schema) | {
        "preview": dg.MetadataValue.md(markdown_table(spec.column_names, preview)),
    }
    return metadata, evaluate_checks(engine, spec, partition.result_key, outcome.rows)


def _batched_report_asset(spec: ReportSpec, key: dg.AssetKey, schema: dg.TableSchema,
                          partitions: dg.MultiPartitionsDefinition, batch_size: int) -> dg.AssetsDefinition:
    """The batched design, for the benchmark. Dagster 1.13 splits a multi-partition backfill into
    ranges along one dimension with the other held constant, so a run gets up to ``batch_size``
    weeks of one instance. Such a ranged run carries no ``dagster/partition/instance`` tag, so the
    per-instance run limit does not apply: AMC queues what exceeds its 10 running executions. No
    check specs: a partitioned check result takes its partition from the step's single partition
    key, which a ranged step does not have."""

    @dg.asset(
        key=key,
        group_name=GROUP,
        description=f"{spec.title}\n\n{spec.description}",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=batch_size),
        kinds={"amc", "postgres"},
        owners=_owners(spec.owner),
        pool=AMC_POOL,
        retry_policy=TRANSIENT_RETRY_POLICY,
        output_required=False,
        metadata={
            "dagster/column_schema": schema,
            "dagster/table_name": f"amc_results.{spec.name}",
            "report_spec": dg.MetadataValue.path(str(spec.source_path)),
            "backfill_batch_size": batch_size,
        },
    )
    def report_asset(context, database: DatabaseResource, amc: AmcClientResource):
        yield from materialize_batch(context, spec, schema, database, amc)

    return report_asset


def materialize_batch(context: dg.AssetExecutionContext, spec: ReportSpec, schema: dg.TableSchema,
                      database: DatabaseResource, amc: AmcClientResource):
    """Every partition of the run at once, one thread (and AMC client) each. Each week is logged as
    its own materialization when it loads, so a failing week leaves the others materialized (Dagster
    counts a ranged run's logged partitions as done); the step then fails naming the failed weeks."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    partitions = [ReportPartition.from_key(spec.name, key) for key in context.partition_keys]
    failures: dict[str, BaseException] = {}
    with ThreadPoolExecutor(max_workers=len(partitions), thread_name_prefix="amc-partition") as pool:
        futures = {pool.submit(run_partition, context, p, spec, schema, database, amc): p.key for p in partitions}
        for future in as_completed(futures):
            try:
                metadata, _ = future.result()
            except Exception as err:  # noqa: BLE001 - collected, reported together below
                failures[futures[future]] = err
                context.log.error(f"{spec.name} partition {futures[future]} failed: {err}")
                continue
            context.log_event(dg.AssetMaterialization(asset_key=context.asset_key, partition=futures[future],
                                                      metadata=metadata))
    if failures:
        permanent = all(isinstance(e, dg.Failure) and not e.allow_retries for e in failures.values())
        raise dg.Failure(description=f"{len(failures)} of {len(partitions)} partitions failed: "
                                     + "; ".join(f"{k}: {e}" for k, e in sorted(failures.items())),
                         allow_retries=not permanent)
    yield from ()  # no output: each partition was logged above


def outcome_metadata(outcome: RunOutcome, schema: dg.TableSchema) -> dict[str, object]:
    return {
        "amc_execution_id": outcome.amc_execution_id or "",
        "workflow_id": outcome.workflow_id,
        "window": str(outcome.window),
        "rows": outcome.rows,
        "dagster/row_count": outcome.rows,
        "checksum": outcome.checksum or "",
        "provisional": outcome.provisional,
        "files": outcome.files,
        "api_calls": outcome.api_calls,
        "how": outcome.how,  # reused, reattached or submitted
        "reused": outcome.reused,
        "reattached": outcome.reattached,
        "submitted": outcome.submitted,
        "ledger_id": outcome.ledger_id if outcome.ledger_id is not None else -1,
        "dagster/column_schema": schema,
    }


def build_report_assets(catalog: dict[str, ReportSpec], partitions: dg.MultiPartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [build_report_asset(spec, partitions) for spec in catalog.values()]
