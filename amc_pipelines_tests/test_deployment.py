"""The deployment harness: its processes' environment and instance file, failing fast on a broken
code location, and one deployment per Dagster home (a second `make dev` says what runs and how to
stop it, whatever killed the first one's owner)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner

from amc_pipelines.commands.backfill import _webserver_url
from amc_pipelines.commands.dagster import dagster as dagster_group
from amc_pipelines.dagster_home import DAGSTER_PG_URL_ENV, INSTANCE_SETTINGS, dagster_home
from amc_pipelines.db import psycopg2_url
from amc_pipelines.deployment import DagsterDeployment, DeploymentError
from amc_pipelines.deployment.local import LocalDeployment, PortInUse
from amc_pipelines.deployment.lock import HomeInUse, HomeLock, find_running, stop_deployment
from amc_pipelines.settings import Settings


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


# ---- one deployment per Dagster home --------------------------------------------------------------


def test_make_dev_while_the_demo_runs_says_what_runs_and_how_to_stop_it(amc_env: Settings):
    home = dagster_home(amc_env)
    with HomeLock(home, "make demo") as demo:
        demo.update(url="http://127.0.0.1:3123")

        result = CliRunner().invoke(dagster_group, ["dev"])  # fails before touching the database or a port

        assert result.exit_code == 1
        message = " ".join(result.output.split())
        assert f"make demo (pid {os.getpid()}, started " in message
        assert f"is already running on DAGSTER_HOME={home}; its UI is at http://127.0.0.1:3123" in message
        assert "press Ctrl-C where it runs, or run `amc dagster stop`" in message
        assert "Traceback" not in result.output
        # `amc backfill` and `amc dagster status` find the running webserver through the same record.
        assert _webserver_url() == "http://127.0.0.1:3123"
        status = CliRunner().invoke(dagster_group, ["status"])
        assert status.exit_code == 0 and "make demo runs on" in status.output and "http://127.0.0.1:3123" in status.output
    assert find_running(home) is None
    assert _webserver_url() == "http://127.0.0.1:3000"
    assert CliRunner().invoke(dagster_group, ["status"]).exit_code == 1


def test_a_taken_port_is_named_before_anything_starts(amc_env: Settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        env = {"AMC_HOME": str(amc_env.home), "AMC_DATABASE_URL": amc_env.database_url}

        with pytest.raises(PortInUse, match=f"port {port} is taken: another program listens on it.*--port {port + 1}"):
            LocalDeployment(env, purpose="make dev", port=port, out=lambda line: None).__enter__()

    assert find_running(dagster_home(amc_env)) is None  # the home was given back


_OWNER = textwrap.dedent("""
    import signal, subprocess, sys, time
    from pathlib import Path
    from amc_pipelines.deployment.lock import HomeLock

    signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))  # as LocalDeployment.wait() stops on SIGTERM
    lock = HomeLock(Path(sys.argv[1]), "make dev")
    lock.acquire()
    # A stand-in for the webserver, daemon and code server: the lock's descriptor is handed down.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                             start_new_session=True, pass_fds=(lock.fd,))
    lock.update(processes={"webserver": child.pid})
    print("ready", flush=True)
    if sys.argv[2] == "die":
        import os; os._exit(0)  # as after kill -9: no cleanup, the child lives on
    try:
        time.sleep(120)
    finally:
        child.terminate(); child.wait(); lock.release()
""")


@pytest.mark.parametrize("owner", ["alive", "die"])
def test_stop_ends_the_deployment_even_when_its_owner_was_killed(tmp_path: Path, owner: str):
    home = tmp_path / "dagster"
    process = subprocess.Popen([sys.executable, "-c", _OWNER, str(home), owner], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        if owner == "die":
            process.wait(timeout=10)
        running = find_running(home)
        assert running is not None and running.processes
        assert running.owner_alive is (owner == "alive")
        with pytest.raises(HomeInUse, match="amc dagster stop" if owner == "alive" else "still hold the home"):
            HomeLock(home, "make dev").acquire()

        assert stop_deployment(home, timeout=20).purpose == "make dev"

        assert find_running(home) is None
        child = running.processes["webserver"]
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purpose.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"
