"""The Dagster code location: wiring only. Each area under ``defs/`` contributes its definitions."""

import dagster as dg

from amc_pipelines.defs import instances, notifications, reports
from amc_pipelines.defs.resources import DatabaseResource

defs = dg.Definitions.merge(
    instances.defs,
    notifications.defs,
    reports.defs,
    dg.Definitions(
        resources={"database": DatabaseResource()},
        # A report run is one step: the in-process executor saves the ~6 s of a step subprocess per
        # run (DESIGN 5). Jobs with many parallel steps can set their own executor.
        executor=dg.in_process_executor,
    ),
)
