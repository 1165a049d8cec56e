"""The Dagster code location: wiring only. Each area under ``defs/`` contributes its definitions."""

import dagster as dg

from amc_pipelines.defs import aggregates, bigquery_refresh, instances, notifications, reports
from amc_pipelines.defs.resources import DatabaseResource

defs = dg.Definitions.merge(
    instances.defs,
    notifications.defs,
    reports.defs,
    aggregates.defs,
    bigquery_refresh.defs,
    dg.Definitions(
        resources={"database": DatabaseResource()},
        # A report run is one step: the in-process executor spares each run a step subprocess that
        # would import Dagster and load the code location once more (docs/benchmarks.md). Jobs with
        # many parallel steps can set their own executor.
        executor=dg.in_process_executor,
    ),
)
