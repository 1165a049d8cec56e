"""Report definitions as the marts see them: ``amc.report_definitions``.

The marts (dbt) read each template's own definition with its CURRENT parameters hash only; the
definitions live in YAML (the catalog), so this table is a copy that
``amc_pipelines.marts.sync_report_definitions`` replaces from ``load_definitions(...)`` right before
every dbt run. Nothing else writes it.

Revision ID: 0006_report_definitions
Revises: 0005_results_by_definition
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_report_definitions"
down_revision: str | None = "0005_results_by_definition"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "amc"


def upgrade() -> None:
    op.create_table(
        "report_definitions",
        sa.Column("name", sa.Text(), nullable=False, comment="definition name (an implicit one is named like its template)"),
        sa.Column("template", sa.Text(), nullable=False, comment="catalog report: the result table amc_results.<template>"),
        sa.Column("parameters_hash", sa.Text(), nullable=False, comment="hash of the definition's current parameters"),
        sa.Column("implicit", sa.Boolean(), nullable=False),
        sa.Column("parameters", postgresql.JSONB(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_report_definitions"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("report_definitions", schema=SCHEMA)
