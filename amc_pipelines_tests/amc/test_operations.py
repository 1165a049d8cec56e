"""The client against the sandbox over HTTP: tokens, headers, every operation, paging, polling."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from amc_pipelines.amc import (
    AmcAuthError,
    AmcBadRequest,
    AmcConfigurationError,
    AmcWaitTimeout,
    InstanceContext,
)

from .support import SQL, calls, context, recent_window, sandbox_client, sandbox_settings


def test_workflow_lifecycle_and_saved_execution(sandbox_server):
    ctx = context(sandbox_server)
    with sandbox_client(sandbox_server) as amc:
        assert amc.get_workflow(ctx, "ops-lifecycle") is None
        created = amc.ensure_workflow(ctx, workflow_id="ops-lifecycle", sql=SQL, input_parameters=[])
        assert created["sqlQuery"] == SQL
        # Same definition: left as is (no PUT); another SQL: updated in place.
        assert amc.ensure_workflow(ctx, workflow_id="ops-lifecycle", sql=SQL)["lastUpdatedTime"] == created["lastUpdatedTime"]
        changed_sql = SQL.replace("SUM(impressions)", "SUM(impressions) + 0")
        assert amc.ensure_workflow(ctx, workflow_id="ops-lifecycle", sql=changed_sql)["sqlQuery"] == changed_sql
        assert "ops-lifecycle" in {w["workflowId"] for w in amc.list_workflows(ctx)}
        with pytest.raises(AmcBadRequest, match="already exists"):
            amc.create_workflow(ctx, workflow_id="ops-lifecycle", sql=SQL)

        window = recent_window(sandbox_server, "America/New_York")
        execution = amc.create_execution(ctx, workflow_id="ops-lifecycle", window=window, parameter_values={})
        assert execution.workflow_id == "ops-lifecycle" and execution.status in ("PENDING", "RUNNING")
        assert execution.time_window_start_original == window.amc_start()
        assert execution.time_window_time_zone == "America/New_York"
        seen: list[str] = []
        finished = amc.wait_for_execution(ctx, execution.workflow_execution_id, poll_seconds=0.02,
                                          on_status=lambda e: seen.append(e.status))
        assert finished.succeeded and finished.is_terminal and finished.output_s3_uri
        assert seen[-1] == "SUCCEEDED" and len(seen) == len(set(seen))
        listed = list(amc.list_executions(ctx, workflow_id="ops-lifecycle"))
        assert [e.workflow_execution_id for e in listed] == [execution.workflow_execution_id]


def test_ad_hoc_dry_run_cancel_and_data_sources(make_sandbox):
    server = make_sandbox(latency="5")
    ctx = context(server)
    with sandbox_client(server) as amc:
        window = recent_window(server)
        dry = amc.create_execution(ctx, sql=SQL, window=window, parameter_values={}, dry_run=True)
        assert dry.dry_run and dry.workflow_execution_id is None
        assert server.stats()["executions_created"] == 0
        with pytest.raises(AmcBadRequest) as rejected:
            amc.create_execution(ctx, sql="SELECT * FROM dsp_impressions", window=window, parameter_values={}, dry_run=True)
        assert rejected.value.status == 400 and rejected.value.message  # AMC's own reason
        running = amc.create_execution(ctx, sql=SQL, window=window, parameter_values={})
        assert running.workflow_id.startswith("transient_")
        cancelled = amc.cancel_execution(ctx, running.workflow_execution_id)  # the wrapped answer shape
        assert cancelled.status == "CANCELLED"
        # Cancelling again (as a retry after a lost answer would) returns the cancelled execution.
        assert amc.cancel_execution(ctx, running.workflow_execution_id).status == "CANCELLED"
        sources = list(amc.list_data_sources(ctx))
        assert "dsp_impressions" in {s["dataSourceId"] for s in sources}
        assert amc.get_data_source(ctx, "dsp_impressions")["columns"]


def test_wait_times_out_while_the_execution_runs(make_sandbox):
    server = make_sandbox(latency="5")
    ctx = context(server)
    with sandbox_client(server) as amc:
        execution = amc.create_execution(ctx, sql=SQL, window=recent_window(server), parameter_values={})
        with pytest.raises(AmcWaitTimeout, match="RUNNING"):
            amc.wait_for_execution(ctx, execution.workflow_execution_id, poll_seconds=0.05, timeout=0.3)


def test_paging_across_more_than_one_hundred_items(make_sandbox):
    server = make_sandbox()
    ctx = context(server)
    with sandbox_client(server) as amc:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda n: amc.create_workflow(ctx, workflow_id=f"page-{n:03d}", sql=SQL), range(130)))
        ids = [w["workflowId"] for w in amc.list_workflows(ctx)]
    assert ids == [f"page-{n:03d}" for n in range(130)]
    assert calls(server, "listWorkflows") == 2  # 100 + 30


def test_instances_and_accounts(sandbox_server):
    instance = sandbox_server.backend.instances[0]
    settings = sandbox_settings(sandbox_server, account_id=instance.account_id)
    with sandbox_client(sandbox_server, settings=settings) as amc:
        instances = amc.list_instances()
        accounts = amc.list_accounts()
    assert instance.instance_id in {i["instanceId"] for i in instances}
    assert instance.account_id in {a["accountId"] for a in accounts}
    with sandbox_client(sandbox_server) as amc, pytest.raises(AmcConfigurationError, match="AMC_ACCOUNT_ID"):
        amc.list_instances()


def test_wrong_advertiser_header_is_refused_with_amcs_message(sandbox_server):
    ctx = context(sandbox_server)
    wrong = replace(ctx, account_id="ENTITYNOTTHEOWNER1")
    with sandbox_client(sandbox_server) as amc, pytest.raises(AmcAuthError) as refused:
        amc.list_workflows(wrong).__next__()
    assert refused.value.status == 403 and "Not authorized to access instance" in refused.value.message


def test_token_is_refreshed_before_it_expires(make_sandbox):
    server = make_sandbox(token_ttl_seconds=1.0)
    ctx = context(server)
    with sandbox_client(server) as amc:
        amc.get_workflow(ctx, "none")
        assert amc.auth.refreshes == 1
        time.sleep(0.6)  # past half the lifetime: the client renews before AMC would refuse the token
        amc.get_workflow(ctx, "none")
        assert amc.auth.refreshes == 2
        assert amc.api_calls == 2 and calls(server, "getWorkflow") == 2  # no 401 round trip


def test_a_401_refreshes_the_token_once_and_sends_again(make_sandbox):
    server = make_sandbox()
    ctx = context(server)
    with sandbox_client(server) as amc:
        amc.get_workflow(ctx, "none")
        server.state.tokens.reset()  # AMC forgets every token it issued (e.g. revoked)
        assert amc.get_workflow(ctx, "none") is None
        assert amc.auth.refreshes == 2
        assert amc.api_calls == 3 and calls(server, "getWorkflow") == 3


def test_bad_credentials_fail_with_lwas_message(make_sandbox):
    server = make_sandbox(client_id="amzn1.application-oa2-client.x", client_secret="right", refresh_token="Atzr|r")
    settings = sandbox_settings(server, client_id="amzn1.application-oa2-client.x", client_secret="wrong",
                                refresh_token="Atzr|r")
    with sandbox_client(server, settings=settings) as amc, pytest.raises(AmcAuthError) as failed:
        amc.get_workflow(context(server), "none")
    assert "Client authentication failed" in str(failed.value) and "AMC_CLIENT_SECRET" in str(failed.value)
    assert calls(server, "getWorkflow") == 0


def test_real_amazon_needs_credentials(sandbox_server):
    settings = sandbox_settings(sandbox_server, api_url="region", token_url="https://api.amazon.com/auth/o2/token")
    with pytest.raises(AmcConfigurationError, match="AMC_CLIENT_ID"):
        sandbox_client(sandbox_server, settings=settings)


def test_region_hosts(sandbox_server):
    settings = sandbox_settings(sandbox_server, api_url="region")
    with sandbox_client(sandbox_server, settings=settings) as amc:
        assert amc.base_url("EU") == "https://advertising-api-eu.amazon.com"
        assert amc.base_url("fe") == "https://advertising-api-fe.amazon.com"
        with pytest.raises(AmcConfigurationError, match="region 'XX'"):
            amc.base_url("XX")
    with sandbox_client(sandbox_server) as amc:
        assert amc.base_url("EU") == sandbox_server.url


def test_context_from_registry_instance(sandbox_server):
    instance = sandbox_server.backend.instances[0]
    ctx = InstanceContext.from_instance(instance)
    assert (ctx.instance_id, ctx.account_id, ctx.marketplace_id) == (
        instance.instance_id, instance.account_id, instance.marketplace_id)
