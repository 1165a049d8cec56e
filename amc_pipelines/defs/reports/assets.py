"""One asset per report definition, partitioned by week x AMC instance; each partition runs through the ledger.

A definition is a catalog report (the template) with one client's parameters, instances and
schedule (:mod:`amc_pipelines.catalog.definitions`); a template's implicit definition keeps the
template's name, so ``amc/<template>`` is the template run with its defaults. A definition that
names its instances is partitioned over those instances only. Launched with run config (the UI's
launch dialog shows one typed field per template parameter, the definition's values filled in), a
run with other parameters is ad hoc: its rows sit beside the definition's, keyed by their own
parameters hash, and its materialization says where they are.

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
    from amc_pipelines.catalog.definitions import ReportDefinition
    from amc_pipelines.params import ParameterSpec
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


def definition_partitions(definition: ReportDefinition, shared: dg.MultiPartitionsDefinition) -> dg.MultiPartitionsDefinition:
    """The shared week x instance partitions, or for a definition that names its instances, the same
    weeks x those instances."""
    if definition.instances is None:
        return shared
    weeks = shared.get_partitions_def_for_dimension(WEEK_DIMENSION)
    return dg.MultiPartitionsDefinition({
        WEEK_DIMENSION: weeks, INSTANCE_DIMENSION: dg.StaticPartitionsDefinition(list(definition.instances)),
    })


# Dagster config types of the template parameter types; dates and timestamps as ISO text, decimals as
# text too so that no value passes through a float.
_CONFIG_TYPES: dict[str, object] = {
    "string": str, "integer": int, "decimal": str, "boolean": bool, "date": str, "timestamp": str,
    "array<string>": [str], "array<long>": [int],
}


def _config_value(value: object) -> object:
    if isinstance(value, list):
        return [_config_value(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def parameter_config_schema(definition: ReportDefinition) -> dict[str, dg.Field]:
    """One optional config field per template parameter, defaulting to the definition's value."""
    fields = {}
    for parameter in definition.template.parameters:
        parameter: ParameterSpec
        value = definition.parameters.get(parameter.name)
        description = parameter.description or parameter.name
        if value is None:
            fields[parameter.name] = dg.Field(dg.Noneable(_CONFIG_TYPES[parameter.type.value]), is_required=False,
                                              description=description)
        else:
            fields[parameter.name] = dg.Field(_CONFIG_TYPES[parameter.type.value], is_required=False,
                                              default_value=_config_value(value), description=description)
    return fields


def column_schema(spec: ReportSpec) -> dg.TableSchema:
    """The spec's output columns with their catalog types (amc_pipelines.results maps them to Postgres)."""
    return dg.TableSchema(columns=[
        dg.TableColumn(c.name, c.type, description=c.description or c.kind) for c in spec.output_columns
    ])


def _owners(owner: str) -> list[str]:
    # Dagster takes an email address or team:<name>.
    return [owner] if "@" in owner else [f"team:{re.sub(r'[^A-Za-z0-9_]+', '_', owner)}"]


def build_report_asset(definition: ReportDefinition, partitions: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    """The asset of a definition; ``partitions`` are the shared week x instance partitions."""
    key = report_asset_key(definition.name)
    schema = column_schema(definition.template)
    partitions = definition_partitions(definition, partitions)
    with warnings.catch_warnings():
        # Partitioned check results and backfill_policy are marked preview/beta in Dagster 1.13.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        batch_size = backfill_batch_size()
        if batch_size > 1:
            return _batched_report_asset(definition, key, schema, partitions, batch_size)
        # No backfill policy: a backfill then makes single-partition runs, which carry the
        # dagster/partition/<dimension> tags that the per-instance run limit, the execution sensor and
        # `amc backfill status` key on (multi_run(1) makes one-key ranged runs without them).
        return _report_asset(definition, key, schema, partitions)


def _description(definition: ReportDefinition) -> str:
    import json

    template = definition.template
    head = f"{template.title}\n\n{template.description}" if definition.implicit else (
        f"{definition.description}\n\nReport definition of the template `{template.name}` ({template.title}).")
    instances = ", ".join(definition.instances) if definition.instances else "every enabled instance"
    return (f"{head}\n\nParameters: `{json.dumps(_config_value(definition.parameters))}` "
            f"(hash `{definition.parameters_hash[:12]}`). Instances: {instances}.")


def _asset_metadata(definition: ReportDefinition, schema: dg.TableSchema) -> dict[str, object]:
    template = definition.template
    schedule = definition.schedule
    return {
        "dagster/column_schema": schema,
        "dagster/table_name": f"amc_results.{template.name}",
        "template": template.name,
        "parameters": dg.MetadataValue.json(_config_value(definition.parameters)),
        "parameters_hash": definition.parameters_hash,
        "instances": ", ".join(definition.instances) if definition.instances else "all",
        "report_spec": dg.MetadataValue.path(str(template.source_path)),
        "definition_file": dg.MetadataValue.path(str(definition.source_path)) if definition.source_path else "implicit",
        "schedule": f"{schedule.cron} ({schedule.timezone or 'instance time zone'})",
    }


def _report_asset(definition: ReportDefinition, key: dg.AssetKey, schema: dg.TableSchema,
                  partitions: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=key,
        group_name=GROUP,
        description=_description(definition),
        partitions_def=partitions,
        kinds={"amc", "postgres"},
        owners=_owners(definition.owner),
        pool=AMC_POOL,
        retry_policy=TRANSIENT_RETRY_POLICY,
        check_specs=report_check_specs(key, partitions),
        config_schema=parameter_config_schema(definition),
        metadata=_asset_metadata(definition, schema),
    )
    def report_asset(context, database: DatabaseResource, amc: AmcClientResource) -> dg.MaterializeResult:
        return materialize_partition(context, definition, schema, database, amc)

    return report_asset


def materialize_partition(context: dg.AssetExecutionContext, definition: ReportDefinition, schema: dg.TableSchema,
                          database: DatabaseResource, amc: AmcClientResource) -> dg.MaterializeResult:
    partition = ReportPartition.from_key(definition.name, context.partition_key)
    metadata, check_results = run_partition(context, partition, definition, schema, database, amc,
                                            parameters=dict(context.op_execution_context.op_config or {}))
    return dg.MaterializeResult(metadata=metadata, check_results=check_results)


def run_partition(context: dg.AssetExecutionContext, partition: ReportPartition, definition: ReportDefinition,
                  schema: dg.TableSchema, database: DatabaseResource, amc: AmcClientResource, *,
                  parameters: dict[str, object] | None = None,
                  ) -> tuple[dict[str, object], list[dg.AssetCheckResult]]:
    """Run one week x instance through the ledger; its materialization metadata and check results.
    ``parameters`` (the run config) override the definition's: such a run is ad hoc."""
    # Imported here: every run process loads the code location, only report runs need these.
    from amc_pipelines.backfill import BACKFILL_TAG, paused_message, refuse_if_paused
    from amc_pipelines.result_checks import markdown_table, preview_rows
    from amc_pipelines.results import ResultTableError
    from amc_pipelines.runner import RunFailed, RunInputError, prepare_run, run_report
    from amc_pipelines.settings import get_settings

    instance_id, week = partition.instance_id, partition.week
    spec = definition.template
    settings = get_settings()
    engine = database.get_engine()
    given = {name: value for name, value in (parameters or {}).items() if value is not None}
    try:
        request = prepare_run(engine, settings, report_name=definition.name, instance_id=instance_id, week=week,
                              params=given, definitions={definition.name: definition})
    except RunInputError as err:
        raise dg.Failure(description=f"{definition.name}, instance {instance_id}, week {week}: {err}",
                         allow_retries=False) from None
    if request.ad_hoc:
        context.log.info(f"ad hoc run: parameters {given} differ from the definition's; its rows are kept apart "
                         f"(parameters hash {request.parameters_hash[:12]})")
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
    key = request.result_key
    preview = preview_rows(engine, spec, key, limit=PREVIEW_ROWS)
    context.log.info(f"{definition.name} {instance_id} week {week}: {outcome.rows} rows ({outcome.how}, "
                     f"AMC execution {outcome.amc_execution_id})")
    metadata = outcome_metadata(outcome, schema) | result_location(request) | {
        "preview": dg.MetadataValue.md(markdown_table(spec.column_names, preview)),
    }
    return metadata, evaluate_checks(engine, spec, key, outcome.rows)


def result_location(request) -> dict[str, object]:
    """Where the run's rows are: the table and the filter that selects them (an ad hoc run's are not
    the definition's canonical rows). Every value is an identifier, a hash or a date: nothing to escape."""
    key = request.result_key
    return {
        "definition": request.definition.name,
        "ad_hoc": request.ad_hoc,
        "parameters": dg.MetadataValue.json(_config_value(request.parameters)),
        "parameters_hash": request.parameters_hash,
        "result_table": f"amc_results.{request.report.name}",
        "result_filter": (f"definition = '{key.definition}' AND parameters_hash = "
                          f"'{key.parameters_hash}' AND instance_id = '{key.instance_id}' AND week_start = "
                          f"'{key.week_start.isoformat()}'"),
    }


def _batched_report_asset(definition: ReportDefinition, key: dg.AssetKey, schema: dg.TableSchema,
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
        description=_description(definition),
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=batch_size),
        kinds={"amc", "postgres"},
        owners=_owners(definition.owner),
        pool=AMC_POOL,
        retry_policy=TRANSIENT_RETRY_POLICY,
        output_required=False,
        metadata=_asset_metadata(definition, schema) | {"backfill_batch_size": batch_size},
    )
    def report_asset(context, database: DatabaseResource, amc: AmcClientResource):
        yield from materialize_batch(context, definition, schema, database, amc)

    return report_asset


def materialize_batch(context: dg.AssetExecutionContext, definition: ReportDefinition, schema: dg.TableSchema,
                      database: DatabaseResource, amc: AmcClientResource):
    """Every partition of the run at once, one thread (and AMC client) each. Each week is logged as
    its own materialization when it loads, so a failing week leaves the others materialized (Dagster
    counts a ranged run's logged partitions as done); the step then fails naming the failed weeks."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    partitions = [ReportPartition.from_key(definition.name, key) for key in context.partition_keys]
    failures: dict[str, BaseException] = {}
    with ThreadPoolExecutor(max_workers=len(partitions), thread_name_prefix="amc-partition") as pool:
        futures = {pool.submit(run_partition, context, p, definition, schema, database, amc): p.key for p in partitions}
        for future in as_completed(futures):
            try:
                metadata, _ = future.result()
            except Exception as err:  # noqa: BLE001 - collected, reported together below
                failures[futures[future]] = err
                context.log.error(f"{definition.name} partition {futures[future]} failed: {err}")
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


def build_report_assets(definitions: dict[str, ReportDefinition],
                        partitions: dg.MultiPartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [build_report_asset(definition, partitions) for definition in definitions.values()]
