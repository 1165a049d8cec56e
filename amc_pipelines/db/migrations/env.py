"""Alembic environment: run by amc_pipelines.db.migrate (no alembic.ini needed).

All migrations of one call run in a single transaction that first takes a Postgres advisory
lock, so processes starting together (webserver, daemon, run workers) apply them exactly once:
the others wait, then find the database already at head.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from amc_pipelines.db.models import CONTROL_SCHEMA, Base

# Arbitrary constant shared by every process of this project ("amc" + "mig" in ASCII).
MIGRATION_LOCK_KEY = 0x616D636D6967

config = context.config


def _include_object(obj, name, type_, reflected, compare_to) -> bool:
    # Only our control schema is ours to compare: results and dbt schemas are managed elsewhere.
    if type_ == "table":
        return obj.schema == CONTROL_SCHEMA
    return True


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=Base.metadata,
        version_table_schema=CONTROL_SCHEMA,
        include_schemas=True,
        include_object=_include_object,
        compare_type=True,
        **kwargs,
    )


def run_offline() -> None:
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.execute(f"CREATE SCHEMA IF NOT EXISTS {CONTROL_SCHEMA}")
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        # The version table lives in the control schema, so the schema must exist before Alembic
        # looks for the table (the first migration also creates it, for --sql output).
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {CONTROL_SCHEMA}"))
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
