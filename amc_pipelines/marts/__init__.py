"""The marts (issue 10): the dbt project at the repository root and what runs before it. No Dagster here.

``dbt_project/`` turns the result tables into weekly marts (sources -> staging -> intermediate ->
marts). Before any dbt run that reads the database, :func:`prepare_database` (called by the Dagster
dbt assets and by ``amc dbt``) makes the database ready for it:

- :func:`check_mart_inputs`: the templates the marts read have the output columns and metric roles
  the staging models select; a missing role fails naming report and column;
- every such template's result table exists (created empty from its spec by the loader's own
  :func:`amc_pipelines.results.ensure_result_table` when no week has been loaded yet);
- :func:`sync_report_definitions`: ``amc.report_definitions`` holds the catalog's definitions with
  their current parameters hashes, so the SQL reads a template's own definition and nothing else;
- :func:`check_currencies`: every instance with loaded weeks has a marketplace the seed knows, so
  every row has a currency.

:func:`dbt_environment` turns the project's database URL into the ``DBT_AMC_*`` variables that
``dbt_project/profiles.yml`` reads.
"""

from amc_pipelines.marts.dbt import (
    DATABASE_COMMANDS,
    DBT_PROJECT_DIR,
    MANIFEST_PATH,
    SQP_SUMMARIES_SELECTION,
    dbt_environment,
    dbt_executable,
    ensure_manifest,
    partition_vars,
    prune_target_dirs,
    run_dbt,
)
from amc_pipelines.marts.prepare import (
    MART_INPUTS,
    MartInput,
    MartsError,
    build_lock,
    check_currencies,
    check_mart_inputs,
    marketplace_currencies,
    prepare_database,
    sync_report_definitions,
)

__all__ = [
    "DATABASE_COMMANDS",
    "DBT_PROJECT_DIR",
    "MANIFEST_PATH",
    "MART_INPUTS",
    "MartInput",
    "MartsError",
    "SQP_SUMMARIES_SELECTION",
    "build_lock",
    "check_currencies",
    "check_mart_inputs",
    "dbt_environment",
    "dbt_executable",
    "ensure_manifest",
    "marketplace_currencies",
    "partition_vars",
    "prepare_database",
    "prune_target_dirs",
    "run_dbt",
    "sync_report_definitions",
]
