"""Paused backfills: ``amc.paused_backfills`` (Dagster has no pause; `amc backfill pause` records one here).

Revision ID: 0004_paused_backfills
Revises: 0003_execution_ledger
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_paused_backfills"
down_revision: str | None = "0003_execution_ledger"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "amc"


def upgrade() -> None:
    op.create_table(
        "paused_backfills",
        sa.Column("backfill_id", sa.Text(), nullable=False, comment="Dagster backfill id"),
        sa.Column("paused_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("resumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refused_partitions", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False,
                  comment="[{report, partition}] runs refused while paused"),
        sa.Column("resumed_as", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False,
                  comment="backfill ids launched by the resume"),
        sa.PrimaryKeyConstraint("backfill_id", name="pk_paused_backfills"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("paused_backfills", schema=SCHEMA)
