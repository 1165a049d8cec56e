"""Keep the dynamic partition set ``amc_instances`` equal to the enabled instances of the registry."""

from __future__ import annotations

import dagster as dg

from amc_pipelines.defs.resources import DatabaseResource

AMC_INSTANCES_PARTITION_SET = "amc_instances"

amc_instances_partitions = dg.DynamicPartitionsDefinition(name=AMC_INSTANCES_PARTITION_SET)


@dg.sensor(
    name="amc_instance_sync_sensor",
    description=(
        "Adds a partition to `amc_instances` for every enabled instance in the registry and removes "
        "the partitions of instances that were disabled or removed."
    ),
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def sync_amc_instances(context: dg.SensorEvaluationContext, database: DatabaseResource) -> dg.SensorResult:
    from amc_pipelines.registry import list_instances

    wanted = {inst.instance_id for inst in list_instances(database.get_engine(), enabled_only=True)}
    present = set(context.instance.get_dynamic_partitions(AMC_INSTANCES_PARTITION_SET))
    to_add = sorted(wanted - present)
    to_delete = sorted(present - wanted)
    requests: list = []
    if to_add:
        requests.append(amc_instances_partitions.build_add_request(to_add))
    if to_delete:
        requests.append(amc_instances_partitions.build_delete_request(to_delete))
    if not requests:
        return dg.SensorResult(skip_reason=f"{len(wanted)} enabled instance(s), partitions already in sync")
    context.log.info(f"amc_instances: adding {to_add or 'none'}, removing {to_delete or 'none'}")
    return dg.SensorResult(dynamic_partitions_requests=requests)


defs = dg.Definitions(sensors=[sync_amc_instances])
