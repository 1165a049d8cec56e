"""``amc_execution_sensor``: load what AMC ran for a partition whose run died.

A run records its AMC execution in the ledger before waiting for it. If the run process dies (OOM,
node lost, cancelled, retries exhausted on a network error) the row stays SUBMITTED / PENDING /
RUNNING / SUCCEEDED and nothing loads the result, although AMC keeps running (and billing) it. For
each such row with no queued or running Dagster run on its partition, the sensor requests one run
of that partition; the run reattaches to the execution (no new AMC execution) and loads it. The run
key ``<report>|<instance>|<week>|<AMC execution id>`` gives each execution one rescue run at most:
if that run fails too, the failure is a person's to look at (the webhook reports it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from amc_pipelines.defs.reports.assets import report_asset_key
from amc_pipelines.defs.reports.schedules import has_instance, known_instances, partition_in_progress
from amc_pipelines.defs.resources import DatabaseResource

if TYPE_CHECKING:
    from amc_pipelines.catalog.definitions import ReportDefinition


def build_execution_sensor(definitions: dict[str, ReportDefinition]) -> dg.SensorDefinition:
    @dg.sensor(
        name="amc_execution_sensor",
        target=[report_asset_key(name) for name in definitions],
        minimum_interval_seconds=120,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=("Requests a run for every partition whose AMC execution was submitted or finished but "
                     "never loaded because its run died; the run reattaches to the execution and loads it."),
    )
    def amc_execution_sensor(context: dg.SensorEvaluationContext, database: DatabaseResource):
        from amc_pipelines.scheduling import partition_weeks_start, unfinished_executions
        from amc_pipelines.settings import get_settings

        settings = get_settings()
        first_week = partition_weeks_start(settings)
        synced = known_instances(context.instance)
        requests = []
        for found in unfinished_executions(database.get_engine(), definitions, settings):
            partition = found.partition
            if not has_instance(definitions[partition.report], partition.instance_id, synced) \
                    or partition.week < first_week:
                continue
            if partition_in_progress(context.instance, partition):
                continue  # its run is still working on it
            context.log.info(f"{partition.run_key}: AMC execution {found.amc_execution_id} is {found.status} "
                             f"in the ledger (#{found.ledger_id}) and no run is loading it")
            requests.append(dg.RunRequest(
                run_key=f"{partition.run_key}|{found.amc_execution_id}",
                partition_key=partition.dagster_key(),
                asset_selection=[report_asset_key(partition.report)],
                tags={"amc/rescued_execution": found.amc_execution_id},
            ))
        return requests or dg.SkipReason("every AMC execution in the ledger is loaded or has a run")

    return amc_execution_sensor
