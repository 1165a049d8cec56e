"""Report assets (one per report definition, week x instance), their checks, schedules and sensors.

The catalog is loaded without the SQL checks (sqlglot, duckdb) to keep the code location light:
every run process loads it. ``amc reports validate`` and the catalog tests check the SQL; a query
AMC refuses fails its partition at once with AMC's reason. The instances a definition names are
checked against the registry by every run (the code location does not read the database).
"""

import dagster as dg

from amc_pipelines.catalog import load_catalog
from amc_pipelines.catalog.definitions import load_definitions
from amc_pipelines.defs.reports.assets import build_report_assets, report_asset_key, report_partitions
from amc_pipelines.defs.reports.schedules import build_report_schedule, build_settle_schedule
from amc_pipelines.defs.reports.sensors import build_execution_sensor
from amc_pipelines.defs.resources import AmcClientResource
from amc_pipelines.settings import get_settings

_settings = get_settings()
catalog = load_catalog(_settings.catalog_dir, check_sql=False)
definitions = load_definitions(catalog, _settings.catalog_dir)
partitions = report_partitions(_settings)

defs = dg.Definitions(
    assets=build_report_assets(definitions, partitions),
    schedules=[*(build_report_schedule(d) for d in definitions.values()), build_settle_schedule(definitions)],
    sensors=[build_execution_sensor(definitions)],
    resources={"amc": AmcClientResource()},
)

__all__ = ["catalog", "definitions", "defs", "partitions", "report_asset_key"]
