"""The one local deployment of an AMC_HOME: what ``make dev`` and ``make demo`` both run.

``with LocalDeployment(env, purpose="make dev") as local:`` takes the Dagster home
(``AMC_HOME/dagster``, :func:`amc_pipelines.dagster_home.dagster_home`) exclusively
(:class:`~amc_pipelines.deployment.lock.HomeLock`), checks the webserver's port, migrates the
project database (the embedded server under AMC_HOME or ``AMC_DATABASE_URL``), starts the AMC
sandbox when ``AMC_API_URL`` is the sandbox's address and registers its instances, then starts the
three Dagster processes (:class:`~amc_pipelines.deployment.processes.DagsterDeployment`) with
Postgres storage in that same database. Leaving the block stops everything and frees the home.

So ``make demo`` and ``make dev`` differ only in what happens while the deployment is up (the demo
launches two backfills and stops; dev waits for Ctrl-C): same home, same storage, same limits, same
processes, and what the demo did is what the UI of ``make dev`` shows. No Dagster import here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from amc_pipelines.dagster_home import dagster_home
from amc_pipelines.deployment.lock import HomeLock
from amc_pipelines.deployment.processes import (
    PROJECT_DIR,
    DagsterDeployment,
    DeploymentError,
    free_port,
    script_path,
    sigint_not_ignored,
    signal_group,
)
from amc_pipelines.settings import Settings

DEFAULT_PORT = 3000
DEV_SANDBOX_LATENCY = "5-20"  # seconds per execution: long enough to watch a run wait on AMC
SANDBOX_START_TIMEOUT = 600.0  # the first start generates the synthetic data (about 20 s at demo size)
_AUTOMATION = """{ repositoriesOrError { __typename ... on RepositoryConnection { nodes {
  sensors { name sensorState { status } } schedules { name scheduleState { status } } } } } }"""


class PortInUse(DeploymentError):
    """The webserver's or the sandbox's port is taken by something that is not this home's deployment."""


class LocalDeployment:
    """The deployment of the AMC_HOME that ``env`` (AMC_* variables) names; see the module docstring.

    ``port`` None: any free port; with ``any_port`` a taken ``port`` falls back to a free one (the
    demo) instead of failing (dev). ``instance_settings`` replaces the project's run limits (tests).
    ``out`` receives progress lines.
    """

    def __init__(self, env: Mapping[str, str], *, purpose: str, port: int | None = DEFAULT_PORT,
                 any_port: bool = False, sandbox_latency: str = DEV_SANDBOX_LATENCY,
                 instance_settings: dict[str, Any] | None = None, out: Callable[[str], None] = print) -> None:
        self.env = {name: value for name, value in env.items() if name.startswith("AMC_")}
        self.settings = Settings.from_env(self.env)
        self.home = dagster_home(self.settings)
        self.purpose = purpose
        self.requested_port = port
        self.any_port = any_port
        self.sandbox_latency = sandbox_latency
        self.instance_settings = instance_settings
        self.out = out
        self.lock = HomeLock(self.home, purpose)
        self.database_url: str | None = None
        self.sandbox_instance_ids: list[str] = []
        self.deployment: DagsterDeployment | None = None
        self._sandbox: subprocess.Popen | None = None
        self._sandbox_log = None

    @property
    def url(self) -> str:
        assert self.deployment is not None, "the deployment is not started"
        return self.deployment.url

    @property
    def uses_sandbox(self) -> bool:
        """Whether AMC_API_URL is the address this AMC_HOME's sandbox serves on (then it is started here)."""
        settings = self.settings
        return settings.api_url == f"http://{settings.sandbox_host}:{settings.sandbox_port}"

    def __enter__(self) -> LocalDeployment:
        self.lock.acquire()  # HomeInUse: says what runs and how to stop it
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        # A second Ctrl-C must not cut the stop short and leave processes behind.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            self._stop()
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)

    # -- starting and stopping -----------------------------------------------------------------

    def _start(self) -> None:
        from amc_pipelines.db import database_url, get_engine, redact_url, upgrade

        started = time.monotonic()
        port = self._choose_port()
        self.database_url = database_url(self.settings)
        upgrade(self.database_url)
        self.out(f"== database {redact_url(self.database_url)} (project tables and Dagster's storage)")
        if self.uses_sandbox:
            self._start_sandbox()
            self.sandbox_instance_ids = register_sandbox_instances(get_engine(self.database_url), self.settings)
            self.out(f"== {len(self.sandbox_instance_ids)} sandbox instances registered")
        # Every Dagster process gets this environment: the AMC_* settings given, and the database
        # resolved here (the embedded server is not looked up again in each run process).
        env = {**self.env, "AMC_HOME": str(self.settings.home), "AMC_DATABASE_URL": self.database_url,
               "AMC_API_URL": self.settings.api_url}
        env.setdefault("AMC_DAGSTER_UI_URL", f"http://127.0.0.1:{port}")  # links in failure notifications
        self.deployment = DagsterDeployment(self.home, env, port, instance_settings=self.instance_settings,
                                            pass_fds=(self.lock.fd,))
        self.lock.update(url=self.deployment.url)
        self.out(f"== Dagster code server, webserver and daemon (DAGSTER_HOME={self.home})")
        try:
            self.deployment.start()
        finally:
            self.lock.update(processes=self._pids())
        self.out(f"   up in {time.monotonic() - started:.0f} s: the UI is at {self.deployment.url}")

    def _stop(self) -> None:
        try:
            if self.deployment is not None:
                self.deployment.stop()
            if self._sandbox is not None:
                signal_group(self._sandbox, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._sandbox.wait(timeout=10)
                signal_group(self._sandbox, signal.SIGKILL)
                self._sandbox.wait()
                self._sandbox = None
            if self._sandbox_log is not None:
                self._sandbox_log.close()
                self._sandbox_log = None
        finally:
            self.lock.release()

    def _pids(self) -> dict[str, int]:
        pids = dict(self.deployment.pids) if self.deployment else {}
        if self._sandbox is not None:
            pids["sandbox"] = self._sandbox.pid
        return pids

    def _choose_port(self) -> int:
        port = self.requested_port
        if port is None:
            return free_port()
        problem = port_problem(port)
        if problem is None:
            return port
        if self.any_port:
            chosen = free_port()
            self.out(f"   port {port} is taken ({problem}): the UI gets port {chosen}")
            return chosen
        raise PortInUse(f"port {port} is taken: {problem}. Stop that, or give the UI another port: "
                        f"`make dev DAGSTER_PORT={port + 1}` (`amc dagster dev --port {port + 1}`).")

    def _start_sandbox(self) -> None:
        settings = self.settings
        if sandbox_answers(settings.api_url):
            self.out(f"== AMC sandbox already answering on {settings.api_url}: using it")
            return
        problem = port_problem(settings.sandbox_port, settings.sandbox_host)
        if problem is not None:
            raise PortInUse(f"the AMC sandbox's port {settings.sandbox_port} is taken: {problem}. Stop that, or "
                            "set AMC_SANDBOX_PORT to a free port.")
        self.out(f"== AMC sandbox on {settings.api_url} ({self.sandbox_latency} s per execution)")
        log_dir = self.home / "process-logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._sandbox_log = (log_dir / "sandbox.log").open("a")
        inherited = {name: value for name, value in os.environ.items() if not name.startswith("AMC_")}
        with sigint_not_ignored():
            self._sandbox = subprocess.Popen(
                [script_path("amc"), "sandbox", "serve", "--host", settings.sandbox_host,
                 "--port", str(settings.sandbox_port), "--latency", self.sandbox_latency, "--log-level", "warning"],
                cwd=PROJECT_DIR, env={**inherited, **self.env}, stdout=self._sandbox_log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, pass_fds=(self.lock.fd,),
            )
        self.lock.update(processes=self._pids())
        deadline = time.monotonic() + SANDBOX_START_TIMEOUT
        while not sandbox_answers(settings.api_url):
            if self._sandbox.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join((log_dir / "sandbox.log").read_text(errors="replace").splitlines()[-20:])
                raise DeploymentError(f"the AMC sandbox did not start (see {log_dir / 'sandbox.log'}):\n{tail}")
            time.sleep(0.5)

    # -- while it runs -------------------------------------------------------------------------

    def wait(self) -> None:
        """Block until SIGTERM/SIGHUP (raised as KeyboardInterrupt, like Ctrl-C) or until a process
        exits (:class:`DeploymentError` with its log tail)."""
        def interrupt(signum: int, frame: object) -> None:
            raise KeyboardInterrupt(signal.Signals(signum).name)

        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, interrupt)
        while True:
            assert self.deployment is not None
            self.deployment.check_alive()
            if self._sandbox is not None and self._sandbox.poll() is not None:
                raise DeploymentError(f"the AMC sandbox exited with status {self._sandbox.returncode} "
                                      f"(see {self.home / 'process-logs' / 'sandbox.log'})")
            time.sleep(1.0)

    def automation(self) -> dict[str, dict[str, str]]:
        """``{"sensors": {name: status}, "schedules": {name: status}}`` as the UI shows them."""
        assert self.deployment is not None
        found: dict[str, dict[str, str]] = {"sensors": {}, "schedules": {}}
        result = self.deployment.graphql(_AUTOMATION)["repositoriesOrError"]
        for repository in result.get("nodes", []):
            for sensor in repository["sensors"]:
                found["sensors"][sensor["name"]] = sensor["sensorState"]["status"]
            for schedule in repository["schedules"]:
                found["schedules"][schedule["name"]] = schedule["scheduleState"]["status"]
        return found


def register_sandbox_instances(engine, settings: Settings) -> list[str]:
    """Register the sandbox's instances (as ``amc sandbox register`` does); their ids in the sandbox's order."""
    from amc_pipelines.registry import register_sandbox_instances as register
    from amc_pipelines.sandbox.datagen import ensure_dataset

    dataset = ensure_dataset(settings.sandbox_dir, size=settings.sandbox_size, seed=settings.sandbox_seed)
    return [instance_id for instance_id, _, _ in register(engine, dataset.instances, week_start=settings.week_start)]


def sandbox_answers(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/_sandbox/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def port_problem(port: int, host: str = "127.0.0.1") -> str | None:
    """Why ``port`` cannot be bound on ``host``, or None when it can."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
            return None
        except OSError as err:
            reason = err.strerror or str(err)
    try:
        info = httpx.get(f"http://{host}:{port}/server_info", timeout=2.0)
        if info.status_code == 200 and "dagster_webserver_version" in info.text:
            return f"a Dagster webserver of another DAGSTER_HOME answers on http://{host}:{port}"
    except httpx.HTTPError:
        pass
    return f"another program listens on it ({reason})"
