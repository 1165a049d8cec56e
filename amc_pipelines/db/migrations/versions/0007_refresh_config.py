"""BigQuery refresh configuration: operators' overrides of the YAML registry and their audit, in
schema ``refresh`` (never ``sqp``, which holds only the refreshed tables).

Revision ID: 0007_refresh_config
Revises: 0006_report_definitions
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007_refresh_config"
down_revision: str | None = "0006_report_definitions"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "refresh"
MODES = ("disabled", "dry_run", "shadow", "live")


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA {SCHEMA}")
    op.create_table(
        "table_settings",
        sa.Column("table_name", sa.Text(), nullable=False, comment="registry name of the table"),
        sa.Column("mode", sa.Text(), nullable=True, comment="NULL: the mode of the YAML file"),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.CheckConstraint(f"mode IS NULL OR mode IN ({', '.join(repr(m) for m in MODES)})", name="ck_table_settings_mode"),
        sa.PrimaryKeyConstraint("table_name", name="pk_table_settings"),
        schema=SCHEMA,
    )
    op.create_table(
        "config_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("changed_by", sa.Text(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("field", sa.Text(), nullable=False, comment="mode or enabled"),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_config_changes"),
        schema=SCHEMA,
    )
    op.create_index("ix_config_changes_table_name_changed_at", "config_changes", ["table_name", "changed_at"],
                    schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("config_changes", schema=SCHEMA)
    op.drop_table("table_settings", schema=SCHEMA)
    op.execute(f"DROP SCHEMA {SCHEMA} RESTRICT")
