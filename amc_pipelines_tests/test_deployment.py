"""The deployment harness: its processes' environment and instance file, and failing fast on a broken code location."""

from __future__ import annotations

import httpx
import pytest
import yaml

from amc_pipelines.dagster_home import DAGSTER_PG_URL_ENV, INSTANCE_SETTINGS
from amc_pipelines.db import psycopg2_url
from amc_pipelines.deployment import DagsterDeployment, DeploymentError


def test_processes_get_the_given_amc_settings_only_and_a_postgres_instance(tmp_path, monkeypatch, database_url):
    monkeypatch.setenv("AMC_API_URL", "http://developer-shell.invalid")  # must not leak into Dagster
    monkeypatch.setenv("AMC_WEBHOOK_URL", "http://developer-shell.invalid/hook")
    home = tmp_path / "dagster"
    deployment = DagsterDeployment(home, {"AMC_DATABASE_URL": database_url, "AMC_HOME": str(tmp_path)})

    env = deployment.process_env()

    assert {name for name in env if name.startswith("AMC_")} == {"AMC_DATABASE_URL", "AMC_HOME", DAGSTER_PG_URL_ENV}
    assert env["DAGSTER_HOME"] == str(home)
    assert env[DAGSTER_PG_URL_ENV] == psycopg2_url(database_url)
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    storage = config.pop("storage")["postgres"]["postgres_url"]
    assert storage in (psycopg2_url(database_url), {"env": DAGSTER_PG_URL_ENV})
    assert config == INSTANCE_SETTINGS


@pytest.mark.slow
def test_a_code_location_that_cannot_load_fails_the_start_with_its_error(tmp_path, database_url):
    deployment = DagsterDeployment(tmp_path / "dagster", {"AMC_DATABASE_URL": database_url, "AMC_HOME": str(tmp_path)},
                                   module="amc_no_such_module", start_timeout=240)

    with pytest.raises(DeploymentError, match="amc_no_such_module"), deployment:
        pass

    with pytest.raises(httpx.TransportError):  # the webserver was stopped on the way out
        httpx.get(f"{deployment.url}/server_info", timeout=2)


def test_deploy_workspace_names_the_code_server_the_harness_runs():
    from amc_pipelines.deployment import DEFINITIONS_MODULE, LOCATION_NAME, PROJECT_DIR

    text = (PROJECT_DIR / "deploy" / "workspace.yaml").read_text()
    (entry,) = yaml.safe_load(text)["load_from"]
    assert entry["grpc_server"]["location_name"] == LOCATION_NAME
    port = entry["grpc_server"]["port"]
    assert (f"dagster code-server start -m {DEFINITIONS_MODULE} -h 127.0.0.1 -p {port} "
            f"--location-name {LOCATION_NAME}") in text
