"""Configuration of the BigQuery stand-in, and parsing of its ``--bigquery-faults`` string.

``--bigquery-faults`` takes ``kind=rate`` pairs like the AMC sandbox's ``--faults``:
``5xx`` (500/503 backendError), ``429`` (403 rateLimitExceeded: BigQuery throttles with 403, not 429),
``quota`` (403 quotaExceeded, which clients do not retry), ``slow`` (a page answered
``slow_fault_seconds`` late), ``drop`` (connection closed without an answer), ``failed`` (a query job
ends with ``jobBackendError``) and ``expire`` (a job's results expire as a page of them is asked for).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from amc_pipelines.sandbox.api.config import ConfigError, format_fault_rates, parse_fault_rates

# --bigquery-faults key -> BigQueryFaultRates attribute.
BIGQUERY_FAULT_KEYS: dict[str, str] = {
    "5xx": "server_error",
    "429": "rate_limited",
    "quota": "quota_exceeded",
    "slow": "slow",
    "drop": "dropped",
    "failed": "failed",
    "expire": "expired",
}
BIGQUERY_SIZES = ("small", "demo", "large")


@dataclass(frozen=True)
class BigQueryFaultRates:
    """Probability of each injected fault.

    Request faults (``server_error``, ``rate_limited``, ``quota_exceeded``, ``slow``, ``dropped``) are
    drawn once per ``/bigquery/v2/*`` call, so their sum must stay <= 1; ``failed`` is drawn per query
    job, ``expired`` per request for a page of a job's results.
    """

    server_error: float = 0.0
    rate_limited: float = 0.0
    quota_exceeded: float = 0.0
    slow: float = 0.0
    dropped: float = 0.0
    failed: float = 0.0
    expired: float = 0.0

    REQUEST_KINDS = ("server_error", "rate_limited", "quota_exceeded", "slow", "dropped")

    @classmethod
    def parse(cls, text: str | None) -> BigQueryFaultRates:
        return parse_fault_rates(cls, text, BIGQUERY_FAULT_KEYS, option="--bigquery-faults",
                                 example="5xx=0.1,429=0.1,expire=0.05")

    def __str__(self) -> str:
        return format_fault_rates(self, BIGQUERY_FAULT_KEYS)


@dataclass(frozen=True)
class BigQueryConfig:
    """What the stand-in serves: one project in one location, data of one size as of ``now``."""

    project: str = "amc-sandbox"
    location: str = "US"
    dataset: str = "brand_analytics"
    size: str = "demo"
    seed: int = 7
    # The moment the synthetic data is generated for (weeks landed, corrections applied); None: the
    # project clock when the stand-in starts.
    now: datetime | None = None
    faults: BigQueryFaultRates = BigQueryFaultRates()
    slow_fault_seconds: float = 2.0
    # How long a query job's results stay readable (BigQuery keeps them about 24 h).
    result_ttl_seconds: float = 24 * 3600.0
    # Longest a jobs.query / getQueryResults call waits for its job (BigQuery's default is 10 s).
    max_wait_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.size not in BIGQUERY_SIZES:
            raise ConfigError(f"BigQuery stand-in size {self.size!r} is not valid: use small, demo or large.")
        if self.now is not None and self.now.tzinfo is None:
            raise ConfigError("BigQuery stand-in `now` must be an aware datetime (with its UTC offset).")
        if self.result_ttl_seconds <= 0 or self.max_wait_seconds <= 0:
            raise ConfigError("result_ttl_seconds and max_wait_seconds must be positive.")
