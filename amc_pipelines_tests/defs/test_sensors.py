"""amc_execution_sensor over real ledger rows and Dagster runs; instance discovery from the sandbox's /amc/instances."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from amc_pipelines.definitions import defs
from amc_pipelines.defs.instances import amc_instances_partitions, sync_amc_instances
from amc_pipelines.defs.resources import DatabaseResource
from amc_pipelines.params import latest_collectable_week

REPORT = "campaign_performance"
BERLIN = "amcberlin00001"


def _evaluate(instance: dg.DagsterInstance, url: str) -> list[dg.RunRequest]:
    repo = defs.get_repository_def()
    context = dg.build_sensor_context(instance=instance, resources={"database": DatabaseResource(url=url)},
                                      repository_def=repo)
    # As the daemon does: the dynamic instance partitions are read from the instance while checking keys.
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        return repo.get_sensor_def("amc_execution_sensor").evaluate_tick(context).run_requests or []


def test_the_execution_sensor_requests_one_run_per_execution_nobody_is_loading(registry_db, clock) -> None:
    registry_db.add(BERLIN, "Europe/Berlin")
    latest = latest_collectable_week(now=clock.now(), timezone="Europe/Berlin", week_start="monday",
                                     data_lag_hours=48)
    finished, running, loaded, ad_hoc, pending = (str(latest - timedelta(weeks=n)) for n in (2, 3, 4, 5, 6))
    record = registry_db.record
    record(REPORT, BERLIN, finished, ["SUBMITTED", "RUNNING", "SUCCEEDED"], amc_execution_id="exec-finished")
    record(REPORT, BERLIN, running, ["SUBMITTED", "RUNNING"], amc_execution_id="exec-running")
    record(REPORT, BERLIN, loaded, ["SUBMITTED", "SUCCEEDED", "LOADED"], amc_execution_id="exec-loaded")
    record(REPORT, BERLIN, ad_hoc, ["SUBMITTED", "SUCCEEDED"], amc_execution_id="exec-ad-hoc",
           params={"campaign_ids": [7]})  # not what an asset run asks: `amc run` owns it
    record(REPORT, BERLIN, pending, ["SUBMITTED", "PENDING"], amc_execution_id="exec-pending")
    asset = dg.AssetKey(["amc", REPORT])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(amc_instances_partitions.name, [BERLIN])
        # The run of the "running" week is still in progress; the "pending" week's run failed.
        for week, status in ((running, dg.DagsterRunStatus.STARTED), (pending, dg.DagsterRunStatus.FAILURE)):
            create_run_for_test(instance, status=status, asset_selection={asset}, tags={
                "dagster/partition/instance": BERLIN, "dagster/partition/week": week})
        requests = _evaluate(instance, registry_db.url)
    by_key = {request.run_key: request for request in requests}
    assert set(by_key) == {f"{REPORT}|{BERLIN}|{finished}|exec-finished", f"{REPORT}|{BERLIN}|{pending}|exec-pending"}
    request = by_key[f"{REPORT}|{BERLIN}|{finished}|exec-finished"]
    assert request.partition_key == dg.MultiPartitionKey({"week": finished, "instance": BERLIN})
    assert request.asset_selection == [asset]


def test_the_instance_sync_registers_the_instances_amc_lists(make_database, make_sandbox, use_env, tmp_path) -> None:
    from amc_pipelines.db import get_engine, upgrade
    from amc_pipelines.registry import list_instances
    from amc_pipelines_tests.ledger.conftest import CREDENTIALS

    url = make_database()
    upgrade(url)
    server = make_sandbox()
    account = server.backend.instances[0].account_id
    expected = sorted(i.instance_id for i in server.backend.instances if i.account_id == account)
    use_env({"AMC_HOME": str(tmp_path), "AMC_DATABASE_URL": url, "AMC_API_URL": server.url,
             "AMC_ACCOUNT_ID": account, **CREDENTIALS})
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"database": DatabaseResource(url=url)})
        result = sync_amc_instances(context)
        assert result.cursor  # when AMC was last asked: not again for 15 minutes
        (request,) = result.dynamic_partitions_requests
        assert sorted(request.partition_keys) == expected
    registered = list_instances(get_engine(url))
    assert sorted(i.instance_id for i in registered) == expected
    assert {i.source for i in registered} == {"discovered"}
    zones = {i.instance_id: i.timezone for i in server.backend.instances}
    assert all(i.timezone == zones[i.instance_id] for i in registered)
