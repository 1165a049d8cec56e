"""Running the sandbox: ``serve`` (blocking, for ``amc sandbox serve``) and ``SandboxServer`` (a thread).

The synthetic dataset is generated (or reused from datagen's cache) before the server listens.
"""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from .app import SandboxState, create_app
from .backend import SandboxBackend
from .config import SandboxConfig

log = logging.getLogger(__name__)


class _InjectedFaultFilter(logging.Filter):
    """Hides uvicorn's complaints about responses the sandbox cut short on purpose (drop, truncate)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not message.startswith("ASGI callable returned without")


logging.getLogger("uvicorn.error").addFilter(_InjectedFaultFilter())


def _uvicorn_config(app: Any, config: SandboxConfig, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        # Requests held by a "timeout" fault must not keep shutdown waiting.
        timeout_graceful_shutdown=1,
    )


def serve(config: SandboxConfig, *, backend: SandboxBackend | None = None, bigquery: Any = None,
          openai: Any = None, log_level: str = "info") -> None:
    """Serve the sandbox until interrupted (Ctrl-C); ``bigquery``: a BigQueryStandIn, generated before listening;
    ``openai``: an OpenAIStandIn (default: any key, no faults)."""
    from amc_pipelines.sandbox.bigquery import BigQueryConfig, BigQueryStandIn

    backend = backend or SandboxBackend.load(config.data_dir, config.size, config.seed)
    bigquery = (bigquery or BigQueryStandIn(BigQueryConfig(size=config.size, seed=config.seed),
                                            config.data_dir / "bigquery")).start()
    app = create_app(config, backend, bigquery, openai)
    log.info(
        "AMC sandbox on http://%s:%s: %d instances, latency %s, faults %s; BigQuery stand-in under /bigquery/v2: "
        "project %s, %s rows (%s, generated in %.1f s), faults %s",
        config.host,
        config.port,
        len(backend.instances),
        config.latency,
        str(config.faults) or "none",
        bigquery.config.project,
        bigquery.warehouse.rows,
        bigquery.config.size,
        bigquery.warehouse.generation_seconds,
        str(bigquery.config.faults) or "none",
    )
    log.info("OpenAI stand-in under /v1 (scripted through /_sandbox/openai), faults %s",
             str(app.app.state.sandbox.openai.config.faults) or "none")
    try:
        uvicorn.Server(_uvicorn_config(app, config, log_level)).run()
    finally:
        app.app.state.sandbox.close()
        bigquery.close()


def serve_options(
    *,
    host: str,
    port: int,
    latency: str | None,
    faults: str | None,
    seed: int,
    size: str,
    data_dir: str | Path,
    bigquery_size: str | None = None,
    bigquery_faults: str | None = None,
    bigquery_project: str | None = None,
    bigquery_dataset: str | None = None,
    bigquery_location: str | None = None,
    openai_faults: str | None = None,
    log_level: str = "info",
) -> None:
    """``amc sandbox serve``: parse the option strings (ConfigError explains bad ones) and serve."""
    from amc_pipelines.sandbox.bigquery import BigQueryConfig, BigQueryFaultRates, BigQueryStandIn

    config = SandboxConfig.from_options(
        host=host, port=port, latency=latency, faults=faults, seed=seed, size=size, data_dir=data_dir
    )
    names = {"project": bigquery_project, "dataset": bigquery_dataset, "location": bigquery_location}
    bigquery = BigQueryStandIn(
        BigQueryConfig(size=bigquery_size or size, seed=seed, faults=BigQueryFaultRates.parse(bigquery_faults),
                       **{key: value for key, value in names.items() if value}),
        config.data_dir / "bigquery",
    )
    from amc_pipelines.sandbox.openai import OpenAIConfig, OpenAIFaultRates, OpenAIStandIn

    openai = OpenAIStandIn(OpenAIConfig(seed=seed, faults=OpenAIFaultRates.parse(openai_faults)))
    serve(config, bigquery=bigquery, openai=openai, log_level=log_level)


class SandboxServer:
    """The sandbox on 127.0.0.1 and a free port, in a background thread; a context manager.

    >>> with SandboxServer(config, dataset=ds) as sandbox:
    ...     httpx.get(sandbox.url + "/_sandbox/health")
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        dataset: Any = None,
        backend: SandboxBackend | None = None,
        bigquery: Any = None,
        openai: Any = None,
        log_level: str = "warning",
        **options: Any,
    ) -> None:
        config = (config or SandboxConfig()).with_options(host="127.0.0.1", port=0, **options)
        self.config = config
        if backend is None:
            backend = SandboxBackend(dataset) if dataset is not None else SandboxBackend.load(config.data_dir, config.size, config.seed)
        self.backend = backend
        self.bigquery = bigquery  # a BigQueryStandIn; None: create_app's default
        self.openai = openai  # an OpenAIStandIn; None: create_app's default
        self._log_level = log_level
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._app: Any = None
        self.url = ""

    @property
    def state(self) -> SandboxState:
        return self._app.app.state.sandbox

    def start(self) -> SandboxServer:
        self._app = create_app(self.config, self.backend, self.bigquery, self.openai)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._server = uvicorn.Server(_uvicorn_config(self._app, self.config.with_options(port=port), self._log_level))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="amc-sandbox-server", daemon=True
        )
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the AMC sandbox server failed to start; see the log above")
            self._thread.join(timeout=0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # tests hold keep-alive and faulted requests open
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._app is not None:
            self.state.close()
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_sandbox/stats", timeout=10).json()

    def reset(self, *, executions: bool = False) -> None:
        httpx.post(f"{self.url}/_sandbox/reset", params={"executions": str(executions).lower()}, timeout=10).raise_for_status()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
