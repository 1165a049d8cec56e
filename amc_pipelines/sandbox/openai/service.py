"""The OpenAI stand-in as one object: configuration, script, request log, faults, ids, stored responses."""

from __future__ import annotations

import random
import threading
from collections import Counter, OrderedDict
from typing import Any

from .answers import Ids
from .config import OpenAIConfig, OpenAIFaultRates
from .script import RequestLog, Script


class OpenAIFaults:
    """Seeded request-fault draws (thread-safe); ``endpoints`` restricts them, ``limit`` stops them after N."""

    def __init__(self, rates: OpenAIFaultRates, *, seed: int = 7) -> None:
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self.configure(rates, seed=seed)

    def configure(self, rates: OpenAIFaultRates, *, seed: int = 7, endpoints: frozenset[str] | None = None,
                  limit: int | None = None) -> None:
        with self._lock:
            self.rates = rates
            self.endpoints = endpoints
            self._remaining = limit
            self._rng = random.Random(seed + 23)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"faults": str(self.rates), "endpoints": sorted(self.endpoints) if self.endpoints else None,
                    "remaining": self._remaining, "injected": dict(self.injected)}

    def draw(self, endpoint: str) -> str | None:
        """server_error / rate_limited / slow, or None."""
        with self._lock:
            rates = self.rates
            if not any(getattr(rates, kind) for kind in rates.REQUEST_KINDS):
                return None
            if self._remaining == 0 or (self.endpoints and endpoint not in self.endpoints):
                return None
            roll = self._rng.random()
            cumulative = 0.0
            for kind in rates.REQUEST_KINDS:
                cumulative += getattr(rates, kind)
                if roll < cumulative:
                    if self._remaining is not None:
                        self._remaining -= 1
                    self.injected[kind] += 1
                    return kind
            return None

    def server_status(self) -> int:
        with self._lock:
            return self._rng.choice((500, 503))


class OpenAIStandIn:
    """Shared by the ``/v1`` routes and the ``/_sandbox/openai`` controls."""

    def __init__(self, config: OpenAIConfig | None = None) -> None:
        self.config = config or OpenAIConfig()
        self.script = Script()
        self.requests = RequestLog()
        self.ids = Ids()
        self.faults = OpenAIFaults(self.config.faults, seed=self.config.seed)
        self._responses: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def store_response(self, response_id: str, context: list[dict[str, Any]], body: dict[str, Any]) -> None:
        """Keep a response for ``previous_response_id`` (its input items and output) and GET /v1/responses/{id}."""
        with self._lock:
            self._responses[response_id] = {"context": context + body["output"], "body": body}
            while len(self._responses) > self.config.max_stored_responses:
                self._responses.popitem(last=False)

    def stored_response(self, response_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._responses.get(response_id)

    def reset(self) -> None:
        """Forget the script, the requests, stored responses and ids; faults back to the configured ones."""
        self.script.clear()
        self.requests.clear()
        self.ids.reset()
        self.faults.configure(self.config.faults, seed=self.config.seed)
        self.faults.injected.clear()
        with self._lock:
            self._responses.clear()

    def close(self) -> None:
        self.reset()
