"""Keep the dynamic partition set ``amc_instances`` equal to the enabled instances of the registry.

With AMC credentials and ``AMC_ACCOUNT_ID`` configured, the sensor first registers the instances
``GET /amc/instances`` lists (at most every :data:`DISCOVERY_INTERVAL`, tracked in the cursor):
new ones enabled, known ones refreshed, the operator's choices kept (``registry.upsert_discovered``).
A failed discovery is logged and the registry is synced as it stands.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from amc_pipelines import clock
from amc_pipelines.defs.resources import DatabaseResource

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from amc_pipelines.settings import Settings

AMC_INSTANCES_PARTITION_SET = "amc_instances"

amc_instances_partitions = dg.DynamicPartitionsDefinition(name=AMC_INSTANCES_PARTITION_SET)
# AMC's account-level calls are few and slow-changing; every 15 minutes keeps new instances prompt.
DISCOVERY_INTERVAL = timedelta(minutes=15)


@dg.sensor(
    name="amc_instance_sync_sensor",
    description=(
        "Adds a partition to `amc_instances` for every enabled instance in the registry and removes "
        "the partitions of instances that were disabled or removed; with AMC credentials and "
        "AMC_ACCOUNT_ID set, first registers the instances AMC lists for the account."
    ),
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def sync_amc_instances(context: dg.SensorEvaluationContext, database: DatabaseResource) -> dg.SensorResult:
    from amc_pipelines.registry import list_instances

    engine = database.get_engine()
    cursor = discover_instances(context, engine)
    wanted = {inst.instance_id for inst in list_instances(engine, enabled_only=True)}
    present = set(context.instance.get_dynamic_partitions(AMC_INSTANCES_PARTITION_SET))
    to_add = sorted(wanted - present)
    to_delete = sorted(present - wanted)
    requests: list = []
    if to_add:
        requests.append(amc_instances_partitions.build_add_request(to_add))
    if to_delete:
        requests.append(amc_instances_partitions.build_delete_request(to_delete))
    if not requests:
        return dg.SensorResult(skip_reason=f"{len(wanted)} enabled instance(s), partitions already in sync",
                               cursor=cursor)
    context.log.info(f"amc_instances: adding {to_add or 'none'}, removing {to_delete or 'none'}")
    return dg.SensorResult(dynamic_partitions_requests=requests, cursor=cursor)


def discovery_configured(settings: Settings) -> bool:
    return bool(settings.client_id and settings.client_secret and settings.refresh_token and settings.account_id)


def discover_instances(context: dg.SensorEvaluationContext, engine: Engine) -> str | None:
    """Register the instances AMC lists, when configured and due; returns the new cursor (last discovery)."""
    from amc_pipelines.settings import get_settings

    settings = get_settings()
    last = datetime.fromisoformat(context.cursor) if context.cursor else None
    now = clock.now()
    if not discovery_configured(settings) or (last is not None and now - last < DISCOVERY_INTERVAL):
        return context.cursor
    from amc_pipelines.amc import AmcClient
    from amc_pipelines.amc.errors import AmcError
    from amc_pipelines.amc.ratelimit import PostgresRateLimiter
    from amc_pipelines.registry import upsert_discovered
    from amc_pipelines.scheduling import discovered_instance_specs

    try:
        with AmcClient(settings, rate_limiter=PostgresRateLimiter(engine, settings.api_rate_per_second)) as client:
            found = client.list_instances(account_id=settings.account_id)
    except AmcError as err:  # keep syncing the registry; try AMC again next tick
        context.log.warning(f"AMC instance discovery failed for account {settings.account_id}: {err}")
        return context.cursor
    specs, skipped = discovered_instance_specs(found, settings, account_id=settings.account_id)
    for item in skipped:
        context.log.warning(f"discovered instance {item.instance_id} not registered: {item.reason}")
    for spec in specs:
        _, outcome = upsert_discovered(engine, spec)
        if outcome != "unchanged":
            context.log.info(f"discovered instance {spec.instance_id}: {outcome}")
    return now.isoformat()


defs = dg.Definitions(sensors=[sync_amc_instances])
