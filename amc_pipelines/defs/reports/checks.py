"""Asset checks of every report partition, evaluated in the partition's own run.

They are check specs of the report asset rather than separate check steps: a run holds one step,
so checking costs no extra step start-up, and every week x instance partition gets its own result.
The queries are in :mod:`amc_pipelines.result_checks`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from amc_pipelines.catalog import ReportSpec
    from amc_pipelines.partitions import ResultKey

SCHEMA_CHECK = "schema_matches_spec"
DUPLICATES_CHECK = "no_duplicate_keys"
ROWS_CHECK = "rows_present_or_privacy_filtered"

EMPTY_UNEXPLAINED = (
    "AMC returned no rows for this week and nothing says why. AMC drops rows under their aggregation "
    "threshold without a trace (privacy.behavior REMOVE_ROWS), so this may be privacy filtering, a filter "
    "that matches nothing or a week without traffic. To tell them apart, give the report "
    "privacy.behavior: REMOVE_VALUES with a privacy.discriminator_column: AMC then keeps filtered rows, "
    "flagged, with their values removed."
)
PRIVACY_EXPLANATION = (
    "Every row of this week is under AMC's aggregation threshold (flagged in {column}): AMC kept the rows "
    "with their values removed. A small instance, a narrow filter or a quiet week can do this; the "
    "execution itself succeeded."
)


def report_check_specs(key: dg.AssetKey, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(SCHEMA_CHECK, asset=key, partitions_def=partitions_def,
                          description="The Postgres result table has the spec's output columns with the spec's types."),
        dg.AssetCheckSpec(DUPLICATES_CHECK, asset=key, partitions_def=partitions_def,
                          description="No combination of the dimension columns occurs twice in the partition."),
        dg.AssetCheckSpec(ROWS_CHECK, asset=key, partitions_def=partitions_def,
                          description="The partition has rows. Rows that are all under AMC's privacy threshold "
                                      "pass with a warning; no rows at all, which AMC does not explain, fail "
                                      "with a warning."),
    ]


def evaluate_checks(engine: Engine, spec: ReportSpec, key: ResultKey, rows: int) -> list[dg.AssetCheckResult]:
    from amc_pipelines.result_checks import duplicate_keys, schema_differences

    differences = schema_differences(engine, spec)
    duplicates = duplicate_keys(engine, spec, key)
    dimensions = [c.name for c in spec.dimension_columns]
    return [
        dg.AssetCheckResult(
            check_name=SCHEMA_CHECK, passed=not differences,
            description="; ".join(differences) or f"amc_results.{spec.name} matches the spec",
            metadata={"differences": len(differences)},
        ),
        dg.AssetCheckResult(
            check_name=DUPLICATES_CHECK, passed=duplicates.groups == 0,
            description=(f"{duplicates.groups} duplicated key(s) over ({', '.join(dimensions) or 'no dimensions'})"
                         if duplicates.groups else "every dimension combination is unique"),
            metadata={"duplicate_keys": duplicates.groups, "key_columns": ", ".join(dimensions),
                      "examples": dg.MetadataValue.json(duplicates.examples)},
        ),
        rows_check(engine, spec, key, rows),
    ]


def rows_check(engine: Engine, spec: ReportSpec, key: ResultKey, rows: int) -> dg.AssetCheckResult:
    """Rows present: passed. Every row privacy-filtered: passed with a warning that says so. No rows: failed
    with a warning, since AMC gives no reason for an empty result (a warning: it blocks nothing downstream)."""
    from amc_pipelines.result_checks import privacy_filtered_rows

    filtered = privacy_filtered_rows(engine, spec, key) if rows else None
    metadata = {"rows": rows, "privacy_filtered_rows": filtered if filtered is not None else "not reported"}
    if rows == 0:
        return dg.AssetCheckResult(check_name=ROWS_CHECK, passed=False, severity=dg.AssetCheckSeverity.WARN,
                                   description=EMPTY_UNEXPLAINED, metadata=metadata)
    if filtered == rows:
        return dg.AssetCheckResult(
            check_name=ROWS_CHECK, passed=True, severity=dg.AssetCheckSeverity.WARN,
            description=PRIVACY_EXPLANATION.format(column=spec.privacy.discriminator_column), metadata=metadata)
    described = f"{rows} row(s)" + (f", {filtered} of them under AMC's privacy threshold" if filtered else "")
    return dg.AssetCheckResult(check_name=ROWS_CHECK, passed=True, description=described, metadata=metadata)
