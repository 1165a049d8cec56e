"""Shared AMC API request-rate bucket ``amc.api_rate_limits`` (see amc_pipelines/amc/ratelimit.py).

Revision ID: 0002_api_rate_limit
Revises: 0001_instances
Create Date: 2025-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002_api_rate_limit"
down_revision: str | None = "0001_instances"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "amc"


def upgrade() -> None:
    op.create_table(
        "api_rate_limits",
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column(
            "next_slot_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="earliest time the next request may be sent",
        ),
        sa.PrimaryKeyConstraint("bucket", name="pk_api_rate_limits"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("api_rate_limits", schema=SCHEMA)
