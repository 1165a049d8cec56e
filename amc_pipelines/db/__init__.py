"""Postgres: URLs and engines, the embedded server, models and migrations.

Importing this package imports SQLAlchemy only; Alembic and pgserver load when first used.
"""

from amc_pipelines.db.engine import (
    database_url,
    dispose_engine,
    get_engine,
    libpq_url,
    normalize_url,
    psycopg2_url,
    redact_url,
)
from amc_pipelines.db.migrate import current, downgrade, head, upgrade

__all__ = [
    "current",
    "database_url",
    "dispose_engine",
    "downgrade",
    "get_engine",
    "head",
    "libpq_url",
    "normalize_url",
    "psycopg2_url",
    "redact_url",
    "upgrade",
]
