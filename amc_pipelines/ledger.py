"""The execution ledger (tables ``amc.executions`` and ``amc.execution_events``).

An execution is keyed by (instance, report, SQL hash, window start, window end, time zone,
parameter hash). Each row is one attempt at that key; its status moves

    INTENDED -> SUBMITTED / PENDING / RUNNING -> SUCCEEDED -> LOADED
             \\-> FAILED / REJECTED / CANCELLED          (any live row) -> SUPERSEDED (--force)

and every move is written with an event in the same transaction. A partial unique index keeps at
most one live row (not FAILED, REJECTED, CANCELLED or SUPERSEDED) per key; a per-key advisory lock
keeps two processes from working on the same key at once. Domain logic only: no Dagster, no click.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from amc_pipelines.db.models import EXECUTION_STATUSES, RETIRED_STATUSES, execution_events, executions

LIVE_STATUSES = tuple(s for s in EXECUTION_STATUSES if s not in RETIRED_STATUSES)
# Statuses in which AMC still has (or had) the execution and we may wait for or download it.
AT_AMC_STATUSES = ("SUBMITTED", "PENDING", "RUNNING", "SUCCEEDED")
# AMC statuses we record; PUBLISHING is AMC still writing results, recorded as RUNNING.
AMC_STATUS_MAP = {"PUBLISHING": "RUNNING"}

# Allowed moves: from -> to. Adopted executions may already be finished, hence the wide fan-out.
_AMC_SIDE = ("SUBMITTED", "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "REJECTED", "CANCELLED")
TRANSITIONS: dict[str, frozenset[str]] = {
    "INTENDED": frozenset(_AMC_SIDE + ("SUPERSEDED",)),
    "SUBMITTED": frozenset(_AMC_SIDE[1:] + ("SUPERSEDED",)),
    "PENDING": frozenset(("RUNNING", "SUCCEEDED", "FAILED", "REJECTED", "CANCELLED", "SUPERSEDED")),
    "RUNNING": frozenset(("SUCCEEDED", "FAILED", "REJECTED", "CANCELLED", "SUPERSEDED")),
    # SUCCEEDED -> FAILED: the results could not be fetched any more (expired), so the key is retried.
    "SUCCEEDED": frozenset(("LOADED", "FAILED", "SUPERSEDED")),
    "LOADED": frozenset(("SUPERSEDED",)),
    "FAILED": frozenset(),
    "REJECTED": frozenset(),
    "CANCELLED": frozenset(),
    "SUPERSEDED": frozenset(),
}
_TIMESTAMP_ON_ENTRY = {
    "SUBMITTED": "submitted_at", "PENDING": "submitted_at", "RUNNING": "submitted_at",
    "SUCCEEDED": "finished_at", "FAILED": "finished_at", "REJECTED": "finished_at", "CANCELLED": "finished_at",
    "LOADED": "loaded_at",
}


def can_move(current: str, status: str) -> bool:
    """Whether a row in ``current`` may be moved to (AMC's) ``status``; staying put counts as a move."""
    status = AMC_STATUS_MAP.get(status, status)
    return status == current or status in TRANSITIONS.get(current, frozenset())


class LedgerError(RuntimeError):
    """The ledger refused a change (an impossible transition, or another live row for the key)."""


@dataclass(frozen=True)
class ExecutionKey:
    """What makes two runs the same AMC execution."""

    instance_id: str
    report_name: str
    sql_hash: str
    window_start: datetime  # naive local wall time
    window_end: datetime
    timezone: str
    parameters_hash: str

    @property
    def digest(self) -> str:
        fields_ = {name: (value.isoformat() if isinstance(value, datetime) else value)
                   for name, value in asdict(self).items()}
        return hashlib.sha256(json.dumps(fields_, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    @property
    def lock_id(self) -> int:
        """A signed 64-bit advisory lock id derived from the digest."""
        return int.from_bytes(bytes.fromhex(self.digest[:16]), "big", signed=True)


@dataclass(frozen=True)
class ExecutionRecord:
    """One ledger row."""

    id: int
    execution_key: str
    instance_id: str
    report_name: str
    sql_hash: str
    window_start: datetime
    window_end: datetime
    timezone: str
    parameters_hash: str
    parameters: dict[str, Any]
    workflow_id: str
    amc_execution_id: str | None
    status: str
    attempt: int
    forced: bool
    provisional: bool
    rows: int | None
    checksum: str | None
    file_count: int | None
    api_calls: int | None
    error: str | None
    created_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None
    loaded_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> ExecutionRecord:
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    def to_json(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class ExecutionEvent:
    status: str
    detail: str | None
    at: datetime


@contextmanager
def key_lock(engine: Engine, key: ExecutionKey, *, on_wait: Callable[[], None] | None = None,
             poll_seconds: float = 0.5) -> Iterator[None]:
    """Hold the key's session advisory lock (on a connection of its own) for the block.

    Postgres drops the lock when the session ends, so a killed process never leaves it behind.
    ``on_wait`` is called once if another session holds the lock.
    """
    with engine.connect() as connection:
        waited = False
        while not connection.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": key.lock_id}).scalar():
            if not waited and on_wait is not None:
                on_wait()
            waited = True
            connection.rollback()  # no transaction left open while waiting
            time.sleep(poll_seconds)
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": key.lock_id})
            connection.commit()


def live_execution(engine: Engine, key: ExecutionKey) -> ExecutionRecord | None:
    """The key's live row (at most one, by the partial unique index)."""
    statement = select(executions).where(
        executions.c.execution_key == key.digest, executions.c.status.in_(LIVE_STATUSES)
    )
    with engine.connect() as connection:
        row = connection.execute(statement).mappings().first()
    return ExecutionRecord.from_row(row) if row is not None else None


def record_intent(
    engine: Engine,
    key: ExecutionKey,
    *,
    parameters: dict[str, Any],
    workflow_id: str,
    forced: bool = False,
    provisional: bool = False,
) -> ExecutionRecord:
    """Insert (and commit) an INTENDED row, before anything is sent to AMC."""
    with engine.begin() as connection:
        attempt = connection.execute(
            select(func.coalesce(func.max(executions.c.attempt), 0) + 1).where(executions.c.execution_key == key.digest)
        ).scalar_one()
        try:
            row = connection.execute(
                insert(executions)
                .values(
                    execution_key=key.digest, **asdict(key), parameters=parameters, workflow_id=workflow_id,
                    status="INTENDED", attempt=attempt, forced=forced, provisional=provisional,
                )
                .returning(*executions.c)
            ).mappings().one()
        except IntegrityError as err:
            raise LedgerError(
                f"execution key {key.digest[:12]} already has a live ledger row: another run owns this "
                "partition (see `amc executions list`)"
            ) from err
        _event(connection, row["id"], "INTENDED", f"attempt {attempt}" + (" (forced)" if forced else ""))
    return ExecutionRecord.from_row(row)


def transition(
    engine: Engine,
    execution_id: int,
    status: str,
    *,
    detail: str | None = None,
    amc_execution_id: str | None = None,
    **values: Any,
) -> ExecutionRecord:
    """Move a row to ``status`` (checked against :data:`TRANSITIONS`), writing an event.

    Staying in the same status is allowed and writes nothing unless ``values`` change. ``values``
    may set rows, checksum, file_count, api_calls and error.
    """
    allowed = {"rows", "checksum", "file_count", "api_calls", "error"}
    if unknown := set(values) - allowed:
        raise TypeError(f"transition() got unexpected columns {sorted(unknown)}")
    status = AMC_STATUS_MAP.get(status, status)
    if status not in EXECUTION_STATUSES:
        raise LedgerError(f"unknown execution status {status!r}")
    with engine.begin() as connection:
        current = connection.execute(
            select(executions).where(executions.c.id == execution_id).with_for_update()
        ).mappings().first()
        if current is None:
            raise LedgerError(f"no ledger execution {execution_id}")
        if status == current["status"] and amc_execution_id is None and not values:
            return ExecutionRecord.from_row(current)
        if status != current["status"] and status not in TRANSITIONS[current["status"]]:
            raise LedgerError(f"execution {execution_id} cannot move from {current['status']} to {status}")
        changes: dict[str, Any] = {"status": status, "updated_at": func.now(), **values}
        if amc_execution_id is not None:
            changes["amc_execution_id"] = amc_execution_id
        stamp = _TIMESTAMP_ON_ENTRY.get(status)
        if stamp is not None and current[stamp] is None:
            changes[stamp] = func.now()
        if amc_execution_id is not None and current["submitted_at"] is None:
            changes["submitted_at"] = func.now()
        try:
            row = connection.execute(
                update(executions).where(executions.c.id == execution_id).values(**changes).returning(*executions.c)
            ).mappings().one()
        except IntegrityError as err:
            raise LedgerError(
                f"AMC execution {amc_execution_id} is already recorded for another ledger row"
            ) from err
        if status != current["status"] or detail:
            _event(connection, execution_id, status, detail)
    return ExecutionRecord.from_row(row)


def _event(connection: Any, execution_id: int, status: str, detail: str | None) -> None:
    connection.execute(insert(execution_events).values(execution_id=execution_id, status=status, detail=detail))


def get_execution(engine: Engine, execution_id: int) -> ExecutionRecord | None:
    with engine.connect() as connection:
        row = connection.execute(select(executions).where(executions.c.id == execution_id)).mappings().first()
    return ExecutionRecord.from_row(row) if row is not None else None


def find_by_amc_id(engine: Engine, amc_execution_id: str) -> ExecutionRecord | None:
    statement = select(executions).where(executions.c.amc_execution_id == amc_execution_id)
    with engine.connect() as connection:
        row = connection.execute(statement).mappings().first()
    return ExecutionRecord.from_row(row) if row is not None else None


def recorded_amc_ids(engine: Engine, candidates: Sequence[str]) -> set[str]:
    """Which of these AMC execution ids some ledger row already owns."""
    if not candidates:
        return set()
    statement = select(executions.c.amc_execution_id).where(executions.c.amc_execution_id.in_(list(candidates)))
    with engine.connect() as connection:
        return set(connection.execute(statement).scalars())


def list_executions(
    engine: Engine,
    *,
    report: str | None = None,
    instance_id: str | None = None,
    status: str | None = None,
    limit: int | None = 50,
) -> list[ExecutionRecord]:
    """Newest first."""
    statement = select(executions).order_by(executions.c.id.desc())
    if report is not None:
        statement = statement.where(executions.c.report_name == report)
    if instance_id is not None:
        statement = statement.where(executions.c.instance_id == instance_id)
    if status is not None:
        statement = statement.where(executions.c.status == status.upper())
    if limit is not None:
        statement = statement.limit(limit)
    with engine.connect() as connection:
        return [ExecutionRecord.from_row(row) for row in connection.execute(statement).mappings()]


def execution_history(engine: Engine, execution_id: int) -> list[ExecutionEvent]:
    statement = (
        select(execution_events.c.status, execution_events.c.detail, execution_events.c.at)
        .where(execution_events.c.execution_id == execution_id)
        .order_by(execution_events.c.id)
    )
    with engine.connect() as connection:
        return [ExecutionEvent(**row) for row in connection.execute(statement).mappings()]
