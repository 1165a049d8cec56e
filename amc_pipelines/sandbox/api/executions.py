"""Workflow executions: the store and the scheduler that moves them PENDING -> RUNNING -> done.

At most ``max_running_per_instance`` executions are RUNNING on an instance; the rest wait PENDING
and start in submission order. A RUNNING execution runs its query on a bounded thread pool and
finishes no earlier than its latency (fixed or seeded uniform), so it takes the longer of the two.
Timers (latency ends, execution timeouts, rejections) fire on one scheduler thread. Every state
change happens under one lock, so HTTP handlers on the event loop and pool threads see a
consistent store.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .backend import QueryFailedError, QueryRejectedError, QuerySpec, SandboxBackend
from .config import SandboxConfig
from .responses import ApiError, iso_utc, utc_now
from .stats import SandboxStats
from .windows import TimeWindow

log = logging.getLogger(__name__)

FINISHED = frozenset({"SUCCEEDED", "FAILED", "REJECTED", "CANCELLED"})
# AMC's wording for an execution that failed inside the service (the "failed" fault uses it).
INTERNAL_FAILURE = "Workflow execution failed due to an internal error. Please retry the workflow execution."


@dataclass
class Execution:
    execution_id: str
    instance_id: str
    workflow_id: str
    spec: QuerySpec
    window_type: str
    window: TimeWindow
    timeout_seconds: int
    sequence: int
    created: datetime
    updated: datetime
    status: str = "PENDING"
    status_reason: str | None = None
    rejection: str | None = None  # found at submission: ends REJECTED without running
    injected_failure: str | None = None  # "failed" fault drawn when the execution starts
    earliest_finish: float = 0.0  # time.monotonic() when the latency has passed
    outcome: tuple[str, str | None] | None = None  # (status, reason) once the query finished
    result_files: list[Path] = field(default_factory=list)
    metadata_files: list[Path] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        """The execution object as AMC returns it (bare, not wrapped)."""
        body: dict[str, Any] = {
            "workflowExecutionId": self.execution_id,
            "workflowId": self.workflow_id,
            "status": self.status,
            "createTime": iso_utc(self.created),
            "lastUpdatedTime": iso_utc(self.updated),
            "expireTime": iso_utc(self.created + timedelta(days=1)),
            "executionCategory": "AD_HOC",
            "timeWindowType": self.window_type,
            "timeWindowStart": iso_utc(self.window.start_utc),
            "timeWindowEnd": iso_utc(self.window.end_utc),
            "timeWindowStartOriginal": self.window.start.strftime("%Y-%m-%dT%H:%M:%S"),
            "timeWindowEndOriginal": self.window.end.strftime("%Y-%m-%dT%H:%M:%S"),
            "timeWindowTimeZone": self.window.time_zone,
            "timeWindowTimeZoneOriginal": self.window.time_zone,
            "parameterValues": dict(self.spec.parameter_values),
            "dataGaps": [],
            "ignoreDataGaps": False,
            "disableAggregationControls": False,
            "workflowExecutionTimeoutSeconds": self.timeout_seconds,
        }
        if self.status_reason:
            body["statusReason"] = self.status_reason
        if self.status == "SUCCEEDED":
            body["outputS3URI"] = (
                f"s3://amc-{self.instance_id}-sandbox/workflow={self.workflow_id}/schedule=adhoc/"
                f"{self.created:%Y-%m-%d}-{self.execution_id}/"
            )
        return body


class ExecutionStore:
    """All executions of all instances, with the per-instance queue and running limit."""

    def __init__(self, config: SandboxConfig, backend: SandboxBackend, stats: SandboxStats) -> None:
        self.config = config
        self.backend = backend
        self.stats = stats
        self._rng = random.Random(config.seed)
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._executions: dict[str, Execution] = {}
        self._pending: dict[str, deque[str]] = {}
        self._running: dict[str, set[str]] = {}
        self._sequence = itertools.count(1)
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_ids = itertools.count()
        self._closed = False
        self._pool = ThreadPoolExecutor(max_workers=config.query_threads, thread_name_prefix="amc-sandbox-query")
        self._scheduler = threading.Thread(target=self._timer_loop, name="amc-sandbox-scheduler", daemon=True)
        self._scheduler.start()

    # ---- requests from the routes ---------------------------------------------------------------

    def submit(
        self,
        *,
        instance_id: str,
        workflow_id: str,
        spec: QuerySpec,
        window_type: str,
        window: TimeWindow,
        timeout_seconds: int,
        rejection: str | None,
    ) -> dict[str, Any]:
        """Create a PENDING execution (answered as such) and let the scheduler take it from there."""
        now = utc_now()
        with self._lock:
            execution = Execution(
                execution_id=str(uuid.uuid4()),
                instance_id=instance_id,
                workflow_id=workflow_id,
                spec=spec,
                window_type=window_type,
                window=window,
                timeout_seconds=timeout_seconds,
                sequence=next(self._sequence),
                created=now,
                updated=now,
                rejection=rejection,
            )
            self._executions[execution.execution_id] = execution
            answer = execution.to_api()
            self.stats.execution_created()
            if rejection is not None:
                self._add_timer(0.0, lambda: self._reject(execution.execution_id))
            else:
                self._pending.setdefault(instance_id, deque()).append(execution.execution_id)
                self._promote(instance_id)
        return answer

    def get(self, instance_id: str, execution_id: str) -> Execution:
        with self._lock:
            execution = self._executions.get(execution_id)
            if execution is None or execution.instance_id != instance_id:
                raise ApiError(404, f"Workflow execution with ID {execution_id} not found.")
            return execution

    def describe(self, instance_id: str, execution_id: str) -> dict[str, Any]:
        with self._lock:
            return self.get(instance_id, execution_id).to_api()

    def list(
        self,
        instance_id: str,
        *,
        workflow_id: str | None = None,
        status: str | None = None,
        min_created: datetime | None = None,
        max_created: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Matching executions, oldest first, each with its ``_sequence`` for paging."""
        with self._lock:
            matches = [
                e
                for e in self._executions.values()
                if e.instance_id == instance_id
                and (workflow_id is None or e.workflow_id == workflow_id)
                and (status is None or e.status == status)
                and (min_created is None or e.created >= min_created)
                and (max_created is None or e.created <= max_created)
            ]
            matches.sort(key=lambda e: e.sequence)
            return [{**e.to_api(), "_sequence": e.sequence} for e in matches]

    def cancel(self, instance_id: str, execution_id: str) -> dict[str, Any]:
        with self._lock:
            execution = self.get(instance_id, execution_id)
            if execution.status in FINISHED:
                raise ApiError(
                    400,
                    f"Workflow execution {execution_id} cannot be cancelled because its status is {execution.status}.",
                )
            was_running = execution.status == "RUNNING"
            self._finish(execution, "CANCELLED", "Workflow execution was cancelled by the user.")
            queue = self._pending.get(instance_id)
            if not was_running and queue is not None and execution_id in queue:
                queue.remove(execution_id)  # a rejected-at-submission execution never queued
            return execution.to_api()

    def output(self, instance_id: str, execution_id: str) -> tuple[list[Path], list[Path]]:
        """(result files, metadata files) of a SUCCEEDED execution, else AMC's 'unavailable' 400."""
        with self._lock:
            execution = self.get(instance_id, execution_id)
            if execution.status != "SUCCEEDED":
                raise ApiError(400, f"Execution with ID {execution_id} is unavailable for download.")
            return list(execution.result_files), list(execution.metadata_files)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            counts: dict[str, int] = {}
            for execution in self._executions.values():
                counts[execution.status] = counts.get(execution.status, 0) + 1
            return {
                "running_by_instance": {i: len(ids) for i, ids in self._running.items() if ids},
                "pending_by_instance": {i: len(ids) for i, ids in self._pending.items() if ids},
                "status_counts": counts,
            }

    def clear(self) -> None:
        """Forget every execution; queries still running finish into the void."""
        with self._lock:
            self._executions.clear()
            self._pending.clear()
            self._running.clear()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._scheduler.join(timeout=5)

    # ---- scheduling (all under self._lock) ------------------------------------------------------

    def _promote(self, instance_id: str) -> None:
        queue = self._pending.get(instance_id)
        running = self._running.setdefault(instance_id, set())
        while queue and len(running) < self.config.max_running_per_instance:
            execution = self._executions[queue.popleft()]
            self._start(execution, running)

    def _start(self, execution: Execution, running: set[str]) -> None:
        running.add(execution.execution_id)
        self.stats.running_now(execution.instance_id, len(running))
        execution.status = "RUNNING"
        execution.updated = utc_now()
        latency = self.config.latency
        started = time.monotonic()
        execution.earliest_finish = started + self._rng.uniform(latency.minimum, latency.maximum)
        if self._rng.random() < self.config.faults.failed:
            execution.injected_failure = INTERNAL_FAILURE
            self.stats.fault("failed")
        execution_id = execution.execution_id
        self._add_timer(execution.timeout_seconds, lambda: self._time_out(execution_id))
        if not self._closed:
            self._pool.submit(self._run_query, execution_id)

    def _finish(self, execution: Execution, status: str, reason: str | None) -> None:
        execution.status = status
        execution.status_reason = reason
        execution.updated = utc_now()
        running = self._running.get(execution.instance_id, set())
        if execution.execution_id in running:
            running.discard(execution.execution_id)
            self._promote(execution.instance_id)

    def _run_query(self, execution_id: str) -> None:
        with self._lock:
            execution = self._executions.get(execution_id)
            if execution is None or execution.status != "RUNNING":
                return
            failure, spec, instance_id = execution.injected_failure, execution.spec, execution.instance_id
        files: list[Path] = []
        metadata: list[Path] = []
        if failure is not None:
            outcome: tuple[str, str | None] = ("FAILED", failure)
        else:
            try:
                directory = self.config.results_dir / instance_id / execution_id
                files = self.backend.run(spec, instance_id, directory, self.config.max_rows_per_file)
                metadata = [self._write_metadata(directory, execution_id, spec, files)]
                outcome = ("SUCCEEDED", None)
            except QueryRejectedError as exc:
                outcome = ("REJECTED", str(exc))
            except QueryFailedError as exc:
                outcome = ("FAILED", str(exc))
            except Exception as exc:  # an engine or disk error must end the execution, as AMC's FAILED does
                log.exception("execution %s failed inside the sandbox", execution_id)
                outcome = ("FAILED", f"Workflow execution failed: {type(exc).__name__}: {exc}")
        with self._lock:
            execution = self._executions.get(execution_id)
            if execution is None or execution.status != "RUNNING":
                return
            execution.outcome = outcome
            execution.result_files, execution.metadata_files = files, metadata
            self._add_timer(max(0.0, execution.earliest_finish - time.monotonic()), lambda: self._complete(execution_id))

    def _complete(self, execution_id: str) -> None:
        with self._lock:
            execution = self._executions.get(execution_id)
            if execution is not None and execution.status == "RUNNING" and execution.outcome is not None:
                self._finish(execution, *execution.outcome)

    def _time_out(self, execution_id: str) -> None:
        with self._lock:
            execution = self._executions.get(execution_id)
            if execution is not None and execution.status == "RUNNING":
                self._finish(
                    execution,
                    "FAILED",
                    f"Workflow execution timed out after {execution.timeout_seconds} seconds "
                    "(workflowExecutionTimeoutSeconds).",
                )

    def _reject(self, execution_id: str) -> None:
        with self._lock:
            execution = self._executions.get(execution_id)
            if execution is not None and execution.status == "PENDING":
                self._finish(execution, "REJECTED", execution.rejection)

    @staticmethod
    def _write_metadata(directory: Path, execution_id: str, spec: QuerySpec, files: list[Path]) -> Path:
        metadata_dir = directory / "metadata"
        metadata_dir.mkdir(parents=True, exist_ok=True)
        path = metadata_dir / "metadata.json"
        path.write_text(
            json.dumps(
                {
                    "workflowExecutionId": execution_id,
                    "sqlQuery": spec.sql,
                    "parameterValues": spec.parameter_values,
                    "timeWindowStart": spec.window_start.isoformat(),
                    "timeWindowEnd": spec.window_end.isoformat(),
                    "timeWindowTimeZone": spec.time_zone,
                    "files": [f.name for f in files],
                },
                indent=2,
                default=str,
            )
        )
        return path

    # ---- timers ---------------------------------------------------------------------------------

    def _add_timer(self, delay: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_ids), callback))
        self._wake.notify()

    def _timer_loop(self) -> None:
        while True:
            with self._lock:
                while not self._closed:
                    now = time.monotonic()
                    if self._timers and self._timers[0][0] <= now:
                        break
                    self._wake.wait(timeout=self._timers[0][0] - now if self._timers else None)
                if self._closed:
                    return
                _, _, callback = heapq.heappop(self._timers)
            callback()
