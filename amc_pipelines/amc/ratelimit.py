"""Request-rate limiters: one slot every ``1/rate`` seconds, for a process or for a whole database.

:class:`PostgresRateLimiter` is a GCRA over one row of ``amc.api_rate_limits``: a single atomic
upsert moves the bucket's ``next_slot_at`` one interval on and tells the caller its slot, so every
process on the database shares one schedule (twenty run workers send at the configured rate, not
twenty times it). ``penalize`` (a 429's Retry-After) pushes the bucket forward for everyone.
The database's clock is the only clock used, so processes on different hosts agree.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Protocol, runtime_checkable

from sqlalchemy import Engine, text

DEFAULT_BUCKET = "amc-api"

_RESERVE = text(
    """
    INSERT INTO amc.api_rate_limits AS b (bucket, next_slot_at)
    VALUES (:bucket, clock_timestamp() + make_interval(secs => :interval))
    ON CONFLICT (bucket) DO UPDATE
        SET next_slot_at = GREATEST(b.next_slot_at, clock_timestamp()) + make_interval(secs => :interval)
    RETURNING b.next_slot_at - make_interval(secs => :interval) AS slot,
              EXTRACT(EPOCH FROM (b.next_slot_at - make_interval(secs => :interval) - clock_timestamp())) AS wait
    """
)
_PENALIZE = text(
    """
    INSERT INTO amc.api_rate_limits AS b (bucket, next_slot_at)
    VALUES (:bucket, clock_timestamp() + make_interval(secs => :seconds))
    ON CONFLICT (bucket) DO UPDATE
        SET next_slot_at = GREATEST(b.next_slot_at, clock_timestamp() + make_interval(secs => :seconds))
    """
)


@runtime_checkable
class RateLimiter(Protocol):
    def acquire(self) -> None:
        """Block until this caller may send one request."""

    def penalize(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` from now (AMC said Retry-After)."""


def _check_rate(rate_per_second: float) -> float:
    if not rate_per_second > 0:
        raise ValueError(f"rate_per_second must be positive (AMC_API_RATE), not {rate_per_second}")
    return 1.0 / rate_per_second


class LocalRateLimiter:
    """The same schedule for the threads of one process (no database)."""

    def __init__(self, rate_per_second: float) -> None:
        self.interval = _check_rate(rate_per_second)
        self._lock = threading.Lock()
        self._next_slot = 0.0  # time.monotonic()

    def reserve(self) -> float:
        """The monotonic time of the caller's slot (booked; the caller must wait for it)."""
        with self._lock:
            slot = max(self._next_slot, time.monotonic())
            self._next_slot = slot + self.interval
            return slot

    def acquire(self) -> None:
        wait = self.reserve() - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def penalize(self, seconds: float) -> None:
        with self._lock:
            self._next_slot = max(self._next_slot, time.monotonic() + seconds)


class PostgresRateLimiter:
    """One schedule for every process using ``engine``'s database (needs migration 0002)."""

    def __init__(self, engine: Engine, rate_per_second: float, bucket: str = DEFAULT_BUCKET) -> None:
        self.interval = _check_rate(rate_per_second)
        self.engine = engine
        self.bucket = bucket

    def reserve(self) -> tuple[datetime, float]:
        """(slot time by the database clock, seconds from now until it) — booked for the caller."""
        with self.engine.begin() as connection:
            row = connection.execute(_RESERVE, {"bucket": self.bucket, "interval": self.interval}).one()
        return row.slot, float(row.wait)

    def acquire(self) -> None:
        _, wait = self.reserve()
        if wait > 0:
            time.sleep(wait)

    def penalize(self, seconds: float) -> None:
        with self.engine.begin() as connection:
            connection.execute(_PENALIZE, {"bucket": self.bucket, "seconds": float(seconds)})
