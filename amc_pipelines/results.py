"""Result tables: one typed table per report in schema ``amc_results``, created and evolved from its spec.

Why the loader and not Alembic migrations: result tables are data shaped by the report catalog, and
the catalog is open (``load_catalog(extra_dir)`` adds reports that this package's migrations cannot
know about). A migration per report version would make every new or edited report a code release.
So the control tables (schema ``amc``) are migrations, and ``amc_results.<report>`` is derived from
the spec right before each load, under these rules:

- a new output column is added (``ALTER TABLE ... ADD COLUMN``, nullable; older rows hold NULL);
- a column removed from the spec stays in the table, nullable, so earlier weeks keep their values
  (new loads leave it NULL); drop it with a migration when that history is no longer wanted;
- a changed type is refused with :class:`ResultTableError`: converting stored history is a decision
  for a migration (or give the column a new name in the spec).

Every identifier goes through ``psycopg.sql.Identifier`` and every comment through ``sql.Literal``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from psycopg import Connection, sql

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from amc_pipelines.catalog import OutputColumn, ReportSpec
    from amc_pipelines.partitions import ResultKey

RESULTS_SCHEMA = "amc_results"

# Postgres type per catalog column type, spelled as ``format_type()`` reports it so that the
# existing table can be compared with the spec. Decimals are unconstrained ``numeric``: AMC's
# decimal scale varies with the expression (SUM(spend) / 1e8 has more than 4 places), and a
# fixed numeric(p, s) would round what AMC returned and make the stored values differ from it.
POSTGRES_TYPES: dict[str, str] = {
    "string": "text",
    "integer": "bigint",  # AMC LONG: sums of impressions exceed int4
    "decimal": "numeric",
    "double": "double precision",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp without time zone",
}

# Columns the loader adds to every result table, in table order after the spec's columns. A run
# replaces the rows of its (definition, parameters_hash, instance_id, week_start, window_end).
PARTITION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("definition", "text not null"),
    ("parameters_hash", "text not null"),
    ("instance_id", "text not null"),
    ("week_start", "date not null"),
    ("window_end", "timestamp without time zone not null"),
    ("amc_execution_id", "text not null"),
    ("loaded_at", "timestamp with time zone not null default now()"),
)


class ResultTableError(ValueError):
    """The spec cannot be mapped onto its result table; the message names report, column and fix."""


def table_identifier(spec: ReportSpec) -> sql.Identifier:
    return sql.Identifier(RESULTS_SCHEMA, spec.name)


def postgres_type(spec: ReportSpec, column: OutputColumn) -> str:
    try:
        return POSTGRES_TYPES[column.type]
    except KeyError:
        raise ResultTableError(
            f"report {spec.name!r}, output column {column.name!r}: type {column.type!r} has no result "
            f"table type; use one of {', '.join(POSTGRES_TYPES)}"
        ) from None


def column_definitions(spec: ReportSpec, *, with_partition_columns: bool) -> sql.Composed:
    """``"a" text, "b" bigint, ...`` for CREATE TABLE (all spec columns nullable: AMC NULLs filtered values)."""
    parts = [sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(postgres_type(spec, c))) for c in spec.output_columns]
    if with_partition_columns:
        parts += [sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(ddl)) for name, ddl in PARTITION_COLUMNS]
    return sql.SQL(", ").join(parts)


def existing_columns(conn: Connection, spec: ReportSpec) -> dict[str, tuple[str, str | None]] | None:
    """column -> (format_type, comment) of the live table, or None when it does not exist."""
    rows = conn.execute(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod), col_description(c.oid, a.attnum)
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = %s AND c.relname = %s AND c.relkind = 'r'
        """,
        (RESULTS_SCHEMA, spec.name),
    ).fetchall()
    return {name: (type_name, comment) for name, type_name, comment in rows} if rows else None


def _table_comment(spec: ReportSpec) -> str:
    return f"AMC report {spec.name}: {spec.title}. {spec.description}".strip()


def _pending_changes(spec: ReportSpec, existing: dict[str, tuple[str, str | None]] | None) -> list[OutputColumn]:
    """Spec columns to add or to re-comment; raises on a type change. Empty when the table is current."""
    if existing is None:
        return list(spec.output_columns)
    changes = []
    for column in spec.output_columns:
        wanted = postgres_type(spec, column)
        if column.name not in existing:
            changes.append(column)
            continue
        current_type, comment = existing[column.name]
        if current_type != wanted:
            raise ResultTableError(
                f"report {spec.name!r}: output column {column.name!r} changed type from {current_type} "
                f"(table {RESULTS_SCHEMA}.{spec.name}) to {wanted} (spec type {column.type!r}); stored weeks "
                f"cannot be converted silently. Write an Alembic migration that alters the column (or drops "
                f"the table to reload it), or give the column a new name in the SQL and the spec"
            )
        if (comment or "") != column.description:
            changes.append(column)
    return changes


def ensure_result_table(engine: Engine, spec: ReportSpec) -> None:
    """Create ``amc_results.<report>`` or bring it up to the spec (see the module docstring)."""
    raw = engine.raw_connection()
    try:
        ensure_result_table_on(raw.driver_connection, spec)
    finally:
        raw.close()


def ensure_result_table_on(conn: Connection, spec: ReportSpec) -> None:
    """:func:`ensure_result_table` on an open psycopg connection (commits its own transaction)."""
    # Column names need no checks here: the ReportSpec model already refuses the loader's column
    # names (catalog LOADER_COLUMNS), duplicates and names Postgres would truncate.
    try:
        # The usual case, a current table, takes no lock at all.
        if not _pending_changes(spec, existing_columns(conn, spec)):
            conn.rollback()
            return
        # Concurrent loaders of a new report must not race on CREATE/ALTER: one DDL lock for the schema.
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"ddl:{RESULTS_SCHEMA}",))
        # Asked with a query, not IF NOT EXISTS: that checks the session's catalog cache, which taking
        # an advisory lock does not refresh, so a schema another loader just created and committed
        # could be created again (UniqueViolation on pg_namespace, seen with concurrent first loads).
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (RESULTS_SCHEMA,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(RESULTS_SCHEMA)))
        existing = existing_columns(conn, spec)
        changes = _pending_changes(spec, existing)
        table = table_identifier(spec)
        if existing is None:
            conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table, column_definitions(spec, with_partition_columns=True)))
            # Unnamed: Postgres picks a unique name (a derived one could exceed 63 bytes and collide).
            conn.execute(sql.SQL("CREATE INDEX ON {} (definition, instance_id, week_start)").format(table))
            conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(table, sql.Literal(_table_comment(spec))))
            existing = {column.name: (postgres_type(spec, column), None) for column in spec.output_columns}
        for column in changes:
            if column.name not in existing:
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                        table, sql.Identifier(column.name), sql.SQL(postgres_type(spec, column))
                    )
                )
            elif (existing[column.name][1] or "") == column.description:
                continue
            conn.execute(
                sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
                    table, sql.Identifier(column.name), sql.Literal(column.description or None)
                )
            )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def rows_of(key: ResultKey) -> tuple[sql.SQL, tuple[Any, ...]]:
    """The WHERE condition (and its values) that selects the rows of one result key."""
    return (sql.SQL("definition = %s AND parameters_hash = %s AND instance_id = %s AND week_start = %s "
                    "AND window_end = %s"),
            (key.definition, key.parameters_hash, key.instance_id, key.week_start, key.window_end))


def quoted_columns(names: Iterable[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)
