"""Counters behind ``GET /_sandbox/stats``: calls, faults, executions, peak concurrency."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class SandboxStats:
    """Thread-safe counters; the execution store reports RUNNING counts, handlers report calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._executions_created = 0
            self._max_running: dict[str, int] = {}

    def call(self, operation: str) -> None:
        with self._lock:
            self._calls[operation] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def execution_created(self) -> None:
        with self._lock:
            self._executions_created += 1

    def running_now(self, instance_id: str, running: int) -> None:
        with self._lock:
            if running > self._max_running.get(instance_id, 0):
                self._max_running[instance_id] = running

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "executions_created": self._executions_created,
                "max_running_by_instance": dict(self._max_running),
                "calls": dict(self._calls),
                "faults_injected": dict(self._faults),
            }
