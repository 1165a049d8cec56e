"""Resources shared by every area."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import PrivateAttr

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from amc_pipelines.amc import AmcClient


# URLs migrated by this process: resources are rebuilt for every run, sensor and schedule tick, and
# checking Alembic each time would open a connection and read the migration scripts on every tick
# (docs/benchmarks.md has the cost).
_MIGRATED_URLS: set[str] = set()


class DatabaseResource(dg.ConfigurableResource):
    """The project's Postgres database, migrated to the newest revision on first use.

    ``url`` unset means what the settings say: ``AMC_DATABASE_URL``, or the embedded server under
    ``AMC_HOME``. Set it from an ``EnvVar`` in deployments so the URL never appears in run config.
    """

    url: str | None = None
    _engine: Engine | None = PrivateAttr(default=None)

    def resolved_url(self) -> str:
        from amc_pipelines.db import database_url
        from amc_pipelines.settings import get_settings

        return self.url or database_url(get_settings())

    def get_engine(self) -> Engine:
        # Imported lazily: every run process loads this module, most never touch the database.
        if self._engine is None:
            from amc_pipelines.db import get_engine, upgrade

            url = self.resolved_url()
            if url not in _MIGRATED_URLS:
                upgrade(url)
                _MIGRATED_URLS.add(url)
            self._engine = get_engine(url)
        return self._engine


class AmcClientResource(dg.ConfigurableResource):
    """The AMC Reporting API client of one run, throttled by the rate limiter that every process on
    the project database shares (``AMC_API_RATE``). Endpoint and credentials come from the settings
    (``AMC_API_URL``, ``AMC_CLIENT_ID``...), so secrets never enter run config."""

    @contextmanager
    def open_client(self, engine: Engine) -> Iterator[AmcClient]:
        from amc_pipelines.amc import AmcClient
        from amc_pipelines.amc.ratelimit import PostgresRateLimiter
        from amc_pipelines.settings import get_settings

        settings = get_settings()
        with AmcClient(settings, rate_limiter=PostgresRateLimiter(engine, settings.api_rate_per_second)) as client:
            yield client
