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
    from amc_pipelines.loading import PartitionKey

SCHEMA_CHECK = "schema_matches_spec"
DUPLICATES_CHECK = "no_duplicate_keys"
ROWS_CHECK = "rows_present_or_privacy_filtered"

PRIVACY_EXPLANATION = (
    "AMC returned no rows for this week. AMC drops every row whose group has fewer distinct users than "
    "its aggregation threshold (privacy filtering), so a small instance, a narrow filter or a quiet week "
    "can remove all rows; the execution itself succeeded."
)


def report_check_specs(key: dg.AssetKey, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(SCHEMA_CHECK, asset=key, partitions_def=partitions_def,
                          description="The Postgres result table has the spec's output columns with the spec's types."),
        dg.AssetCheckSpec(DUPLICATES_CHECK, asset=key, partitions_def=partitions_def,
                          description="No combination of the dimension columns occurs twice in the partition."),
        dg.AssetCheckSpec(ROWS_CHECK, asset=key, partitions_def=partitions_def,
                          description="The partition has rows; none passes with a warning that explains AMC's "
                                      "privacy thresholds."),
    ]


def evaluate_checks(engine: Engine, spec: ReportSpec, key: PartitionKey, rows: int) -> list[dg.AssetCheckResult]:
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
        dg.AssetCheckResult(
            check_name=ROWS_CHECK, passed=True,
            severity=dg.AssetCheckSeverity.WARN if rows == 0 else dg.AssetCheckSeverity.ERROR,
            description=PRIVACY_EXPLANATION if rows == 0 else f"{rows} row(s)",
            metadata={"rows": rows},
        ),
    ]
