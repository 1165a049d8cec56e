"""Result rows keyed by report definition: ``definition`` and ``parameters_hash`` on every ``amc_results`` table.

A partition used to be (instance, week) per template, so a run with other parameters replaced the
scheduled result. Each row now says which definition loaded it and with which parameters; the
loader replaces (definition, parameters_hash, instance, window) only. Rows loaded before this
revision came from the template's own runs: they go to its implicit definition (the template's
name), with the parameters hash their execution was recorded with in the ledger.

The result tables are created by the loader from the open catalog, so this revision walks whatever
tables the schema holds; tables created later get the columns from the loader.

Revision ID: 0005_results_by_definition
Revises: 0004_paused_backfills
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005_results_by_definition"
down_revision: str | None = "0004_paused_backfills"
branch_labels: str | None = None
depends_on: str | None = None

RESULTS_SCHEMA = "amc_results"
# A row whose execution the ledger does not know (loaded by hand): its parameters cannot be told.
UNKNOWN_PARAMETERS = "unknown"


def _result_tables(connection: sa.Connection) -> list[str]:
    return list(connection.execute(
        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :schema ORDER BY tablename"),
        {"schema": RESULTS_SCHEMA},
    ).scalars())


def _quoted(connection: sa.Connection, table: str) -> str:
    preparer = connection.dialect.identifier_preparer
    return f"{preparer.quote_schema(RESULTS_SCHEMA)}.{preparer.quote(table)}"


def upgrade() -> None:
    connection = op.get_bind()
    for table in _result_tables(connection):
        name = _quoted(connection, table)
        connection.execute(sa.text(f"ALTER TABLE {name} ADD COLUMN definition text, ADD COLUMN parameters_hash text"))
        connection.execute(sa.text(
            f"UPDATE {name} AS r SET definition = :table, parameters_hash = coalesce("
            f"(SELECT e.parameters_hash FROM amc.executions AS e WHERE e.amc_execution_id = r.amc_execution_id), "
            f":unknown)"
        ), {"table": table, "unknown": UNKNOWN_PARAMETERS})
        connection.execute(sa.text(
            f"ALTER TABLE {name} ALTER COLUMN definition SET NOT NULL, ALTER COLUMN parameters_hash SET NOT NULL"))
        connection.execute(sa.text(f"CREATE INDEX ON {name} (definition, instance_id, week_start)"))


def downgrade() -> None:
    connection = op.get_bind()
    for table in _result_tables(connection):
        name = _quoted(connection, table)
        # The old key is (instance, window) per template: keep the template's own rows, and of those
        # the latest load of each window.
        connection.execute(sa.text(
            f"DELETE FROM {name} WHERE definition <> :table "
            f"OR (instance_id, week_start, window_end, parameters_hash) NOT IN ("
            f"SELECT DISTINCT ON (instance_id, week_start, window_end) instance_id, week_start, window_end, "
            f"parameters_hash FROM {name} WHERE definition = :table "
            f"ORDER BY instance_id, week_start, window_end, loaded_at DESC)"
        ), {"table": table})
        connection.execute(sa.text(f"ALTER TABLE {name} DROP COLUMN definition, DROP COLUMN parameters_hash"))
