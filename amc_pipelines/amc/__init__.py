"""AMC Reporting API client: auth, requests, retries, rate limit, models, downloads (no Dagster).

>>> with AmcClient(get_settings(), rate_limiter=PostgresRateLimiter(engine, settings.api_rate_per_second)) as amc:
...     execution = amc.create_execution(InstanceContext.from_instance(instance), workflow_id=..., window=..., parameter_values={})
"""

from .client import AmcClient
from .errors import (
    AmcAmbiguousSubmit,
    AmcAuthError,
    AmcBadRequest,
    AmcConfigurationError,
    AmcDownloadError,
    AmcError,
    AmcNotFound,
    AmcServerError,
    AmcThrottled,
    AmcTransportError,
    AmcWaitTimeout,
)
from .models import TERMINAL_STATUSES, DownloadedFile, InstanceContext, WorkflowExecution
from .ratelimit import LocalRateLimiter, PostgresRateLimiter, RateLimiter
from .transport import RetryPolicy

__all__ = [
    "TERMINAL_STATUSES",
    "AmcAmbiguousSubmit",
    "AmcAuthError",
    "AmcBadRequest",
    "AmcClient",
    "AmcConfigurationError",
    "AmcDownloadError",
    "AmcError",
    "AmcNotFound",
    "AmcServerError",
    "AmcThrottled",
    "AmcTransportError",
    "AmcWaitTimeout",
    "DownloadedFile",
    "InstanceContext",
    "LocalRateLimiter",
    "PostgresRateLimiter",
    "RateLimiter",
    "RetryPolicy",
    "WorkflowExecution",
]
