"""SQLAlchemy models of the control tables (Postgres schema ``amc``).

Migrations in ``migrations/versions`` are written by hand and must produce exactly these tables;
a test compares the migrated database with this metadata, so change both together.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, Integer, MetaData, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

CONTROL_SCHEMA = "amc"
REGIONS = ("NA", "EU", "FE")
WEEK_STARTS = ("monday", "sunday")
SOURCES = ("manual", "discovered")
MAX_DATA_LAG_HOURS = 720

# Named constraints, so later migrations can alter them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(schema=CONTROL_SCHEMA, naming_convention=NAMING_CONVENTION)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Instance(Base):
    """An AMC instance whose reports we collect (one Dagster partition key per instance)."""

    __tablename__ = "instances"
    __table_args__ = (
        CheckConstraint(_in("region", REGIONS), name="region"),
        CheckConstraint(_in("week_start", WEEK_STARTS), name="week_start"),
        CheckConstraint(_in("source", SOURCES), name="source"),
        CheckConstraint(f"data_lag_hours BETWEEN 0 AND {MAX_DATA_LAG_HOURS}", name="data_lag_hours"),
    )

    instance_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    account_id: Mapped[str] = mapped_column(Text, nullable=False, comment="AMC advertiser entity id")
    marketplace_id: Mapped[str] = mapped_column(Text, nullable=False)
    region: Mapped[str] = mapped_column(Text, nullable=False)
    timezone: Mapped[str] = mapped_column(Text, nullable=False, comment="IANA time zone of the advertiser")
    week_start: Mapped[str] = mapped_column(Text, nullable=False, server_default="monday")
    data_lag_hours: Mapped[int | None] = mapped_column(
        Integer, nullable=True, comment="NULL: the AMC_DATA_LAG_HOURS default"
    )
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    source: Mapped[str] = mapped_column(Text, nullable=False, server_default="manual")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


instances = Instance.__table__
