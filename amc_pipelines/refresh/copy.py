"""Copy ONE refreshed table from BigQuery into Postgres: a dry run, a shadow copy or the live copy.

1. An audit row (``refresh.runs``, status ``running``) is committed first. A copy of one table into
   one schema holds a session advisory lock, so two processes never copy it at once; audit rows the
   lock's previous holder left ``running`` (a killed process) are closed as failed.
2. A checkpoint (``refresh.checkpoints``) left by a killed copy resumes it: same job, next page token,
   or straight to the upsert when every page was staged. Otherwise the source's schema (tables.get,
   or a dry-run job for a query source) is checked against the target's columns (schema drift) and
   the columns the config names, before anything runs in BigQuery.
3. The read query (rows whose watermark >= the last loaded watermark - overlap; with a partition
   column, every row of those weeks; everything on a first load or when the target is missing) runs
   as one job. Its pages are read from the job's destination table; each page is COPYed into the
   staging table ``refresh_staging.<target>__<schema>`` and the checkpoint advanced in ONE
   transaction, so a killed process re-reads at most the page it was loading. Expired results (404)
   drop the staging table and the checkpoint and restart the table with a new job (at most
   ``MAX_RESTARTS`` times).
4. In ONE transaction: the target is created (or given the added columns, ``on_schema_drift:
   add_columns``), rows are upserted (an unchanged row is not written), rows of the weeks read that
   the source no longer has are deleted (``on_source_delete: delete``), the table's state (watermark,
   source schema) saved, the checkpoint deleted, the staging table dropped and the audit row finished.

A dry run reads the same rows into a temporary table, counts what the copy would insert, update and
delete per week against the live table, and writes nothing but its audit row.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from amc_pipelines.catalog.loader import show_path
from amc_pipelines.db.models import (
    SHADOW_SCHEMA,
    refresh_checkpoints,
    refresh_runs,
    refresh_table_state,
)
from amc_pipelines.refresh import postgres as pg
from amc_pipelines.refresh import source
from amc_pipelines.refresh.models import TARGET_SCHEMA, TableConfig
from amc_pipelines.refresh.overrides import EffectiveTable
from amc_pipelines.refresh.source import Field, RefreshError, ResultsExpired

RUN_MODES = ("dry_run", "shadow", "live")
MAX_RESTARTS = 3  # new jobs after expired results, per copy
LOCK_TIMEOUT = "10s"  # waiting for another process's copy of the same table to end
DRY_RUN_STAGING = "_refresh_dry_run"


@dataclass
class TableOutcome:
    table: str
    mode: str  # "dry_run" | "shadow" | "live"
    status: str  # "success" | "warning" | "failed" | "skipped"
    run_id: int | None  # refresh.runs id (None only if even the audit row could not be written)
    target: str | None  # "sqp.t" / "sqp_shadow.t"; None for dry_run and skipped
    rows_read: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0
    bytes_processed: int | None = None
    job_id: str | None = None
    pages_read: int = 0
    duration_seconds: float = 0.0
    peak_memory_bytes: int | None = None
    error: str | None = None
    # weeks: {week: {read, inserted, updated, deleted}} (a dry run: what a copy would write);
    # resumed, resumed_from_page, restarted, since, watermark, schema_drift, warnings; on failure
    # retryable (whether running again soon may succeed).
    details: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """The JSON of ``amc refresh run --json`` for this table."""
        return {
            "table": self.table, "status": self.status, "rows_read": self.rows_read,
            "rows_inserted": self.rows_inserted, "rows_updated": self.rows_updated, "rows_deleted": self.rows_deleted,
            "mode": self.mode, "target": self.target, "bytes_processed": self.bytes_processed,
            "job_id": self.job_id, "run_id": self.run_id, "error": self.error,
        }


def target_schema_for(mode: str) -> str:
    """``sqp`` for live, ``sqp_shadow`` for shadow (a dry run compares with ``sqp``)."""
    if mode == "shadow":
        return SHADOW_SCHEMA
    if mode in ("live", "dry_run"):
        return TARGET_SCHEMA
    raise ValueError(f"unknown refresh mode {mode!r}: use one of {', '.join(RUN_MODES)}")


def _now(clock: Callable[[], datetime] | None) -> datetime:
    from amc_pipelines import clock as project_clock

    # Looked up at call time: the test suite replaces project_clock.now.
    return clock() if clock is not None else project_clock.now()


class _PeakMemory:
    """The process's resident memory, sampled at each page and step; the highest seen."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.peak = 0
        self.sample()

    def sample(self) -> None:
        self.peak = max(self.peak, self._process.memory_info().rss)


# ---- audit rows ------------------------------------------------------------------------------------

def _start_run(engine: Engine, table: EffectiveTable, mode: str, target: str | None, cycle_id: str,
               triggered_by: str, started_at: datetime, status: str = "running", **values: Any) -> int:
    with engine.begin() as conn:
        return conn.execute(insert(refresh_runs).values(
            cycle_id=cycle_id, table_name=table.name, mode=mode, target=target, status=status,
            started_at=started_at, triggered_by=triggered_by, **values).returning(refresh_runs.c.id)).scalar_one()


def _finish_values(outcome: TableOutcome, finished_at: datetime) -> dict[str, Any]:
    return {
        "status": outcome.status, "finished_at": finished_at, "rows_read": outcome.rows_read,
        "rows_inserted": outcome.rows_inserted, "rows_updated": outcome.rows_updated,
        "rows_deleted": outcome.rows_deleted, "bytes_processed": outcome.bytes_processed, "job_id": outcome.job_id,
        "pages_read": outcome.pages_read, "duration_seconds": outcome.duration_seconds,
        "peak_memory_bytes": outcome.peak_memory_bytes, "error": outcome.error, "details": outcome.details,
    }


def record_skipped(engine: Engine, table: EffectiveTable, *, mode: str, cycle_id: str, triggered_by: str,
                   reason: str, clock: Callable[[], datetime] | None = None) -> TableOutcome:
    """An audit row with status ``skipped`` (a hard dependency failed), already finished."""
    target_schema_for(mode)
    now = _now(clock)
    outcome = TableOutcome(table.name, mode, "skipped", None, None, error=reason, details={"reason": reason})
    outcome.run_id = _start_run(engine, table, mode, None, cycle_id, triggered_by, now,
                                **_finish_values(outcome, now))
    return outcome


# ---- the copy --------------------------------------------------------------------------------------

def copy_table(engine: Engine, client: Any, table: EffectiveTable, *, mode: str, cycle_id: str, triggered_by: str,
               clock: Callable[[], datetime] | None = None, retry: Any = None, job_retry: Any = None) -> TableOutcome:
    """Copy ``table`` (see the module docstring). Never raises for a refresh failure: the outcome (and
    its audit row) has status ``failed`` and the error. ``retry`` / ``job_retry``: the client's retry
    policies (default: google-cloud-bigquery's DEFAULT_RETRY and DEFAULT_JOB_RETRY)."""
    from google.cloud.bigquery import DEFAULT_RETRY
    from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY

    target_schema = target_schema_for(mode)
    config = table.config
    target = None if mode == "dry_run" else f"{target_schema}.{config.target_table}"
    began = time.perf_counter()
    memory = _PeakMemory()
    outcome = TableOutcome(config.name, mode, "running", None, target)
    try:
        outcome.run_id = _start_run(engine, table, mode, target, cycle_id, triggered_by, _now(clock))
    except _failures() as error:
        outcome.status, outcome.error = "failed", f"cannot write the audit row: {_message(error)}"
        return outcome
    work = _Copy(engine, client, config, outcome, target_schema, memory, clock, began,
                 DEFAULT_RETRY if retry is None else retry, DEFAULT_JOB_RETRY if job_retry is None else job_retry)
    try:
        work.dry_run() if mode == "dry_run" else work.copy()
    except RefreshError as error:
        outcome.status, outcome.error = "failed", str(error)
        outcome.details["retryable"] = error.retryable
    except _failures() as error:
        outcome.status, outcome.error = "failed", _message(error)
        outcome.details["retryable"] = _transient(error)
    except BaseException as error:  # a programming error: record it, then let it propagate
        outcome.status, outcome.error = "failed", f"internal error: {error!r}"
        raise
    finally:
        if not work.finished:  # a successful copy finished its audit row in the upsert's transaction
            memory.sample()
            outcome.duration_seconds = time.perf_counter() - began
            outcome.peak_memory_bytes = memory.peak
            if outcome.status == "running":
                outcome.status = "success"
            with contextlib.suppress(*_failures()), engine.begin() as conn:
                conn.execute(update(refresh_runs).where(refresh_runs.c.id == outcome.run_id)
                             .values(**_finish_values(outcome, _now(clock))))
    return outcome


@functools.cache
def _failures() -> tuple[type[BaseException], ...]:
    """What a refresh can meet from BigQuery, the network and Postgres (imported when first needed)."""
    import concurrent.futures

    import psycopg
    import requests
    from google.api_core.exceptions import GoogleAPIError
    from sqlalchemy.exc import SQLAlchemyError

    return (GoogleAPIError, requests.RequestException, concurrent.futures.TimeoutError, psycopg.Error,
            SQLAlchemyError, OSError)



def _message(error: BaseException) -> str:
    import psycopg
    from google.api_core.exceptions import GoogleAPICallError, RetryError

    if isinstance(error, RetryError) and error.cause is not None:
        return f"BigQuery: gave up retrying: {_message(error.cause)}"
    if isinstance(error, GoogleAPICallError):
        return f"BigQuery: {error.code} {error.message}".strip()
    orig = getattr(error, "orig", None) or error  # SQLAlchemy wraps the driver's error
    if isinstance(orig, psycopg.errors.CardinalityViolation):
        return ("the source has more than one row for the same key_columns, so a row cannot be upserted twice: "
                f"fix key_columns in the table's file ({orig.diag.message_primary})")
    return f"{type(orig).__name__}: {str(orig).strip()}"


def _transient(error: BaseException) -> bool:
    """A failure that running again soon may not meet: BigQuery's retries gave up (5xx, rate limits,
    timeouts), the network, or the connection to Postgres. Not: a bad query, a missing source, a quota,
    a value Postgres refuses."""
    import concurrent.futures

    import psycopg
    import requests
    from google.api_core.exceptions import RetryError, ServerError, TooManyRequests
    from sqlalchemy.exc import DBAPIError

    orig = error.orig if isinstance(error, DBAPIError) else error
    return isinstance(orig, RetryError | ServerError | TooManyRequests | requests.RequestException
                      | concurrent.futures.TimeoutError | psycopg.OperationalError | psycopg.InterfaceError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated)


def _keeps_checkpoint(error: BaseException) -> bool:
    """Worth resuming from the checkpoint: BigQuery or the connection to Postgres failed. Any other
    failure (a value Postgres refuses, duplicate keys, schema drift) would fail again on the same
    staged rows: the next run starts afresh."""
    import psycopg
    from google.api_core.exceptions import GoogleAPIError
    from sqlalchemy.exc import DBAPIError

    orig = error.orig if isinstance(error, DBAPIError) else error
    return isinstance(orig, GoogleAPIError | psycopg.OperationalError | psycopg.InterfaceError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated)


@dataclass
class _Copy:
    engine: Engine
    client: Any
    config: TableConfig
    outcome: TableOutcome
    target_schema: str
    memory: _PeakMemory
    clock: Callable[[], datetime] | None
    began: float
    retry: Any
    job_retry: Any
    finished: bool = False  # the audit row was finished with the upsert

    @property
    def key(self) -> dict[str, str]:
        return {"table_name": self.config.name, "target_schema": self.target_schema}

    @property
    def target_table(self) -> str:
        return self.config.target_table

    def _where(self, table: Any) -> Any:
        return (table.c.table_name == self.config.name) & (table.c.target_schema == self.target_schema)

    def _checkpoint(self, conn: Connection) -> Any:
        with conn.begin():
            return conn.execute(select(refresh_checkpoints).where(self._where(refresh_checkpoints))).first()

    def _target_columns(self, conn: Connection) -> dict[str, str] | None:
        with conn.begin():
            return pg.table_columns(_driver(conn), self.target_schema, self.target_table)

    # ---- live and shadow ----------------------------------------------------------------------------

    def copy(self) -> None:
        self.outcome.details.update(resumed=False, restarted=0)
        with self.engine.connect() as conn, self._locked(conn):
            self._close_abandoned_runs(conn)
            try:
                checkpoint = self._checkpoint(conn)
                if checkpoint is not None:
                    self._adopt(conn, checkpoint)
                checkpoint = self._read(conn, checkpoint)
                self._upsert(conn, checkpoint)
            except BaseException as error:
                if isinstance(error, Exception) and not _keeps_checkpoint(error):
                    self._forget_checkpoint()
                raise

    def _read(self, conn: Connection, checkpoint: Any) -> Any:
        """Every page staged (from the checkpoint, or from a new job); returns the checkpoint."""
        restarts = 0
        while True:
            if checkpoint is None:
                checkpoint = self._start_read(conn)
            try:
                return self._read_pages(conn, checkpoint)
            except ResultsExpired as error:
                restarts += 1
                self.outcome.details["restarted"] = restarts
                self._forget_checkpoint(conn)
                if restarts > MAX_RESTARTS:
                    raise RefreshError(f"the results of BigQuery job {checkpoint.job_id} expired before all pages were "
                                       f"read, for the {restarts}th time ({error}); the table was not changed",
                                       retryable=True) from error
                checkpoint = None

    def _forget_checkpoint(self, conn: Connection | None = None) -> None:
        """Drop the staging table and the checkpoint (on a fresh connection when none is given: the
        current one may be in a failed transaction)."""
        name = pg.staging_name(self.target_table, self.target_schema)
        with contextlib.ExitStack() as stack:
            if conn is None:
                conn = stack.enter_context(self.engine.connect())
            elif conn.in_transaction():
                conn.rollback()
            with contextlib.suppress(*_failures()), conn.begin():
                pg.drop_staging(_driver(conn), name)
                conn.execute(delete(refresh_checkpoints).where(self._where(refresh_checkpoints)))

    @contextlib.contextmanager
    def _locked(self, conn: Connection) -> Iterator[None]:
        """A session advisory lock on (table, schema) for the whole copy; a killed holder's
        connection ends and frees it."""
        import psycopg

        name = f"refresh:{self.config.name}:{self.target_schema}"
        try:
            with conn.begin():
                _driver(conn).execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                _driver(conn).execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (name,))
        except Exception as error:
            if isinstance(getattr(error, "orig", error), psycopg.errors.LockNotAvailable):
                raise RefreshError(f"another process is copying {self.config.name} into {self.target_schema} "
                                   f"(it held the lock for {LOCK_TIMEOUT}); this run did nothing", retryable=True) from None
            raise
        try:
            yield
        finally:
            try:
                if conn.in_transaction():
                    conn.rollback()
                with conn.begin():
                    _driver(conn).execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (name,))
            except _failures():
                conn.invalidate()  # never back to the pool holding the lock

    def _close_abandoned_runs(self, conn: Connection) -> None:
        """Audit rows of this table and target left running: their process died (we hold the lock)."""
        runs = refresh_runs
        with conn.begin():
            conn.execute(update(runs).where(
                (runs.c.table_name == self.config.name) & (runs.c.target == self.outcome.target)
                & (runs.c.status == "running") & (runs.c.id != self.outcome.run_id)
            ).values(status="failed", finished_at=_now(self.clock),
                     error=f"interrupted: the process ended before the copy finished; run {self.outcome.run_id} "
                           "took over (resuming from its checkpoint if there was one)"))

    def _adopt(self, conn: Connection, checkpoint: Any) -> None:
        details = self.outcome.details
        details.update(resumed=True, resumed_from_page=checkpoint.pages_loaded, resumed_run_id=checkpoint.run_id)
        if checkpoint.since is not None:
            details["since"] = checkpoint.since.isoformat()
        self.outcome.job_id = checkpoint.job_id
        self.outcome.bytes_processed = checkpoint.details.get("bytes_processed")
        with conn.begin():
            conn.execute(update(refresh_checkpoints).where(self._where(refresh_checkpoints))
                         .values(run_id=self.outcome.run_id, updated_at=_now(self.clock)))

    def _prepare_read(self, conn: Connection, target_columns: dict[str, str] | None
                      ) -> tuple[list[Field], datetime | None]:
        """The source's fields (checked for drift) and the lower bound of the read (None: all rows)."""
        fields = source.source_fields(self.client, self.config, retry=self.retry)
        _check_drift(self.config, self.target_schema, fields, target_columns, self.outcome.details)
        with conn.begin():
            state = conn.execute(select(refresh_table_state).where(self._where(refresh_table_state))).first()
        # A missing target is loaded in full, whatever the state says (it was dropped, or never made).
        if target_columns is None or state is None or state.watermark is None or self.config.watermark is None:
            return fields, None
        since = state.watermark - self.config.watermark.overlap
        self.outcome.details["since"] = since.isoformat()
        return fields, since

    def _start_read(self, conn: Connection) -> Any:
        fields, since = self._prepare_read(conn, self._target_columns(conn))
        query, parameters = source.read_query(self.client, self.config, fields, since)
        job = source.run_query(self.client, query, parameters, self.config, retry=self.retry, job_retry=self.job_retry)
        self.outcome.job_id, self.outcome.bytes_processed = job.job_id, job.bytes_processed
        staging = pg.staging_name(self.target_table, self.target_schema)
        now = _now(self.clock)
        with conn.begin():
            pg.create_staging(_driver(conn), staging, job.fields)
            conn.execute(insert(refresh_checkpoints).values(
                **self.key, run_id=self.outcome.run_id, job_id=job.job_id, job_location=job.location,
                page_token=None, pages_loaded=0, rows_staged=0, staging_table=staging, state="reading", since=since,
                details={"destination": job.destination, "fields": [f.as_json() for f in job.fields],
                         "bytes_processed": job.bytes_processed},
                started_at=now, updated_at=now))
        return self._checkpoint(conn)

    def _read_pages(self, conn: Connection, checkpoint: Any) -> Any:
        if checkpoint.state == "read":
            return checkpoint
        job = _job_of(checkpoint)
        staging = pg.sql.Identifier(pg.STAGING_SCHEMA, checkpoint.staging_table)
        columns = [f.name for f in job.fields]
        pages_loaded, rows_staged = checkpoint.pages_loaded, checkpoint.rows_staged
        for rows, next_token in source.pages(self.client, job, page_size=self.config.page_size,
                                             page_token=checkpoint.page_token, retry=self.retry):
            self.memory.sample()
            pages_loaded, rows_staged = pages_loaded + 1, rows_staged + len(rows)
            self._stage_page(conn, staging, columns, rows, next_token, pages_loaded, rows_staged)
            self.outcome.pages_read += 1
        return self._checkpoint(conn)

    def _stage_page(self, conn: Connection, staging: Any, columns: list[str], rows: list[list[Any]],
                    next_token: str | None, pages_loaded: int, rows_staged: int) -> None:
        """One page into staging and the checkpoint past it, in one transaction."""
        with conn.begin():
            pg.copy_rows(_driver(conn), staging, columns, rows)
            advanced = conn.execute(update(refresh_checkpoints).where(
                self._where(refresh_checkpoints) & (refresh_checkpoints.c.run_id == self.outcome.run_id)
            ).values(page_token=next_token, pages_loaded=pages_loaded, rows_staged=rows_staged,
                     state="reading" if next_token is not None else "read", updated_at=_now(self.clock)))
            if advanced.rowcount != 1:  # e.g. a cutover dropped a live copy's checkpoint meanwhile
                raise RefreshError(f"the checkpoint of {self.config.name} into {self.target_schema} was removed by "
                                   "another process while this copy read pages; nothing was written", retryable=True)

    def _upsert(self, conn: Connection, checkpoint: Any) -> None:
        """Target DDL, upsert, deletes, state, checkpoint, staging and audit row: one transaction."""
        config, outcome = self.config, self.outcome
        job = _job_of(checkpoint)
        staging = pg.sql.Identifier(pg.STAGING_SCHEMA, checkpoint.staging_table)
        changes = pg.Changes()
        self.memory.sample()
        with conn.begin():
            driver = _driver(conn)
            # Locked for the transaction: a process removing it (a cutover) waits, or has already won.
            if conn.execute(select(refresh_checkpoints.c.run_id).where(
                    self._where(refresh_checkpoints) & (refresh_checkpoints.c.run_id == outcome.run_id))
                    .with_for_update()).first() is None:
                raise RefreshError(f"the checkpoint of {config.name} into {self.target_schema} was removed by another "
                                   "process before the upsert; nothing was written", retryable=True)
            target_columns = pg.table_columns(driver, self.target_schema, self.target_table)
            added = _check_drift(config, self.target_schema, job.fields, target_columns, outcome.details)
            if target_columns is None:
                pg.ensure_schema(driver, self.target_schema)
                pg.create_target(driver, self.target_schema, self.target_table, job.fields, config.key_columns,
                                 f"Refreshed from BigQuery {source.where(config)} "
                                 f"({show_path(config.source_path)}). {config.description}")
            else:
                key = pg.primary_key(driver, self.target_schema, self.target_table)
                if sorted(key) != sorted(config.key_columns):
                    target = f"{self.target_schema}.{self.target_table}"
                    raise RefreshError(
                        f"{show_path(config.source_path)}: key_columns: {', '.join(config.key_columns)} is not the "
                        f"primary key of {target} ({', '.join(key) or 'none'}), so rows cannot be upserted by it: "
                        f"restore key_columns, or change {target}'s primary key to match")
                if added:
                    pg.add_columns(driver, self.target_schema, self.target_table, added)
            columns = [f.name for f in job.fields]
            outcome.rows_read = pg.count_read(driver, staging, config.partition_column, changes)
            pg.upsert(driver, self.target_schema, self.target_table, staging, columns, config.key_columns,
                      config.partition_column, changes)
            self._delete_missing(driver, staging, checkpoint.since, changes)
            watermark = self._save_state(conn, staging, job)
            conn.execute(delete(refresh_checkpoints).where(self._where(refresh_checkpoints)))
            pg.drop_staging(driver, checkpoint.staging_table)
            outcome.rows_inserted, outcome.rows_updated, outcome.rows_deleted = (
                changes.inserted, changes.updated, changes.deleted)
            outcome.details.update(weeks=dict(sorted(changes.weeks.items())), pages_total=checkpoint.pages_loaded)
            if watermark is not None:
                outcome.details["watermark"] = watermark.isoformat()
            self.memory.sample()
            outcome.status, outcome.peak_memory_bytes = "success", self.memory.peak
            outcome.duration_seconds = time.perf_counter() - self.began
            conn.execute(update(refresh_runs).where(refresh_runs.c.id == outcome.run_id)
                         .values(**_finish_values(outcome, _now(self.clock))))
        self.finished = True  # committed; a failed commit leaves it False and copy_table records the failure

    def _delete_missing(self, driver: Any, staging: Any, since: datetime | None, changes: pg.Changes) -> None:
        config = self.config
        if config.on_source_delete != "delete":
            return
        whole_table = since is None
        if not whole_table and config.partition_column is None:
            self.outcome.details.setdefault("warnings", []).append(
                "on_source_delete: delete needs a partition_column to see deletes in an incremental read; "
                "only a full read (first load) deletes")
            return
        pg.delete_missing(driver, self.target_schema, self.target_table, staging, config.key_columns,
                          config.partition_column, whole_table, changes)

    def _save_state(self, conn: Connection, staging: Any, job: source.Job) -> datetime | None:
        config = self.config
        state = conn.execute(select(refresh_table_state.c.watermark).where(self._where(refresh_table_state))).first()
        watermark = state.watermark if state is not None else None
        if config.watermark is not None:
            newest = source.as_timestamp(pg.max_value(_driver(conn), staging, config.watermark.column))
            if newest is not None and (watermark is None or newest > watermark):
                watermark = newest
        now = _now(self.clock)
        values = {"watermark": watermark, "source_schema": [f.as_json() for f in job.fields],
                  "last_success_at": now, "updated_at": now}
        conn.execute(pg_insert(refresh_table_state).values(**self.key, **values)
                     .on_conflict_do_update(index_elements=["table_name", "target_schema"], set_=values))
        return watermark

    # ---- dry run ---------------------------------------------------------------------------------

    def dry_run(self) -> None:
        """Read into a temporary table, count against the live table, roll everything back."""
        config, outcome = self.config, self.outcome
        changes = pg.Changes()
        with self.engine.connect() as conn:
            target_columns = self._target_columns(conn)
            fields, since = self._prepare_read(conn, target_columns)
            query, parameters = source.read_query(self.client, config, fields, since)
            with conn.begin() as transaction:
                driver = _driver(conn)
                restarts = 0
                while True:
                    job = source.run_query(self.client, query, parameters, config, retry=self.retry,
                                           job_retry=self.job_retry)
                    outcome.job_id, outcome.bytes_processed = job.job_id, job.bytes_processed
                    columns = [f.name for f in job.fields]
                    staging = pg.create_staging(driver, DRY_RUN_STAGING, job.fields, temporary=True)
                    try:
                        for rows, _ in source.pages(self.client, job, page_size=config.page_size, page_token=None,
                                                    retry=self.retry):
                            self.memory.sample()
                            pg.copy_rows(driver, staging, columns, rows)
                            outcome.pages_read += 1
                        break
                    except ResultsExpired as error:
                        restarts += 1
                        outcome.details["restarted"] = restarts
                        if restarts > MAX_RESTARTS:
                            raise RefreshError(f"the results of the dry run's BigQuery job expired {restarts} times "
                                               f"({error})", retryable=True) from error
                outcome.rows_read = pg.count_read(driver, staging, config.partition_column, changes)
                if target_columns is None:
                    changes.inserted = outcome.rows_read
                    for entry in changes.weeks.values():
                        entry["inserted"] = entry["read"]
                else:
                    common = [c for c in columns if c in target_columns]
                    pg.plan(driver, self.target_schema, self.target_table, staging, common, config.key_columns,
                            config.partition_column, config.on_source_delete == "delete", since is None, changes)
                transaction.rollback()  # the temporary table with it: a dry run writes nothing
        self.memory.sample()
        outcome.rows_inserted, outcome.rows_updated, outcome.rows_deleted = (
            changes.inserted, changes.updated, changes.deleted)
        outcome.details.update(
            weeks=dict(sorted(changes.weeks.items())), bytes_processed=job.bytes_processed,
            compared_with=f"{self.target_schema}.{self.target_table}" if target_columns is not None else None)


def _driver(conn: Connection) -> Any:
    """The psycopg connection under a SQLAlchemy one: same session, same transaction."""
    return conn.connection.driver_connection


def _job_of(checkpoint: Any) -> source.Job:
    details = checkpoint.details
    return source.Job(checkpoint.job_id, checkpoint.job_location, details["destination"],
                      source.fields_from_json(details["fields"]), details.get("bytes_processed"))


def _check_drift(config: TableConfig, target_schema: str, fields: list[Field], target_columns: dict[str, str] | None,
                 details: dict) -> list[Field]:
    """Source columns vs the target's: the added ones to ALTER in (``on_schema_drift: add_columns``);
    a removed or retyped column, or an added one under ``stop``, raises RefreshError."""
    if target_columns is None:
        return []
    file = show_path(config.source_path)
    target = f"{target_schema}.{config.target_table}"
    names = {f.name for f in fields}
    added = [f for f in fields if f.name not in target_columns]
    removed = [name for name in target_columns if name not in names]
    retyped = [(f, target_columns[f.name]) for f in fields
               if f.name in target_columns and target_columns[f.name] != pg.postgres_type(f)]
    if not (added or removed or retyped):
        return []
    details["schema_drift"] = {
        "added": [f.as_json() for f in added], "removed": removed,
        "retyped": [{"name": f.name, "type": f.type, "target_type": kind} for f, kind in retyped],
    }
    problems = []
    if added and config.on_schema_drift != "add_columns":
        columns = ", ".join(f"{f.name} ({f.type})" for f in added)
        problems.append(f"column(s) {columns} added at the source; {file}: on_schema_drift: stop keeps {target} as it "
                        "is: set on_schema_drift: add_columns to add them")
    if removed:
        problems.append(f"column(s) {', '.join(removed)} of {target} no longer at the source; this stops the table "
                        f"whatever {file}'s on_schema_drift says (its history would be lost): restore the column in "
                        f"BigQuery, or drop it from {target} to accept the change")
    for f, kind in retyped:
        problems.append(f"column {f.name} is {f.type} at the source but {kind} in {target}; a changed type stops the "
                        f"table whatever {file}'s on_schema_drift says: convert {target}.{f.name} to "
                        f"{pg.postgres_type(f)} (ALTER TABLE ... TYPE) to accept it")
    if problems:
        details["schema_drift"]["applied"] = False
        raise RefreshError(f"schema drift in {source.where(config)}: " + "; ".join(problems))
    details["schema_drift"]["applied"] = True
    return added
