"""The code location loads, validates with the dagster CLI, and its instance sensor syncs partitions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from amc_pipelines.db import get_engine, upgrade
from amc_pipelines.defs.instances import amc_instances_partitions, sync_amc_instances
from amc_pipelines.defs.resources import DatabaseResource
from amc_pipelines.registry import InstanceSpec, add_instance, disable_instance, remove_instance

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load() -> None:
    from amc_pipelines.definitions import defs

    repo = defs.get_repository_def()
    assert repo.has_sensor_def("amc_instance_sync_sensor")
    assert "database" in repo.get_top_level_resources()


def test_dagster_definitions_validate(tmp_path: Path, database_url: str) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "AMC_HOME": str(tmp_path / "amc"), "AMC_DATABASE_URL": database_url}
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


def _spec(instance_id: str) -> InstanceSpec:
    return InstanceSpec.parse(
        instance_id=instance_id, name=f"Brand {instance_id[-2:]}", account_id="ENTITY1A2B3C4D5E",
        marketplace_id="ATVPDKIKX0DER", region="NA", timezone="America/New_York",
    )


def _evaluate(instance: dg.DagsterInstance, database: DatabaseResource) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, resources={"database": database})
    result = sync_amc_instances(context)
    # Apply the requests the way the daemon does, so the next tick sees them.
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
    return result


def test_instance_sensor_keeps_partitions_equal_to_enabled_instances(make_database) -> None:
    url = make_database()
    upgrade(url)
    engine = get_engine(url)
    for instance_id in ("amcaaaa000001", "amcaaaa000002", "amcaaaa000003"):
        add_instance(engine, _spec(instance_id))
    disable_instance(engine, "amcaaaa000003")
    database = DatabaseResource(url=url)

    with dg.instance_for_test() as instance:
        partition_set = amc_instances_partitions.name
        first = _evaluate(instance, database)
        assert len(first.dynamic_partitions_requests) == 1
        assert sorted(instance.get_dynamic_partitions(partition_set)) == ["amcaaaa000001", "amcaaaa000002"]

        # Nothing changed: the sensor skips and requests nothing.
        second = _evaluate(instance, database)
        assert not second.dynamic_partitions_requests
        assert second.skip_reason is not None

        # A removed instance loses its partition; a re-enabled one comes back.
        remove_instance(engine, "amcaaaa000001")
        from amc_pipelines.registry import enable_instance

        enable_instance(engine, "amcaaaa000003")
        _evaluate(instance, database)
        assert sorted(instance.get_dynamic_partitions(partition_set)) == ["amcaaaa000002", "amcaaaa000003"]


@pytest.mark.parametrize("bad_url", ["mysql://root@localhost/amc"])
def test_database_resource_rejects_non_postgres_url(bad_url: str) -> None:
    with pytest.raises(Exception, match="PostgreSQL"):
        DatabaseResource(url=bad_url).get_engine()
