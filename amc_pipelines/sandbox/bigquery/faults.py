"""Faults on demand and counters for the BigQuery stand-in.

Rates come from ``--bigquery-faults`` and can be replaced at run time through
``POST /_sandbox/bigquery/faults`` ``{"faults": "5xx=1", "operations": ["getQueryResults"], "limit": 2}``:
``operations`` restricts request faults to those API methods, ``limit`` stops injecting after that
many faults, so a test can ask for exactly "the next two pages fail with 503". Draws are seeded.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

from .config import BigQueryFaultRates
from .errors import BigQueryError

RATE_LIMITED_MESSAGE = (
    "Exceeded rate limits: too many api requests per user per method for this user_method. "
    "For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas"
)
QUOTA_MESSAGE = (
    "Quota exceeded: Your project exceeded quota for free query bytes scanned. "
    "For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas"
)
BACKEND_MESSAGE = "Error encountered during execution. Retrying may solve the problem."
JOB_BACKEND_MESSAGE = "The job encountered an internal error during execution and was unable to complete successfully."


class BigQueryStats:
    """Thread-safe counters behind ``GET /_sandbox/bigquery/stats``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._counters: Counter[str] = Counter()

    def call(self, operation: str) -> None:
        with self._lock:
            self._calls[operation] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def add(self, counter: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[counter] += amount

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            counters = {name: self._counters[name] for name in
                        ("jobs_created", "jobs_failed", "dry_runs", "pages_served", "rows_served", "bytes_processed")}
            return {**counters, "calls": dict(self._calls), "faults_injected": dict(self._faults)}


class BigQueryFaults:
    """Seeded fault draws (thread-safe); see the module docstring for operations and limit."""

    def __init__(self, rates: BigQueryFaultRates, stats: BigQueryStats, *, seed: int = 7,
                 operations: frozenset[str] | None = None, limit: int | None = None) -> None:
        self.stats = stats
        self._lock = threading.Lock()
        self.configure(rates, seed=seed, operations=operations, limit=limit)

    def configure(self, rates: BigQueryFaultRates, *, seed: int = 7, operations: frozenset[str] | None = None,
                  limit: int | None = None) -> None:
        with self._lock:
            self.rates = rates
            self.operations = operations
            self._remaining = limit
            self._rng = random.Random(seed + 11)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"faults": str(self.rates), "operations": sorted(self.operations) if self.operations else None,
                    "remaining": self._remaining}

    def _hit(self, kind: str, rate: float, operation: str | None) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            if self._remaining == 0 or (operation is not None and self.operations and operation not in self.operations):
                return False
            if self._rng.random() >= rate:
                return False
            if self._remaining is not None:
                self._remaining -= 1
        self.stats.fault(kind)
        return True

    def draw_request_fault(self, operation: str) -> str | None:
        """One of server_error / rate_limited / quota_exceeded / slow / dropped, or None."""
        rates = self.rates
        total = sum(getattr(rates, kind) for kind in rates.REQUEST_KINDS)
        if total <= 0:
            return None
        with self._lock:
            roll = self._rng.random()
            if self._remaining == 0 or (self.operations and operation not in self.operations):
                return None
            cumulative = 0.0
            for kind in rates.REQUEST_KINDS:
                cumulative += getattr(rates, kind)
                if roll < cumulative:
                    if self._remaining is not None:
                        self._remaining -= 1
                    break
            else:
                return None
        self.stats.fault(kind)
        return kind

    def request_error(self, kind: str) -> BigQueryError:
        if kind == "rate_limited":
            return BigQueryError("rateLimitExceeded", RATE_LIMITED_MESSAGE)
        if kind == "quota_exceeded":
            return BigQueryError("quotaExceeded", QUOTA_MESSAGE)
        with self._lock:
            status = self._rng.choice((500, 503))
        return BigQueryError("backendError", BACKEND_MESSAGE, status=status)

    def draw_failed_job(self) -> bool:
        return self._hit("failed", self.rates.failed, None)

    def draw_expired(self, operation: str) -> bool:
        return self._hit("expired", self.rates.expired, operation)
