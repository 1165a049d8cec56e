"""Cutover (shadow -> live) and rollback (live -> shadow) of one refreshed table.

``cutover`` is allowed only for a table in shadow mode whose last N validations passed (N =
``validation.passes_for_cutover``, default 3), counting only validations made since the table last
entered shadow mode (so a rollback needs N fresh passes), and only when no successful shadow run
came after the newest validation (the shadow must be what was validated). Then, in ONE transaction
that locks both tables against writers (readers go on):

1. the live table takes the shadow's rows: live rows whose key the shadow lacks are deleted, rows
   that differ are updated, new ones inserted. The shadow passed validation, so this writes
   almost nothing, keeps the table's OID (views, grants and indexes on ``sqp.<t>`` stay valid, which
   a table swap would break) and never blocks dashboards;
2. the shadow's ``refresh.table_state`` (watermark, source schema) is copied to the live one, so
   the next live run continues incrementally from where the shadow was; the shadow keeps its own;
3. a live checkpoint left by a live copy killed before the table went to shadow is deleted with
   its staging table: resuming it would upsert rows older than the shadow's.

The mode then changes through ``overrides.set_table(mode="live")``, which audits it (who, when,
old, new) in its own transaction. If that step failed, the data step is complete and repeatable:
running ``cutover`` again finds nothing to change and sets the mode. Then ``refresh.cut_over`` is
posted (a delivery failure is returned in the result, never raised).

``rollback`` switches a live table back to shadow (audited, ``refresh.rolled_back`` posted) and
leaves every row where it is: the next runs write the shadow again and validate it against live.

A table that was never shadowed has no validations, so ``cutover`` refuses it, naming the two
ways on: shadow it first, or (for a table with no live data worth protecting) set it live directly
with ``amc refresh config set TABLE --mode live``. ``rollback`` of such a table is allowed: it
starts shadowing it (its first shadow run copies every row into ``sqp_shadow``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text

from amc_pipelines.db.models import SHADOW_SCHEMA, STAGING_SCHEMA
from amc_pipelines.refresh.models import TARGET_SCHEMA, TableConfig
from amc_pipelines.refresh.overrides import ConfigChange, check_change, effective_table, set_table
from amc_pipelines.refresh.registry import RefreshConfigError


class CutoverRefused(RefreshConfigError):
    """The table may not switch now; the message says why and what to do."""


@dataclass
class CutoverResult:
    table: str
    action: str  # "cut_over" or "rolled_back"
    mode_before: str
    mode_after: str
    by: str
    changes: list[ConfigChange]  # the audited override changes
    validation_ids: list[int] = field(default_factory=list)  # the passes that allowed a cutover
    rows_inserted: int = 0  # into the live table, from the shadow
    rows_updated: int = 0
    rows_deleted: int = 0
    notification: Any = None  # WebhookDelivery, WebhookDeliveryError, or None without a notifier

    def summary(self) -> dict[str, Any]:
        delivered = self.notification
        return {"table": self.table, "action": self.action, "mode_before": self.mode_before,
                "mode_after": self.mode_after, "by": self.by, "validation_ids": self.validation_ids,
                "rows_inserted": self.rows_inserted, "rows_updated": self.rows_updated,
                "rows_deleted": self.rows_deleted,
                "webhook": None if delivered is None else
                ("delivered" if hasattr(delivered, "delivery_id") else f"not delivered: {delivered}")}


def cutover(engine: Engine, registry: Mapping[str, TableConfig], name: str, *, by: str,
            notifier=None) -> CutoverResult:
    """Switch ``name`` from shadow to live as the module docstring says; CutoverRefused otherwise."""
    config = check_change(registry, name, by=by, mode="live", enabled=None)
    table = effective_table(engine, registry, name)
    if table.mode != "shadow":
        raise CutoverRefused(_not_shadow(config, table.mode))
    with engine.begin() as connection:
        live, shadow, missing = _lock_tables(connection, config)
        validations = _ready(connection, config)
        if missing:  # after _ready: no validations is the better reason to give
            raise CutoverRefused(f"{name}: {' and '.join(missing)} does not exist: validate the table "
                                 f"(amc refresh validate {name}) to see what is missing")
        counts = _take_shadow_rows(connection, config, live, shadow)
        _continue_from_shadow_state(connection, name)
    changes = set_table(engine, registry, name, by=by, mode="live")
    result = CutoverResult(name, "cut_over", "shadow", "live", by, changes, [v.id for v in validations], **counts)
    if notifier is not None:
        result.notification = notifier.notify(_event("refresh.cut_over", result, {
            "validations": [{"id": v.id, "run_id": v.run_id, "validated_at": v.validated_at} for v in validations],
            "target": config.qualified_target, "shadow": f"{SHADOW_SCHEMA}.{config.target_table}"}))
    return result


def rollback(engine: Engine, registry: Mapping[str, TableConfig], name: str, *, by: str,
             notifier=None) -> CutoverResult:
    """Switch ``name`` from live back to shadow (audited); no row of either table changes."""
    config = check_change(registry, name, by=by, mode="shadow", enabled=None)
    table = effective_table(engine, registry, name)
    if table.mode != "live":
        raise CutoverRefused(f"{name} is in mode {table.mode} ({table.mode_source}), not live: there is nothing to "
                             "roll back (rollback switches a live table back to shadow)")
    changes = set_table(engine, registry, name, by=by, mode="shadow")
    result = CutoverResult(name, "rolled_back", "live", "shadow", by, changes)
    if notifier is not None:
        result.notification = notifier.notify(_event("refresh.rolled_back", result, {
            "target": config.qualified_target, "shadow": f"{SHADOW_SCHEMA}.{config.target_table}"}))
    return result


def _event(kind: str, result: CutoverResult, details: dict[str, Any]):
    from amc_pipelines.refresh.events import RefreshEvent

    return RefreshEvent(kind=kind, table=result.table, status=result.mode_after, details={
        "by": result.by, "mode_before": result.mode_before, "mode_after": result.mode_after,
        "rows_inserted": result.rows_inserted, "rows_updated": result.rows_updated,
        "rows_deleted": result.rows_deleted, **details})


def _not_shadow(config: TableConfig, mode: str) -> str:
    name = config.name
    if mode == "live":
        return f"{name} is already live: there is nothing to cut over (amc refresh rollback {name} switches it back to shadow)"
    return (f"{name} is in mode {mode}, not shadow: cutover switches a validated shadow table to live. Shadow it first "
            f"(amc refresh config set {name} --mode shadow, then refresh it until "
            f"{config.validation.passes_for_cutover} validations in a row pass), or, if {config.qualified_target} "
            f"holds nothing to protect, set it live directly: amc refresh config set {name} --mode live")


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote_identifier(name)


def _lock_tables(connection: Connection, config: TableConfig) -> tuple[str, str, list[str]]:
    """Both tables' quoted names, locked against writers (a copy's upsert waits) until the transaction
    ends; or the missing ones, nothing locked."""
    q = lambda name: _quote(connection, name)  # noqa: E731
    live, shadow = f"{q(TARGET_SCHEMA)}.{q(config.target_table)}", f"{q(SHADOW_SCHEMA)}.{q(config.target_table)}"
    found = connection.execute(text("SELECT to_regclass(:live) IS NOT NULL, to_regclass(:shadow) IS NOT NULL"),
                               {"live": live, "shadow": shadow}).one()
    missing = [name for name, present in zip((config.qualified_target, f"{SHADOW_SCHEMA}.{config.target_table}"),
                                             found, strict=True) if not present]
    if not missing:
        connection.execute(text(f"LOCK TABLE {live}, {shadow} IN SHARE ROW EXCLUSIVE MODE"))
    return live, shadow, missing


@dataclass(frozen=True)
class _Validation:
    id: int
    passed: bool
    run_id: int | None
    validated_at: Any
    summary: str


def _ready(connection: Connection, config: TableConfig) -> list[_Validation]:
    """The last N validations if they all passed and the shadow is what they saw; else CutoverRefused."""
    name, needed = config.name, config.validation.passes_for_cutover
    # Validations before the table last entered shadow mode (a rollback, say) do not count.
    since = connection.execute(text(
        "SELECT max(changed_at) FROM refresh.config_changes WHERE table_name = :name AND field = 'mode' "
        "AND new_value = 'shadow'"), {"name": name}).scalar()
    rows = [_Validation(*row) for row in connection.execute(text(
        "SELECT id, passed, run_id, validated_at, summary FROM refresh.validations WHERE table_name = :name "
        "AND (CAST(:since AS timestamptz) IS NULL OR validated_at > :since) "
        "ORDER BY validated_at DESC, id DESC LIMIT :needed"), {"name": name, "since": since, "needed": needed})]
    passed = sum(row.passed for row in rows)
    since_text = f" since it entered shadow mode at {since:%Y-%m-%d %H:%M} UTC" if since else ""
    todo = (f"refresh it in shadow mode until {needed} validations in a row pass (amc refresh run {name}; each "
            f"shadow run is validated, or amc refresh validate {name})")
    if not rows:
        raise CutoverRefused(f"{name}: cutover needs its last {needed} validations to pass and it has none{since_text}: {todo}")
    if passed < needed:
        newest_failed = next((row for row in rows if not row.passed), None)
        failed_text = (f"; newest failure (validation {newest_failed.id}): {newest_failed.summary}"
                       if newest_failed else "")
        raise CutoverRefused(f"{name}: {passed} of its last {len(rows)} validations passed{since_text}, cutover needs "
                             f"the last {needed} to pass{failed_text}. Fix the difference, then {todo}")
    newest_run = connection.execute(text(
        "SELECT max(id) FROM refresh.runs WHERE table_name = :name AND mode = 'shadow' "
        "AND status IN ('success', 'warning')"), {"name": name}).scalar()
    if rows[0].run_id is not None and newest_run is not None and newest_run > rows[0].run_id:
        raise CutoverRefused(f"{name}: shadow run {newest_run} wrote the shadow after its newest validation "
                             f"(of run {rows[0].run_id}): validate what would go live first (amc refresh validate {name})")
    return rows


def _take_shadow_rows(connection: Connection, config: TableConfig, live: str, shadow: str) -> dict[str, int]:
    """Make the live table's rows the shadow's, writing only what differs; the counts written."""
    columns = connection.execute(text(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, "
        "to_regclass(:shadow) = a.attrelid AS in_shadow FROM pg_attribute a "
        "WHERE a.attrelid IN (to_regclass(:live), to_regclass(:shadow)) AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum"), {"live": live, "shadow": shadow}).all()
    live_columns = {row.attname: row.type for row in columns if not row.in_shadow}
    shadow_columns = {row.attname: row.type for row in columns if row.in_shadow}
    if live_columns != shadow_columns:  # a passed validation compared the columns; they changed since
        raise CutoverRefused(f"{config.name}: {config.qualified_target} and {SHADOW_SCHEMA}.{config.target_table} no "
                             f"longer have the same columns: validate again (amc refresh validate {config.name})")
    q = lambda name: _quote(connection, name)  # noqa: E731
    keys = [q(name) for name in config.key_columns]
    values = [q(name) for name in live_columns if name not in config.key_columns]
    every = [*keys, *values]
    same_key = " AND ".join(f"l.{key} = s.{key}" for key in keys)
    deleted = connection.execute(text(
        f"DELETE FROM {live} AS l WHERE NOT EXISTS (SELECT 1 FROM {shadow} AS s WHERE {same_key})")).rowcount
    updated = 0
    if values:
        updated = connection.execute(text(
            f"UPDATE {live} AS l SET {', '.join(f'{v} = s.{v}' for v in values)} FROM {shadow} AS s "
            f"WHERE {same_key} AND ROW({', '.join(f'l.{v}' for v in values)}) "
            f"IS DISTINCT FROM ROW({', '.join(f's.{v}' for v in values)})")).rowcount
    inserted = connection.execute(text(
        f"INSERT INTO {live} ({', '.join(every)}) SELECT {', '.join(f's.{c}' for c in every)} FROM {shadow} AS s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {live} AS l WHERE {same_key})")).rowcount
    return {"rows_inserted": inserted, "rows_updated": updated, "rows_deleted": deleted}


def _continue_from_shadow_state(connection: Connection, name: str) -> None:
    """The live target's state becomes the shadow's; a stale live checkpoint goes."""
    params = {"name": name, "live": TARGET_SCHEMA, "shadow": SHADOW_SCHEMA}
    connection.execute(text("DELETE FROM refresh.table_state WHERE table_name = :name AND target_schema = :live"), params)
    # Without a shadow state (none is written before a shadow run succeeds) the next live run reads everything.
    connection.execute(text(
        "INSERT INTO refresh.table_state (table_name, target_schema, watermark, source_schema, last_success_at, updated_at) "
        "SELECT table_name, :live, watermark, source_schema, last_success_at, now() FROM refresh.table_state "
        "WHERE table_name = :name AND target_schema = :shadow"), params)
    staging = connection.execute(text(
        "DELETE FROM refresh.checkpoints WHERE table_name = :name AND target_schema = :live RETURNING staging_table"),
        params).scalars().all()
    for table in staging:
        connection.execute(text(f"DROP TABLE IF EXISTS {_quote(connection, STAGING_SCHEMA)}.{_quote(connection, table)}"))
