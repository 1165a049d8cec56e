"""The marts (dbt_project/) as Dagster assets, group ``aggregates``: the dbt side of issue 10.

- ``amc_marts``: every dbt model (staging, intermediate, marts), partitioned by the report assets'
  week dimension (every instance of a week in one partition; mapping from ``amc/<template>``'s week x
  instance by the week). A run builds a range of weeks in one dbt build (single-run backfill policy):
  the weeks go to dbt as ``--vars`` and the incremental marts replace those weeks. They materialize
  on their own once an upstream report partition loads (declarative automation, evaluated by the
  RUNNING ``aggregates_automation`` sensor); dbt tests are asset checks.
- ``amc_marts_reference``: the dbt seeds (marketplaces and currencies), unpartitioned, built once
  when missing and whenever launched; the models read them but are not triggered by them.

Domain logic lives in :mod:`amc_pipelines.marts`; this module only wires it.
"""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from amc_pipelines.defs.reports import catalog, partitions
from amc_pipelines.defs.resources import DatabaseResource
from amc_pipelines.marts import (
    DBT_PROJECT_DIR,
    MART_INPUTS,
    SQP_SUMMARIES_SELECTION,
    check_mart_inputs,
    dbt_executable,
    ensure_manifest,
)
from amc_pipelines.partitions import WEEK_DIMENSION

GROUP = "aggregates"
SEEDS = "resource_type:seed"
# The marts: every model but the SQP summaries, which are unpartitioned, follow the BigQuery refresh's
# tables and are wired in defs/bigquery_refresh.
MARTS_EXCLUDE = f"{SEEDS} {SQP_SUMMARIES_SELECTION}"

check_mart_inputs(catalog)  # a catalog the marts cannot read fails the code location, naming report and column
project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
ensure_manifest()

# Every model follows the report partitions the marts read: once a partition (any instance) of one
# of those reports has loaded in a week since that week of the models was last requested, no
# partition of that week of those reports is loading, and the seeds are built, the week of every
# model is requested together, also the models that read no report table directly (staging of the
# registry and the ledger, the currency join). A report missing for some instance does not hold the
# week back: the marts show what is loaded (the ledger says which weeks) and a later load rebuilds it.
# Handled = requested, not built: a load that lands while the week's build runs is built again after.
# Why not eager(): it acts on the latest week only (backfilled weeks need marts too), and its
# direct-dependency conditions never request those models, which then block everything downstream
# of them as missing. The seeds (unpartitioned) trigger nothing.
_REPORT_KEYS = [dg.AssetKey(["amc", need.template]) for need in MART_INPUTS]
SEED_KEYS = [dg.AssetKey(["marts", "marketplaces"])]
WEEKS = partitions.get_partitions_def_for_dimension(WEEK_DIMENSION)


def _any(keys: list[dg.AssetKey], condition: dg.AutomationCondition) -> dg.AutomationCondition:
    matches = [dg.AutomationCondition.asset_matches(key, condition) for key in keys]
    result = matches[0]
    for match in matches[1:]:
        result = result | match
    return result


MARTS_CONDITION = (
    _any(_REPORT_KEYS, dg.AutomationCondition.newly_updated()).since(dg.AutomationCondition.newly_requested())
    & ~_any(_REPORT_KEYS, dg.AutomationCondition.in_progress())
    & ~_any(SEED_KEYS, dg.AutomationCondition.missing() | dg.AutomationCondition.in_progress())
    & ~dg.AutomationCondition.in_progress()
).with_label("after_report_partition_loads")


# The seeds: built whenever missing, once at a time, not again after a failed build (launch it by
# hand once fixed). eager() and on_missing() never act on what was already missing when the sensor
# first evaluated, and on a fresh deployment the seeds are exactly that.
SEED_CONDITION = (
    dg.AutomationCondition.missing() & ~dg.AutomationCondition.in_progress() & ~dg.AutomationCondition.execution_failed()
).with_label("seed_missing")


class MartsTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition | None:
        if dbt_resource_props["resource_type"] == "seed":
            return SEED_CONDITION
        return MARTS_CONDITION

    def get_partition_mapping(self, dbt_resource_props: Mapping[str, Any],
                              dbt_parent_resource_props: Mapping[str, Any]) -> dg.PartitionMapping | None:
        # A week of the marts reads every instance's partition of that week of a report.
        if dbt_parent_resource_props.get("resource_type") == "source" and \
                dbt_parent_resource_props.get("source_name") == "amc_results":
            return dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name=WEEK_DIMENSION)
        return None


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    """DbtCliResource passes this process's environment to dbt: set the profile's variables around the call."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def stream_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, database: DatabaseResource,
               args: list[str], *, prepare_marts: bool = True) -> Iterator[Any]:
    """A dbt command of a @dbt_assets run: one build at a time on the database, artifacts under
    AMC_HOME/dbt/runs. ``prepare_marts``: first make the database ready for the marts (result tables,
    report definitions, currencies); the SQP summaries (defs/bigquery_refresh) read none of that."""
    from amc_pipelines.catalog.definitions import load_definitions
    from amc_pipelines.marts import (
        MartsError,
        build_lock,
        dbt_environment,
        prepare_database,
        prune_target_dirs,
    )
    from amc_pipelines.settings import get_settings

    settings = get_settings()
    engine = database.get_engine()
    runs_dir = settings.home / "dbt" / "runs"
    target = runs_dir / f"{context.run.run_id[:8]}-{context.op_execution_context.op.name}"
    env = dbt_environment(database.resolved_url(), target_dir=target)
    # A subset (one seed, one model, checks only) must not pull in a test whose other parent is not built.
    env["DBT_INDIRECT_SELECTION"] = "cautious"
    with build_lock(engine):
        if prepare_marts:
            try:
                prepare_database(engine, catalog, load_definitions(catalog, settings.catalog_dir))
            except MartsError as err:
                raise dg.Failure(str(err), allow_retries=False) from None
        with _environ(env):
            yield from dbt.cli(args, context=context, target_path=target).stream()
    prune_target_dirs(runs_dir)


@dbt_assets(manifest=project.manifest_path, project=project, select=SEEDS, name="amc_marts_reference",
            dagster_dbt_translator=MartsTranslator())
def amc_marts_reference(context: dg.AssetExecutionContext, dbt: DbtCliResource, database: DatabaseResource):
    yield from stream_dbt(context, dbt, database, ["build"])


# dbt replaces the staging views on several threads; Postgres can then end one replacement as a
# deadlock (on pg_rewrite, seen in `make demo`). The build is idempotent, so build again: otherwise
# the week stays stale until its next load, since the automation handled it when it requested it.
MARTS_RETRY = dg.RetryPolicy(max_retries=2, delay=5)


# Single run: a backfill or an automation request of many weeks is one dbt build (one run per
# contiguous range of weeks), not one run and one dbt start-up per week. No pool, no instance tag:
# a marts run does not take an AMC run slot.
@dbt_assets(manifest=project.manifest_path, project=project, exclude=MARTS_EXCLUDE, name="amc_marts",
            partitions_def=WEEKS, backfill_policy=dg.BackfillPolicy.single_run(),
            dagster_dbt_translator=MartsTranslator(), retry_policy=MARTS_RETRY)
def amc_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource, database: DatabaseResource):
    from datetime import date

    from amc_pipelines.marts import partition_vars

    weeks = [date.fromisoformat(key) for key in context.partition_keys]
    yield from stream_dbt(context, dbt, database, ["build", "--vars", partition_vars(weeks)])


# Runs, not backfills: the sensor's requests become runs (one per contiguous range of weeks, the
# backfill policy above); backfills are what people launch (`amc backfill`, the UI), and their list
# stays theirs.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "aggregates_automation", target=dg.AssetSelection.groups(GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30, emit_backfills=False,
)

defs = dg.Definitions(
    assets=[amc_marts_reference, amc_marts],
    sensors=[automation_sensor],
    resources={"dbt": DbtCliResource(project_dir=project, profiles_dir=str(DBT_PROJECT_DIR),
                                     dbt_executable=dbt_executable())},
)
