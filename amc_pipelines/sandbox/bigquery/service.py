"""The BigQuery stand-in as one object: configuration, data (created on first use), jobs, faults, counters."""

from __future__ import annotations

import threading
from pathlib import Path

from .config import BigQueryConfig
from .faults import BigQueryFaults, BigQueryStats
from .jobs import JobStore
from .warehouse import Warehouse


class BigQueryStandIn:
    """Shared by the API routes and the ``/_sandbox/bigquery`` control routes (thread-safe).

    The synthetic data is generated on first use, so an AMC-only sandbox never pays for it;
    :meth:`start` generates it at once (``amc sandbox serve`` does, before it listens).
    """

    def __init__(self, config: BigQueryConfig | None = None, directory: Path | None = None) -> None:
        self.config = config or BigQueryConfig()
        self.directory = directory
        self.stats = BigQueryStats()
        self.faults = BigQueryFaults(self.config.faults, self.stats, seed=self.config.seed)
        self._warehouse: Warehouse | None = None
        self._jobs: JobStore | None = None
        self._lock = threading.Lock()

    def start(self) -> BigQueryStandIn:
        self.warehouse  # noqa: B018 - generates the data now
        return self

    @property
    def warehouse(self) -> Warehouse:
        with self._lock:
            if self._warehouse is None:
                self._warehouse = Warehouse(self.config, self.directory)
                self._jobs = JobStore(self._warehouse, self.faults, self.stats,
                                      result_ttl_seconds=self.config.result_ttl_seconds)
            return self._warehouse

    @property
    def jobs(self) -> JobStore:
        self.warehouse  # noqa: B018
        assert self._jobs is not None
        return self._jobs

    def close(self) -> None:
        with self._lock:
            if self._jobs is not None:
                self._jobs.close()
            if self._warehouse is not None:
                self._warehouse.close()
            self._warehouse = self._jobs = None
