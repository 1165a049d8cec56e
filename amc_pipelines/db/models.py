"""SQLAlchemy models of the control tables (Postgres schema ``amc``).

Migrations in ``migrations/versions`` are written by hand and must produce exactly these tables;
a test compares the migrated database with this metadata, so change both together.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
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


# ---- execution ledger (migration 0003_execution_ledger) -------------------------------------------

# Statuses of one execution attempt (see amc_pipelines/ledger.py for the allowed transitions).
EXECUTION_STATUSES = (
    "INTENDED", "SUBMITTED", "PENDING", "RUNNING", "SUCCEEDED", "LOADED",
    "FAILED", "REJECTED", "CANCELLED", "SUPERSEDED",
)
# Rows in these states no longer stand for the partition: another attempt may be live beside them.
RETIRED_STATUSES = ("FAILED", "REJECTED", "CANCELLED", "SUPERSEDED")
LIVE_EXECUTION_WHERE = f"status NOT IN ({', '.join(repr(s) for s in RETIRED_STATUSES)})"


class Execution(Base):
    """One attempt at one AMC execution of a report for an instance and window (the ledger)."""

    __tablename__ = "executions"
    __table_args__ = (
        CheckConstraint(_in("status", EXECUTION_STATUSES), name="status"),
        CheckConstraint("window_end > window_start", name="window"),
        CheckConstraint("attempt >= 1", name="attempt"),
        # At most one live attempt per execution key: the database's own guard against duplicates.
        Index("uq_executions_live_execution_key", "execution_key", unique=True,
              postgresql_where=text(LIVE_EXECUTION_WHERE)),
        Index("ix_executions_report_name_instance_id_window_start", "report_name", "instance_id", "window_start"),
        Index("ix_executions_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    execution_key: Mapped[str] = mapped_column(Text, nullable=False, comment="sha256 of the key fields")
    instance_id: Mapped[str] = mapped_column(Text, nullable=False)
    report_name: Mapped[str] = mapped_column(Text, nullable=False)
    sql_hash: Mapped[str] = mapped_column(Text, nullable=False)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False, comment="local wall time")
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False, comment="exclusive")
    timezone: Mapped[str] = mapped_column(Text, nullable=False)
    parameters_hash: Mapped[str] = mapped_column(Text, nullable=False)
    parameters: Mapped[dict] = mapped_column(JSONB, nullable=False, comment="AMC parameterValues sent")
    workflow_id: Mapped[str] = mapped_column(Text, nullable=False)
    amc_execution_id: Mapped[str | None] = mapped_column(Text, nullable=True, unique=True)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    forced: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    provisional: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    rows: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    checksum: Mapped[str | None] = mapped_column(Text, nullable=True)
    file_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    api_calls: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    loaded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class ExecutionEvent(Base):
    """Status history of an execution attempt: every transition, with when and why."""

    __tablename__ = "execution_events"
    __table_args__ = (Index("ix_execution_events_execution_id", "execution_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    execution_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("executions.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(Text, nullable=False)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


executions = Execution.__table__
execution_events = ExecutionEvent.__table__


# ---- shared AMC API rate limit (migration 0002_api_rate_limit) -------------------------------------


class ApiRateLimit(Base):
    """One request-rate bucket shared by every process on this database (amc/ratelimit.py)."""

    __tablename__ = "api_rate_limits"

    bucket: Mapped[str] = mapped_column(Text, primary_key=True)
    next_slot_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, comment="earliest time the next request may be sent"
    )


api_rate_limits = ApiRateLimit.__table__


# ---- paused backfills (migration 0004_paused_backfills) --------------------------------------------


class PausedBackfill(Base):
    """A Dagster partition backfill that `amc backfill pause` stopped from submitting to AMC.

    Dagster has no pause: while ``resumed_at`` is NULL, a run of this backfill refuses to submit a
    new AMC execution and records its partition in ``refused_partitions``; ``amc backfill resume``
    sets ``resumed_at`` and launches those partitions again as ``resumed_as``.
    """

    __tablename__ = "paused_backfills"

    backfill_id: Mapped[str] = mapped_column(Text, primary_key=True, comment="Dagster backfill id")
    paused_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    resumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    refused_partitions: Mapped[list] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb"),
        comment="[{report, partition}] runs refused while paused",
    )
    resumed_as: Mapped[list] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb"), comment="backfill ids launched by the resume",
    )


paused_backfills = PausedBackfill.__table__


# ---- report definitions for the marts (migration 0006_report_definitions) ---------------------------


class ReportDefinitionRow(Base):
    """A report definition with its current parameters hash, copied from the catalog before each dbt run.

    The marts read a template's own definition (named like the template) with this hash only, so
    rows of ad hoc runs and rows loaded with older default parameters never count
    (``amc_pipelines.marts.sync_report_definitions`` replaces the table; nothing else writes it).
    """

    __tablename__ = "report_definitions"

    name: Mapped[str] = mapped_column(
        Text, primary_key=True, comment="definition name (an implicit one is named like its template)"
    )
    template: Mapped[str] = mapped_column(
        Text, nullable=False, comment="catalog report: the result table amc_results.<template>"
    )
    parameters_hash: Mapped[str] = mapped_column(
        Text, nullable=False, comment="hash of the definition's current parameters"
    )
    implicit: Mapped[bool] = mapped_column(Boolean, nullable=False)
    parameters: Mapped[dict] = mapped_column(JSONB, nullable=False)
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


report_definitions = ReportDefinitionRow.__table__


# ---- BigQuery refresh: operator overrides and their audit (migration 0007_refresh_config) ------------
# Schema ``refresh``, never ``sqp`` (which holds only refreshed tables). Its own metadata, because the
# migration tests compare ``Base`` with the control schema ``amc`` alone.

REFRESH_SCHEMA = "refresh"
REFRESH_MODES = ("disabled", "dry_run", "shadow", "live")


class RefreshBase(DeclarativeBase):
    metadata = MetaData(schema=REFRESH_SCHEMA, naming_convention=NAMING_CONVENTION)


class RefreshTableSetting(RefreshBase):
    """An operator's override of a refreshed table's YAML config (`amc refresh config set`)."""

    __tablename__ = "table_settings"
    __table_args__ = (CheckConstraint(f"mode IS NULL OR {_in('mode', REFRESH_MODES)}", name="mode"),)

    table_name: Mapped[str] = mapped_column(Text, primary_key=True, comment="registry name of the table")
    mode: Mapped[str | None] = mapped_column(Text, nullable=True, comment="NULL: the mode of the YAML file")
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_by: Mapped[str] = mapped_column(Text, nullable=False)


class RefreshConfigChange(RefreshBase):
    """One changed field of one table's settings: who, when, old and new effective value."""

    __tablename__ = "config_changes"
    __table_args__ = (Index("ix_config_changes_table_name_changed_at", "table_name", "changed_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    changed_by: Mapped[str] = mapped_column(Text, nullable=False)
    table_name: Mapped[str] = mapped_column(Text, nullable=False)
    field: Mapped[str] = mapped_column(Text, nullable=False, comment="mode or enabled")
    old_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    new_value: Mapped[str | None] = mapped_column(Text, nullable=True)


refresh_table_settings = RefreshTableSetting.__table__
refresh_config_changes = RefreshConfigChange.__table__


# ---- BigQuery refresh: audit, checkpoints, loaded state, validations (migration 0008_refresh_runs) ----

REFRESH_RUN_MODES = ("dry_run", "shadow", "live")
REFRESH_RUN_STATUSES = ("running", "success", "warning", "failed", "skipped")
REFRESH_TARGET_SCHEMAS = ("sqp", "sqp_shadow")
REFRESH_CHECKPOINT_STATES = ("reading", "read")
SHADOW_SCHEMA = "sqp_shadow"
STAGING_SCHEMA = "refresh_staging"


class RefreshRun(RefreshBase):
    """The audit row of one table's refresh in one cycle (``amc refresh history``)."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(_in("mode", REFRESH_RUN_MODES), name="mode"),
        CheckConstraint(_in("status", REFRESH_RUN_STATUSES), name="status"),
        Index("ix_runs_table_name_started_at", "table_name", "started_at"),
        Index("ix_runs_cycle_id", "cycle_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    cycle_id: Mapped[str] = mapped_column(Text, nullable=False, comment="one refresh invocation over one or more tables")
    table_name: Mapped[str] = mapped_column(Text, nullable=False)
    mode: Mapped[str] = mapped_column(Text, nullable=False)
    target: Mapped[str | None] = mapped_column(Text, nullable=True, comment="schema.table written; NULL for a dry run")
    status: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rows_read: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    rows_inserted: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    rows_updated: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    rows_deleted: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    bytes_processed: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    job_id: Mapped[str | None] = mapped_column(Text, nullable=True, comment="BigQuery job id")
    pages_read: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    triggered_by: Mapped[str | None] = mapped_column(Text, nullable=True, comment="cli, or the Dagster run id")


class RefreshCheckpoint(RefreshBase):
    """A copy in flight: the BigQuery job, the next page to read, the pages staged so far."""

    __tablename__ = "checkpoints"
    __table_args__ = (
        CheckConstraint(_in("target_schema", REFRESH_TARGET_SCHEMAS), name="target_schema"),
        CheckConstraint(_in("state", REFRESH_CHECKPOINT_STATES), name="state"),
    )

    table_name: Mapped[str] = mapped_column(Text, primary_key=True)
    target_schema: Mapped[str] = mapped_column(Text, primary_key=True)
    run_id: Mapped[int] = mapped_column(BigInteger, nullable=False, comment="the refresh.runs row that started the copy")
    job_id: Mapped[str] = mapped_column(Text, nullable=False)
    job_location: Mapped[str | None] = mapped_column(Text, nullable=True)
    page_token: Mapped[str | None] = mapped_column(Text, nullable=True, comment="of the next page to read; NULL: the first")
    pages_loaded: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    rows_staged: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    staging_table: Mapped[str] = mapped_column(Text, nullable=False, comment="in schema refresh_staging")
    state: Mapped[str] = mapped_column(Text, nullable=False, comment="reading: pages left; read: all staged, upsert left")
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True,
                                                   comment="lower bound of the watermark read")
    details: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class RefreshTableState(RefreshBase):
    """What a target (live or shadow) last loaded: the watermark and the source's schema."""

    __tablename__ = "table_state"
    __table_args__ = (CheckConstraint(_in("target_schema", REFRESH_TARGET_SCHEMAS), name="target_schema"),)

    table_name: Mapped[str] = mapped_column(Text, primary_key=True)
    target_schema: Mapped[str] = mapped_column(Text, primary_key=True)
    watermark: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True,
                                                       comment="highest watermark loaded")
    source_schema: Mapped[list | None] = mapped_column(JSONB, nullable=True, comment="BigQuery fields at the last load")
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class RefreshValidation(RefreshBase):
    """One comparison of a shadow table with its live table (cutover needs the last N passed)."""

    __tablename__ = "validations"
    __table_args__ = (Index("ix_validations_table_name_validated_at", "table_name", "validated_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    table_name: Mapped[str] = mapped_column(Text, nullable=False)
    run_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, comment="the shadow refresh.runs row validated")
    validated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    checks: Mapped[list] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"),
                                         comment="one object per check: name, passed, details")
    summary: Mapped[str] = mapped_column(Text, nullable=False)


refresh_runs = RefreshRun.__table__
refresh_checkpoints = RefreshCheckpoint.__table__
refresh_table_state = RefreshTableState.__table__
refresh_validations = RefreshValidation.__table__
