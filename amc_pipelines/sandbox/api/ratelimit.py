"""Request rate limit: token buckets per client id (or one global bucket), AMC-style 429 answers."""

from __future__ import annotations

import math
import threading
import time


class TokenBucket:
    """``rate`` tokens a second up to ``burst``; ``take`` answers 0 or the seconds to wait."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def take(self) -> float:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


class RateLimiter:
    """Buckets keyed by client (or a single global one); thread-safe."""

    def __init__(self, rate: float | None, burst: int, scope: str = "client") -> None:
        self.rate = rate
        self.burst = burst
        self.scope = scope
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def retry_after(self, client_id: str | None) -> int | None:
        """None when the request may pass, else whole seconds for the ``Retry-After`` header (>= 1)."""
        if self.rate is None:
            return None
        key = "*" if self.scope == "global" else (client_id or "")
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
            wait = bucket.take()
        return None if wait == 0.0 else max(1, math.ceil(wait))

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
