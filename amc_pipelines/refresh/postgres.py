"""The Postgres side of a copy: types, target and staging DDL, COPY of a page, the upsert, the
deletes and the dry run's plan. SQL only, on an open psycopg connection; transactions belong to the
caller (``copy.py``).

Every identifier goes through ``psycopg.sql.Identifier`` and every value is a parameter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import Connection, sql

from amc_pipelines.db.models import STAGING_SCHEMA
from amc_pipelines.refresh.source import Field

# BigQuery type -> Postgres type, spelled as format_type() reports it (so existing columns compare).
POSTGRES_TYPES = {
    "INT64": "bigint",
    "FLOAT64": "double precision",
    "NUMERIC": "numeric",
    "BIGNUMERIC": "numeric",
    "STRING": "text",
    "DATE": "date",
    "TIMESTAMP": "timestamp with time zone",
    "DATETIME": "timestamp without time zone",
    "BOOL": "boolean",
    "BYTES": "bytea",
    "TIME": "time without time zone",
}
MAX_IDENTIFIER = 63  # Postgres truncates longer names silently


def postgres_type(field: Field) -> str:
    return POSTGRES_TYPES[field.type]


def staging_name(target_table: str, target_schema: str) -> str:
    """``<table>__<schema>`` in refresh_staging, shortened with a hash when Postgres would truncate it."""
    name = f"{target_table}__{target_schema}"
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    return f"{name[:MAX_IDENTIFIER - 11]}_{digest}"


def _columns(names: Iterable[str], prefix: str | None = None) -> sql.Composable:
    if prefix is None:
        return sql.SQL(", ").join(sql.Identifier(name) for name in names)
    return sql.SQL(", ").join(sql.Identifier(prefix, name) for name in names)


def table_columns(conn: Connection, schema: str, table: str) -> dict[str, str] | None:
    """column -> format_type of an existing table (in column order), or None when it does not exist."""
    rows = conn.execute(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod)
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')
        ORDER BY a.attnum
        """,
        (schema, table),
    ).fetchall()
    return {name: kind for name, kind in rows} if rows else None


def primary_key(conn: Connection, schema: str, table: str) -> list[str]:
    """The primary key's columns, in key order (empty when the table has none)."""
    rows = conn.execute(
        """
        SELECT a.attname
        FROM pg_index i
        JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position) ON true
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = to_regclass(%s) AND i.indisprimary
        ORDER BY k.position
        """,
        (sql.Identifier(schema, table).as_string(conn),),
    ).fetchall()
    return [name for (name,) in rows]


def ensure_schema(conn: Connection, schema: str) -> None:
    """Create ``schema`` when missing (serialised: concurrent first loads must not race on it)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"ddl:{schema}",))
    # Asked with a query, not IF NOT EXISTS: see results.ensure_result_table_on.
    if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is None:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


def create_target(conn: Connection, schema: str, table: str, fields: Sequence[Field], keys: Sequence[str],
                  comment: str) -> None:
    definitions = [sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(postgres_type(f))) for f in fields]
    definitions.append(sql.SQL("PRIMARY KEY ({})").format(_columns(keys)))
    target = sql.Identifier(schema, table)
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(target, sql.SQL(", ").join(definitions)))
    conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(target, sql.Literal(comment)))


def add_columns(conn: Connection, schema: str, table: str, fields: Sequence[Field]) -> None:
    for f in fields:
        conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
            sql.Identifier(schema, table), sql.Identifier(f.name), sql.SQL(postgres_type(f))))


def create_staging(conn: Connection, name: str, fields: Sequence[Field], *, temporary: bool = False) -> sql.Composable:
    """An empty staging table of ``fields``, replacing any of that name (UNLOGGED in refresh_staging: it
    outlives a killed process; or TEMPORARY, for a dry run). Returns its identifier."""
    definitions = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(postgres_type(f))) for f in fields)
    if temporary:
        table = sql.Identifier("pg_temp", name)  # qualified: never a permanent table of the same name
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(sql.SQL("CREATE TEMPORARY TABLE {} ({})").format(sql.Identifier(name), definitions))
    else:
        table = sql.Identifier(STAGING_SCHEMA, name)
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(sql.SQL("CREATE UNLOGGED TABLE {} ({})").format(table, definitions))
    return table


def drop_staging(conn: Connection, name: str) -> None:
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(STAGING_SCHEMA, name)))


def copy_rows(conn: Connection, table: sql.Composable, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY ``rows`` into ``table`` (text format: Postgres parses each value as BigQuery spelled it)."""
    count = 0
    with conn.cursor() as cursor, cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(table, _columns(columns))) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


@dataclass
class Changes:
    """Rows written (or, in a dry run, that would be), in total and per week (partition value)."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    weeks: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, week: Any, kind: str, count: int) -> None:
        if not count:
            return
        setattr(self, kind, getattr(self, kind) + count)
        if week is not None:
            key = week.isoformat() if hasattr(week, "isoformat") else str(week)
            entry = self.weeks.setdefault(key, {"read": 0, "inserted": 0, "updated": 0, "deleted": 0})
            entry[kind] += count

    def add_read(self, week: Any, count: int) -> None:
        if week is not None:
            key = week.isoformat() if hasattr(week, "isoformat") else str(week)
            self.weeks.setdefault(key, {"read": 0, "inserted": 0, "updated": 0, "deleted": 0})["read"] += count


def _week(partition: str | None) -> sql.Composable:
    return sql.Identifier(partition) if partition else sql.SQL("NULL::text")


def count_read(conn: Connection, staging: sql.Composable, partition: str | None, changes: Changes) -> int:
    """Rows in staging (per week into ``changes``); returns the total."""
    total = 0
    for week, count in conn.execute(
            sql.SQL("SELECT {}, count(*) FROM {} GROUP BY 1").format(_week(partition), staging)).fetchall():
        changes.add_read(week, count)
        total += count
    return total


def upsert(conn: Connection, schema: str, table: str, staging: sql.Composable, columns: Sequence[str],
           keys: Sequence[str], partition: str | None, changes: Changes) -> None:
    """Insert new keys, update rows that differ, leave equal rows untouched (no write at all)."""
    others = [c for c in columns if c not in keys]
    target = sql.Identifier(schema, table)
    if others:
        action = sql.SQL("DO UPDATE SET {} WHERE ({}) IS DISTINCT FROM ({})").format(
            sql.SQL(", ").join(sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in others),
            # ROW() so that one column is a row too.
            sql.SQL("ROW({})").format(_columns(others, "t")), sql.SQL("ROW({})").format(_columns(others, "excluded")))
    else:
        action = sql.SQL("DO NOTHING")
    week = sql.SQL("t.{}").format(sql.Identifier(partition)) if partition else sql.SQL("NULL::text")
    statement = sql.SQL(
        "WITH written AS (INSERT INTO {target} AS t ({columns}) SELECT {columns} FROM {staging} "
        "ON CONFLICT ({keys}) {action} RETURNING {week} AS week, (t.xmax = 0) AS inserted) "
        "SELECT week, count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written GROUP BY 1"
    ).format(target=target, columns=_columns(columns), staging=staging, keys=_columns(keys), action=action, week=week)
    for week_value, inserted, updated in conn.execute(statement).fetchall():
        changes.add(week_value, "inserted", inserted)
        changes.add(week_value, "updated", updated)


def _missing_at_source(schema: str, table: str, staging: sql.Composable, keys: Sequence[str],
                       partition: str | None, whole_table: bool) -> sql.Composable:
    """WHERE condition on target rows (alias t) that the read should have returned but did not."""
    missing = sql.SQL("NOT EXISTS (SELECT 1 FROM {} s WHERE {})").format(
        staging, sql.SQL(" AND ").join(sql.SQL("s.{0} = t.{0}").format(sql.Identifier(k)) for k in keys))
    if whole_table:
        return missing
    return sql.SQL("t.{0} IN (SELECT DISTINCT {0} FROM {1}) AND {2}").format(sql.Identifier(partition), staging, missing)


def delete_missing(conn: Connection, schema: str, table: str, staging: sql.Composable, keys: Sequence[str],
                   partition: str | None, whole_table: bool, changes: Changes) -> None:
    """Delete target rows of the weeks read (every row after a full read) that the source no longer has."""
    condition = _missing_at_source(schema, table, staging, keys, partition, whole_table)
    week = sql.SQL("t.{}").format(sql.Identifier(partition)) if partition else sql.SQL("NULL::text")
    statement = sql.SQL("WITH gone AS (DELETE FROM {} t WHERE {} RETURNING {} AS week) "
                        "SELECT week, count(*) FROM gone GROUP BY 1").format(
        sql.Identifier(schema, table), condition, week)
    for week_value, count in conn.execute(statement).fetchall():
        changes.add(week_value, "deleted", count)


def plan(conn: Connection, schema: str, table: str, staging: sql.Composable, columns: Sequence[str],
         keys: Sequence[str], partition: str | None, delete: bool, whole_table: bool, changes: Changes) -> None:
    """What the upsert and deletes would do, counted without writing (the dry run)."""
    target = sql.Identifier(schema, table)
    others = [c for c in columns if c not in keys]
    week = sql.SQL("s.{}").format(sql.Identifier(partition)) if partition else sql.SQL("NULL::text")
    same_key = sql.SQL(" AND ").join(sql.SQL("t.{0} = s.{0}").format(sql.Identifier(k)) for k in keys)
    differs = (sql.SQL("ROW({}) IS DISTINCT FROM ROW({})").format(_columns(others, "t"), _columns(others, "s"))
               if others else sql.SQL("false"))
    statement = sql.SQL(
        "SELECT {week}, count(*) FILTER (WHERE NOT found), count(*) FILTER (WHERE found AND changed) FROM ("
        " SELECT s.*, t.{key} IS NOT NULL AS found, {differs} AS changed"
        " FROM {staging} s LEFT JOIN {target} t ON {same_key}) s GROUP BY 1"
    ).format(week=week, key=sql.Identifier(keys[0]), differs=differs, staging=staging, target=target, same_key=same_key)
    for week_value, inserted, updated in conn.execute(statement).fetchall():
        changes.add(week_value, "inserted", inserted)
        changes.add(week_value, "updated", updated)
    if delete:
        condition = _missing_at_source(schema, table, staging, keys, partition, whole_table)
        target_week = sql.SQL("t.{}").format(sql.Identifier(partition)) if partition else sql.SQL("NULL::text")
        for week_value, count in conn.execute(sql.SQL("SELECT {}, count(*) FROM {} t WHERE {} GROUP BY 1").format(
                target_week, target, condition)).fetchall():
            changes.add(week_value, "deleted", count)


def max_value(conn: Connection, staging: sql.Composable, column: str) -> Any:
    return conn.execute(sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(column), staging)).fetchone()[0]
