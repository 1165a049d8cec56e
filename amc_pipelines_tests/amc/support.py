"""Helpers shared by the AMC client tests: a client pointed at a sandbox, an instance context, a window."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from amc_pipelines.amc import AmcClient, InstanceContext, RetryPolicy
from amc_pipelines.params import explicit_window
from amc_pipelines.settings import Settings

SQL = "SELECT campaign, SUM(impressions) AS impressions FROM dsp_impressions GROUP BY campaign"
# One row per campaign and day: enough rows to split into several files.
DAILY_SQL = (
    "SELECT campaign, impression_date, SUM(impressions) AS impressions FROM dsp_impressions "
    "GROUP BY campaign, impression_date"
)
# Short backoffs keep the retry tests fast; the attempt bound is what they check.
FAST_RETRY = RetryPolicy(max_attempts=4, base_backoff_seconds=0.01, max_backoff_seconds=0.05, max_elapsed_seconds=30)


def sandbox_settings(server: Any, **changes: Any) -> Settings:
    values = {
        "api_url": server.url,
        "token_url": f"{server.url}/auth/o2/token",
        "api_rate_per_second": 1000.0,
        "request_timeout_seconds": 5.0,
        **changes,
    }
    return replace(Settings.from_env({}), **values)


def sandbox_client(server: Any, *, retry: RetryPolicy = FAST_RETRY, settings: Settings | None = None, **kwargs: Any) -> AmcClient:
    return AmcClient(settings or sandbox_settings(server), retry=retry, **kwargs)


def context(server: Any, index: int = 0) -> InstanceContext:
    return InstanceContext.from_instance(server.backend.instances[index])


def recent_window(server: Any, timezone: str = "UTC"):
    """A week near the end of the sandbox's synthetic data, in the params module's TimeWindow."""
    last_day = server.backend.dataset.end_date
    return explicit_window(str(last_day - timedelta(days=10)), str(last_day - timedelta(days=3)), timezone=timezone)


def calls(server: Any, operation: str) -> int:
    return server.stats()["calls"].get(operation, 0)


def faults(server: Any, kind: str) -> int:
    return server.stats()["faults_injected"].get(kind, 0)
