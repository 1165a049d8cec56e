"""BigQuery refresh state: the audit of every table's refresh (``runs``), the checkpoint of a copy in
flight (``checkpoints``), what each target last loaded (``table_state``: watermark, source schema)
and shadow validations (``validations``), in schema ``refresh``; plus the schemas ``sqp_shadow``
(shadow copies of ``sqp`` tables) and ``refresh_staging`` (pages of a copy in flight, kept across a
killed process so that the copy resumes).

Revision ID: 0008_refresh_runs
Revises: 0007_refresh_config
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0008_refresh_runs"
down_revision: str | None = "0007_refresh_config"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "refresh"
RUN_MODES = ("dry_run", "shadow", "live")
RUN_STATUSES = ("running", "success", "warning", "failed", "skipped")
TARGET_SCHEMAS = ("sqp", "sqp_shadow")
CHECKPOINT_STATES = ("reading", "read")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS sqp_shadow")
    op.execute("CREATE SCHEMA IF NOT EXISTS refresh_staging")
    op.create_table(
        "runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("cycle_id", sa.Text(), nullable=False, comment="one refresh invocation over one or more tables"),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=True, comment="schema.table written; NULL for a dry run"),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows_read", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rows_inserted", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rows_updated", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rows_deleted", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("bytes_processed", sa.BigInteger(), nullable=True),
        sa.Column("job_id", sa.Text(), nullable=True, comment="BigQuery job id"),
        sa.Column("pages_read", sa.Integer(), server_default="0", nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("peak_memory_bytes", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("details", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("triggered_by", sa.Text(), nullable=True, comment="cli, or the Dagster run id"),
        sa.CheckConstraint(_in("mode", RUN_MODES), name="ck_runs_mode"),
        sa.CheckConstraint(_in("status", RUN_STATUSES), name="ck_runs_status"),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        schema=SCHEMA,
    )
    op.create_index("ix_runs_table_name_started_at", "runs", ["table_name", "started_at"], schema=SCHEMA)
    op.create_index("ix_runs_cycle_id", "runs", ["cycle_id"], schema=SCHEMA)
    op.create_table(
        "checkpoints",
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("target_schema", sa.Text(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False, comment="the refresh.runs row that started the copy"),
        sa.Column("job_id", sa.Text(), nullable=False),
        sa.Column("job_location", sa.Text(), nullable=True),
        sa.Column("page_token", sa.Text(), nullable=True, comment="of the next page to read; NULL: the first"),
        sa.Column("pages_loaded", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_staged", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("staging_table", sa.Text(), nullable=False, comment="in schema refresh_staging"),
        sa.Column("state", sa.Text(), nullable=False, comment="reading: pages left; read: all staged, upsert left"),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True, comment="lower bound of the watermark read"),
        sa.Column("details", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(_in("target_schema", TARGET_SCHEMAS), name="ck_checkpoints_target_schema"),
        sa.CheckConstraint(_in("state", CHECKPOINT_STATES), name="ck_checkpoints_state"),
        sa.PrimaryKeyConstraint("table_name", "target_schema", name="pk_checkpoints"),
        schema=SCHEMA,
    )
    op.create_table(
        "table_state",
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("target_schema", sa.Text(), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True, comment="highest watermark loaded"),
        sa.Column("source_schema", JSONB(), nullable=True, comment="BigQuery fields at the last load"),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(_in("target_schema", TARGET_SCHEMAS), name="ck_table_state_target_schema"),
        sa.PrimaryKeyConstraint("table_name", "target_schema", name="pk_table_state"),
        schema=SCHEMA,
    )
    op.create_table(
        "validations",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True, comment="the shadow refresh.runs row validated"),
        sa.Column("validated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("checks", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False,
                  comment="one object per check: name, passed, details"),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_validations"),
        schema=SCHEMA,
    )
    op.create_index("ix_validations_table_name_validated_at", "validations", ["table_name", "validated_at"],
                    schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("validations", schema=SCHEMA)
    op.drop_table("table_state", schema=SCHEMA)
    op.drop_table("checkpoints", schema=SCHEMA)
    op.drop_table("runs", schema=SCHEMA)
    op.execute("DROP SCHEMA IF EXISTS refresh_staging CASCADE")
    op.execute("DROP SCHEMA IF EXISTS sqp_shadow CASCADE")
