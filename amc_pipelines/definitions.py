"""The Dagster code location: wiring only. Each area under ``defs/`` contributes its definitions."""

import dagster as dg

from amc_pipelines.defs import instances, notifications
from amc_pipelines.defs.resources import DatabaseResource

defs = dg.Definitions.merge(
    instances.defs,
    notifications.defs,
    dg.Definitions(resources={"database": DatabaseResource()}),
)
