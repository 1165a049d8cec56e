"""A Dagster deployment in subprocesses: a code server, ``dagster-webserver`` and ``dagster-daemon`` on Postgres.

What ``make dev``, ``make demo`` (through :mod:`amc_pipelines.deployment.local`), the end-to-end
test and the backfill benchmark run: the same three processes a real deployment runs (``deploy/``),
sharing one ``DAGSTER_HOME`` whose ``dagster.yaml``
keeps runs, events and schedules in Postgres (dagster-postgres) with the project's run limits
(:mod:`amc_pipelines.dagster_home`). Runs are queued by the webserver, dequeued by the daemon's run
coordinator under the per-instance tag limit and started as run processes by the code server:
nothing runs in the calling process. No Dagster import here; the caller talks to the deployment
over GraphQL (:meth:`DagsterDeployment.graphql`).

Why a standalone code server (``dagster code-server start``, workspace entry ``grpc_server``) rather
than a workspace that names the module: then the webserver and the daemon each start their own
code server, and the daemon replaces its one every 60 s (``RELOAD_WORKSPACE_INTERVAL``), loading the
definitions again while the old server lives on until its runs end. Measured during a 52-week
backfill: up to 86 processes and 3.6 GB for 17 run workers, and launches that raced a replacement
failed (``Tried to start a run on a server after telling it to shut down``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import httpx

from amc_pipelines.backfill_api import DagsterApiError, DagsterGraphQL

PROJECT_DIR = Path(__file__).resolve().parents[2]
DEFINITIONS_MODULE = "amc_pipelines.definitions"
LOCATION_NAME = "amc_pipelines"
STOP_GRACE_SECONDS = 20.0
_WORKSPACE = """\
# Written by amc_pipelines.deployment: the code server this deployment started.
load_from:
  - grpc_server:
      host: 127.0.0.1
      port: {port}
      location_name: {location}
"""

_LOCATIONS = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name locationOrLoadError { __typename ... on PythonError { message } } } }
    ... on PythonError { message } } }"""
_DAEMONS = "{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }"


class DeploymentError(RuntimeError):
    """The deployment did not come up (or answer) as expected; the message ends with the log tail."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DagsterDeployment:
    """``with DagsterDeployment(home, env) as deployment:`` a code server, a webserver and a daemon until
    the block ends.

    ``env`` is the AMC_* environment of every Dagster process (the database, AMC endpoint...): it
    replaces any AMC_* variable of the calling process, so a developer's shell cannot leak in.
    Dagster's storage is ``storage_url`` (default: the project database of ``env``; Dagster's tables
    live in ``public``, the project's in ``amc`` and ``amc_results``). Logs go to ``home/process-logs``.
    ``instance_settings`` replaces the project's run limits (:func:`dagster_home.instance_settings`),
    for measuring other values; ``module`` is the code location's module. ``pass_fds`` are handed
    down to the three processes (the Dagster home's lock, :mod:`amc_pipelines.deployment.lock`, so
    it stays held while any of them lives).
    """

    def __init__(self, dagster_home: Path, env: Mapping[str, str], webserver_port: int | None = None, *,
                 storage_url: str | None = None, module: str = DEFINITIONS_MODULE,
                 instance_settings: dict[str, Any] | None = None, start_timeout: float = 180.0,
                 pass_fds: Sequence[int] = ()) -> None:
        self.home = Path(dagster_home).expanduser().resolve()
        self.env = dict(env)
        self.port = webserver_port or free_port()
        self.code_server_port = free_port()
        self.storage_url = storage_url
        self.module = module
        self.instance_settings = instance_settings
        self.workspace = self.home / "workspace.yaml"
        self.start_timeout = start_timeout
        self.pass_fds = tuple(pass_fds)
        # Not home/logs: Dagster's telemetry uploader empties that directory.
        self.log_dir = self.home / "process-logs"
        self._processes: dict[str, subprocess.Popen] = {}
        self._logs: list[TextIO] = []
        self.api = DagsterGraphQL(self.url, timeout=30.0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pids(self) -> dict[str, int]:
        """Process id of each process started (each leads its own process group)."""
        return {name: process.pid for name, process in self._processes.items()}

    def __enter__(self) -> DagsterDeployment:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Write dagster.yaml and workspace.yaml, start the code server, then the webserver and the
        daemon; wait until the UI, the code location and every required daemon answer; then mark the
        UI's first-run dialog as seen."""
        env = self.process_env()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.start_timeout
        self._spawn("code-server", [script_path("dagster"), "code-server", "start", "-m", self.module,
                                    "-d", str(PROJECT_DIR), "-h", "127.0.0.1", "-p", str(self.code_server_port),
                                    "--location-name", LOCATION_NAME], env)
        self.workspace.write_text(_WORKSPACE.format(port=self.code_server_port, location=LOCATION_NAME))
        # The code server answers once it has loaded the definitions (or recorded why it could not);
        # a webserver started earlier would show the location as unreachable.
        self._wait("the code server to listen", self._code_server_listens, deadline)
        workspace = ["-w", str(self.workspace)]
        self._spawn("webserver", [script_path("dagster-webserver"), *workspace, "-h", "127.0.0.1", "-p", str(self.port)],
                    env)
        self._spawn("daemon", [script_path("dagster-daemon"), "run", *workspace], env)
        self._wait("the webserver to answer", self._webserver_answers, deadline)
        self._wait("the code location to load", self._locations_loaded, deadline)
        self._wait("every required daemon to heartbeat", self._daemons_healthy, deadline)
        # A fresh instance shows a welcome dialog over every page until this is sent (DESIGN 5).
        self.graphql("mutation { setNuxSeen }")

    def process_env(self) -> dict[str, str]:
        """The environment of both processes; writes DAGSTER_HOME/dagster.yaml on the way."""
        from amc_pipelines.dagster_home import DAGSTER_PG_URL_ENV, write_dagster_yaml
        from amc_pipelines.db import database_url, psycopg2_url
        from amc_pipelines.settings import Settings

        storage = psycopg2_url(self.storage_url or database_url(Settings.from_env(self.env)))
        # With a password in the URL the file names the variable instead of the URL.
        write_dagster_yaml(self.home, postgres_url=storage, settings=self.instance_settings)
        inherited = {name: value for name, value in os.environ.items() if not name.startswith("AMC_")}
        return {**inherited, **self.env, "DAGSTER_HOME": str(self.home), DAGSTER_PG_URL_ENV: storage}

    def stop(self) -> None:
        """SIGTERM each process group (code server and its run processes, webserver, daemon),
        SIGKILL what is still alive after a grace period."""
        for process in self._processes.values():
            signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self._processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            signal_group(process, signal.SIGKILL)  # children that outlived their parent, too
            process.wait()
        self._processes.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()
        self.api.close()

    def _spawn(self, name: str, command: Sequence[str], env: Mapping[str, str]) -> None:
        log = (self.log_dir / f"{name}.log").open("a")
        self._logs.append(log)
        # Its own session: stop() signals the whole group, code servers and run processes included.
        with sigint_not_ignored():
            self._processes[name] = subprocess.Popen(
                command, cwd=PROJECT_DIR, env=dict(env), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, pass_fds=self.pass_fds,
            )

    def check_alive(self) -> None:
        """Raise :class:`DeploymentError` (with the log tail) when one of the processes has exited."""
        for name, process in self._processes.items():
            if process.poll() is not None:
                raise DeploymentError(f"dagster {name} exited with status {process.returncode}.\n{self.log_tail()}")

    def _wait(self, what: str, ready, deadline: float) -> None:
        last_error = ""
        while time.monotonic() < deadline:
            for name, process in self._processes.items():
                if process.poll() is not None:
                    raise DeploymentError(f"dagster {name} exited with status {process.returncode} while waiting "
                                          f"for {what}.\n{self.log_tail()}")
            try:
                if ready():
                    return
            except _LoadFailed:
                raise
            except (httpx.HTTPError, DeploymentError) as err:  # still starting
                last_error = str(err)
            time.sleep(0.5)
        raise DeploymentError(f"timed out after {self.start_timeout:.0f} s waiting for {what}"
                              f"{f' (last error: {last_error})' if last_error else ''}.\n{self.log_tail()}")

    def _code_server_listens(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            return sock.connect_ex(("127.0.0.1", self.code_server_port)) == 0

    def _webserver_answers(self) -> bool:
        return httpx.get(f"{self.url}/server_info", timeout=5.0).status_code == 200

    def _locations_loaded(self) -> bool:
        workspace = self.graphql(_LOCATIONS)["workspaceOrError"]
        if workspace["__typename"] != "Workspace":
            raise DeploymentError(f"the workspace did not load: {workspace.get('message')}")
        entries = workspace["locationEntries"]
        for entry in entries:
            loaded = entry["locationOrLoadError"]
            if loaded and loaded["__typename"] == "PythonError":
                # A broken code location does not heal by waiting: fail now with its error.
                raise _LoadFailed(f"code location {entry['name']} failed to load: {loaded['message']}\n"
                                  f"{self.log_tail()}")
        return bool(entries) and all(entry["locationOrLoadError"] for entry in entries)

    def _daemons_healthy(self) -> bool:
        statuses = self.graphql(_DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
        return all(status["healthy"] for status in statuses if status["required"])

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for name in self._processes:
            path = self.log_dir / f"{name}.log"
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
            parts.append(f"--- last lines of {path}:\n" + "\n".join(text))
        return "\n".join(parts)

    # -- talking to it -------------------------------------------------------------------------

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of a GraphQL request (through :class:`DagsterGraphQL`, as ``amc backfill``
        talks to a webserver); :class:`DeploymentError` when it fails or the answer has errors."""
        try:
            return self.api.execute(query, variables)
        except DagsterApiError as err:
            raise DeploymentError(str(err)) from None

    def wait_for_partitions(self, report: str, dimension: str, keys: Iterable[str], *,
                            timeout: float = 120.0) -> None:
        """Wait until ``dimension`` of the report's asset has every key, e.g. until the instance sync
        sensor (which runs in the daemon, every minute) has added the registered instances to
        ``amc_instances``."""
        wanted = set(keys)
        deadline = time.monotonic() + timeout
        while True:
            try:
                present = set(self.api.partition_dimensions(report).get(dimension, []))
            except DagsterApiError as err:
                raise DeploymentError(str(err)) from None
            if wanted <= present:
                return
            if time.monotonic() > deadline:
                raise DeploymentError(f"after {timeout:.0f} s the {dimension} partitions of amc/{report} "
                                      f"still lack {sorted(wanted - present)} (present: {sorted(present)}).\n"
                                      f"{self.log_tail()}")
            time.sleep(1.0)


class _LoadFailed(DeploymentError):
    pass


@contextlib.contextmanager
def sigint_not_ignored() -> Iterator[None]:
    """Children started inside do not inherit an ignored SIGINT (a shell starts background jobs
    with SIGINT ignored, and an ignored signal survives exec). ``dagster code-server`` handles
    SIGTERM as it handles SIGINT, so it would ignore stop()'s SIGTERM and be killed 20 s later."""
    ignored = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a handler: reset to default by exec
    try:
        yield
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def script_path(name: str) -> str:
    # The console script next to this interpreter (the project's venv), whatever PATH says.
    return str(Path(sys.executable).parent / name)


def signal_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # the group this process leads (start_new_session)
