"""The report catalog: one YAML spec plus one SQL file per report, validated when loaded.

No Dagster here; the SQL checks import the sandbox's translator (sqlglot, duckdb) only when they run.
"""

from amc_pipelines.catalog.loader import (
    BUILTIN_DIR,
    configured_catalog,
    get_report,
    load_catalog,
    load_report,
)
from amc_pipelines.catalog.models import (
    LOADER_COLUMNS,
    CatalogError,
    OutputColumn,
    PrivacySpec,
    ReportSpec,
    ScheduleSpec,
)

__all__ = [
    "BUILTIN_DIR",
    "LOADER_COLUMNS",
    "CatalogError",
    "OutputColumn",
    "PrivacySpec",
    "ReportSpec",
    "ScheduleSpec",
    "configured_catalog",
    "get_report",
    "load_catalog",
    "load_report",
]
