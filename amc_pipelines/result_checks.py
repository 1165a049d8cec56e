"""Checks and previews of one loaded partition of ``amc_results.<report>`` (no Dagster here).

The report assets turn these into asset checks and materialization metadata:

- :func:`schema_differences`: the live table's columns and Postgres types against the spec's
  output columns (the loader's own type mapping, :data:`amc_pipelines.results.POSTGRES_TYPES`);
- :func:`duplicate_keys`: dimension-column combinations that occur more than once in the
  partition (AMC returns one row per group, so a repeat means a broken load or a wrong spec);
- :func:`preview_rows`: the first rows of the partition, for the UI.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg import Connection, sql

from amc_pipelines.results import (
    PARTITION_COLUMNS,
    existing_columns,
    postgres_type,
    rows_of,
    table_identifier,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from amc_pipelines.catalog import ReportSpec
    from amc_pipelines.partitions import ResultKey


@dataclass(frozen=True)
class DuplicateKeys:
    groups: int  # dimension combinations seen more than once
    examples: list[dict[str, Any]]  # up to 5, with their count


@contextmanager
def _connection(engine: Engine) -> Iterator[Connection]:
    raw = engine.raw_connection()
    try:
        conn: Connection = raw.driver_connection
        try:
            yield conn
        finally:
            conn.rollback()  # read only
    finally:
        raw.close()


def schema_differences(engine: Engine, spec: ReportSpec) -> list[str]:
    """Each way the result table differs from the spec (missing table, missing column, other type)."""
    with _connection(engine) as conn:
        existing = existing_columns(conn, spec)
    table = f"amc_results.{spec.name}"
    if existing is None:
        return [f"table {table} does not exist"]
    problems = []
    wanted = [(c.name, postgres_type(spec, c)) for c in spec.output_columns]
    wanted += [(name, ddl.split(" not null")[0].split(" default")[0]) for name, ddl in PARTITION_COLUMNS]
    for name, wanted_type in wanted:
        if name not in existing:
            problems.append(f"column {name} ({wanted_type}) is missing from {table}")
        elif existing[name][0] != wanted_type:
            problems.append(f"column {name} is {existing[name][0]} in {table}, the spec says {wanted_type}")
    return problems


def duplicate_keys(engine: Engine, spec: ReportSpec, key: ResultKey) -> DuplicateKeys:
    """Dimension-column combinations appearing more than once in the partition (no dimensions: more than one row)."""
    names = [c.name for c in spec.dimension_columns]
    where, values = rows_of(key)
    columns = sql.SQL(", ").join(map(sql.Identifier, names)) if names else sql.SQL("")
    select_list = sql.SQL("{}, count(*)").format(columns) if names else sql.SQL("count(*)")
    query = sql.SQL("SELECT {} FROM {} WHERE {} {} HAVING count(*) > 1 ORDER BY count(*) DESC").format(
        select_list, table_identifier(spec), where,
        sql.SQL("GROUP BY {}").format(columns) if names else sql.SQL(""))
    with _connection(engine) as conn:
        rows = conn.execute(query, values).fetchall()
    examples = [{**{n: _plain(v) for n, v in zip(names, row[:-1], strict=True)}, "count": row[-1]} for row in rows[:5]]
    return DuplicateKeys(groups=len(rows), examples=examples)


def privacy_filtered_rows(engine: Engine, spec: ReportSpec, key: ResultKey) -> int | None:
    """Rows of the partition that AMC flagged as under their aggregation threshold, or None when the
    report has no discriminator column and AMC cannot say (REMOVE_ROWS drops such rows silently)."""
    column = spec.privacy.discriminator_column
    if column is None:
        return None
    where, values = rows_of(key)
    query = sql.SQL("SELECT count(*) FROM {} WHERE {} AND {}").format(
        table_identifier(spec), where, sql.Identifier(column))
    with _connection(engine) as conn:
        return conn.execute(query, values).fetchone()[0]


def _plain(value: Any) -> Any:
    # JSON-safe: dates and decimals as text.
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def preview_rows(engine: Engine, spec: ReportSpec, key: ResultKey, *, limit: int = 10) -> list[tuple[Any, ...]]:
    """The partition's first ``limit`` rows in the spec's column order, sorted by the dimensions."""
    names = spec.column_names
    order = [c.name for c in spec.dimension_columns] or names
    where, values = rows_of(key)
    query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT {}").format(
        sql.SQL(", ").join(map(sql.Identifier, names)), table_identifier(spec), where,
        sql.SQL(", ").join(map(sql.Identifier, order)), sql.Literal(limit))
    with _connection(engine) as conn:
        return conn.execute(query, values).fetchall()


def markdown_table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    def cell(value: Any) -> str:
        return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
