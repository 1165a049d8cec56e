"""Execution ledger: ``amc.executions`` (one row per AMC execution attempt) and its status history.

Revision ID: 0003_execution_ledger
Revises: 0002_api_rate_limit
Create Date: 2025-11-24

A partial unique index allows one live attempt (not FAILED, REJECTED, CANCELLED or SUPERSEDED)
per execution key, so two processes can never both own the same partition's execution.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_execution_ledger"
down_revision: str | None = "0002_api_rate_limit"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "amc"
STATUSES = (
    "INTENDED", "SUBMITTED", "PENDING", "RUNNING", "SUCCEEDED", "LOADED",
    "FAILED", "REJECTED", "CANCELLED", "SUPERSEDED",
)
LIVE_WHERE = "status NOT IN ('FAILED', 'REJECTED', 'CANCELLED', 'SUPERSEDED')"


def upgrade() -> None:
    op.create_table(
        "executions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("execution_key", sa.Text(), nullable=False, comment="sha256 of the key fields"),
        sa.Column("instance_id", sa.Text(), nullable=False),
        sa.Column("report_name", sa.Text(), nullable=False),
        sa.Column("sql_hash", sa.Text(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=False), nullable=False, comment="local wall time"),
        sa.Column("window_end", sa.DateTime(timezone=False), nullable=False, comment="exclusive"),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("parameters_hash", sa.Text(), nullable=False),
        sa.Column("parameters", postgresql.JSONB(), nullable=False, comment="AMC parameterValues sent"),
        sa.Column("workflow_id", sa.Text(), nullable=False),
        sa.Column("amc_execution_id", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), server_default="1", nullable=False),
        sa.Column("forced", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("provisional", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("checksum", sa.Text(), nullable=True),
        sa.Column("file_count", sa.Integer(), nullable=True),
        sa.Column("api_calls", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(f"status IN ({', '.join(repr(s) for s in STATUSES)})", name="ck_executions_status"),
        sa.CheckConstraint("window_end > window_start", name="ck_executions_window"),
        sa.CheckConstraint("attempt >= 1", name="ck_executions_attempt"),
        sa.PrimaryKeyConstraint("id", name="pk_executions"),
        sa.UniqueConstraint("amc_execution_id", name="uq_executions_amc_execution_id"),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_executions_live_execution_key", "executions", ["execution_key"], unique=True,
        schema=SCHEMA, postgresql_where=sa.text(LIVE_WHERE),
    )
    op.create_index(
        "ix_executions_report_name_instance_id_window_start", "executions",
        ["report_name", "instance_id", "window_start"], schema=SCHEMA,
    )
    op.create_index("ix_executions_status", "executions", ["status"], schema=SCHEMA)
    op.create_table(
        "execution_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("execution_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"], [f"{SCHEMA}.executions.id"],
            name="fk_execution_events_execution_id_executions", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_execution_events"),
        schema=SCHEMA,
    )
    op.create_index("ix_execution_events_execution_id", "execution_events", ["execution_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("execution_events", schema=SCHEMA)
    op.drop_table("executions", schema=SCHEMA)
