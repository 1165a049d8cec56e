"""Resources shared by every area."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import PrivateAttr

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


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
            upgrade(url)
            self._engine = get_engine(url)
        return self._engine
