"""Apply the Alembic migrations shipped in ``amc_pipelines/db/migrations`` (no alembic.ini).

Alembic's version table is ``amc.alembic_version``. Downgrading to ``base`` also removes that
table and the then empty ``amc`` schema, so the database ends as it was before the first upgrade.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Connection, inspect, text

from amc_pipelines.db.engine import get_engine, normalize_url
from amc_pipelines.db.models import CONTROL_SCHEMA

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"

# Alembic's ``context``/``op`` proxies are module globals: one migration run per process at a
# time. Across processes, env.py serialises runs with a Postgres advisory lock.
_alembic_lock = threading.Lock()


def alembic_config(url: str | None = None):
    """A programmatic Alembic ``Config`` (for ``alembic`` commands such as ``revision``)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation treats "%" specially; URL-encoded passwords contain it.
        config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def head() -> str:
    """The newest revision shipped with the package."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads {heads}: merge them into one")
    return heads[0]


def current(url: str) -> str | None:
    """The revision the database is at, or None when no migration has been applied."""
    with get_engine(url).connect() as connection:
        return _current(connection)


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade to ``revision``; returns (revision before, revision after)."""
    return _run("upgrade", url, revision)


def downgrade(url: str, revision: str) -> tuple[str | None, str | None]:
    """Downgrade to ``revision`` (``base`` removes everything); returns (before, after)."""
    before, after = _run("downgrade", url, revision)
    if after is None:
        with get_engine(url).begin() as connection:
            _drop_empty_control_schema(connection)
    return before, after


def _run(direction: str, url: str, revision: str) -> tuple[str | None, str | None]:
    from alembic import command

    config = alembic_config(url)
    with _alembic_lock, get_engine(url).connect() as connection:
        before = _current(connection)
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)
        connection.commit()
        after = _current(connection)
    return before, after


def _current(connection: Connection) -> str | None:
    from alembic.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table_schema": CONTROL_SCHEMA})
    revision = context.get_current_revision()
    connection.rollback()  # reading the version must not leave a transaction open
    return revision


def _drop_empty_control_schema(connection: Connection) -> None:
    inspector = inspect(connection)
    if CONTROL_SCHEMA not in inspector.get_schema_names():
        return
    tables = set(inspector.get_table_names(schema=CONTROL_SCHEMA))
    if tables - {VERSION_TABLE}:
        return  # something else lives there; leave it alone
    connection.execute(text(f"DROP TABLE IF EXISTS {CONTROL_SCHEMA}.{VERSION_TABLE}"))
    connection.execute(text(f"DROP SCHEMA IF EXISTS {CONTROL_SCHEMA} RESTRICT"))
