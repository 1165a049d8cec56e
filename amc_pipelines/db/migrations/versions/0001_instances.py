"""Control schema ``amc`` and the instance registry ``amc.instances``.

Revision ID: 0001_instances
Revises:
Create Date: 2025-11-23

Later tables (execution ledger, results bookkeeping) come as further revisions with
``down_revision`` pointing at the previous one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001_instances"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "amc"


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    op.create_table(
        "instances",
        sa.Column("instance_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("account_id", sa.Text(), nullable=False, comment="AMC advertiser entity id"),
        sa.Column("marketplace_id", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False, comment="IANA time zone of the advertiser"),
        sa.Column("week_start", sa.Text(), server_default="monday", nullable=False),
        sa.Column("data_lag_hours", sa.Integer(), nullable=True, comment="NULL: the AMC_DATA_LAG_HOURS default"),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("source", sa.Text(), server_default="manual", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("region IN ('NA', 'EU', 'FE')", name="ck_instances_region"),
        sa.CheckConstraint("week_start IN ('monday', 'sunday')", name="ck_instances_week_start"),
        sa.CheckConstraint("source IN ('manual', 'discovered')", name="ck_instances_source"),
        sa.CheckConstraint("data_lag_hours BETWEEN 0 AND 720", name="ck_instances_data_lag_hours"),
        sa.PrimaryKeyConstraint("instance_id", name="pk_instances"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    # The schema stays: Alembic's version table lives in it (migrate.downgrade drops both at base).
    op.drop_table("instances", schema=SCHEMA)
