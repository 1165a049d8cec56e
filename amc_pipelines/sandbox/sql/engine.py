"""The sandbox's AMC SQL engine: validate AMC SQL, run it on an instance's DuckDB schema.

Pipeline (all on the sqlglot tree): parse as Spark SQL -> dialect rules -> table references
(EXTEND_TIME_WINDOW) -> typed parameter placeholders -> qualify columns (unknown ones rejected)
-> threshold rules on column lineage -> privacy user sets -> window-limited table subqueries
-> AMC functions as DuckDB's -> DuckDB SQL executed with bound values -> thresholds applied.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, TokenError
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from amc_pipelines.sandbox.sql import privacy, rules
from amc_pipelines.sandbox.sql.functions import translate_functions
from amc_pipelines.sandbox.sql.lineage import LineageResolver
from amc_pipelines.sandbox.sql.models import PRIVACY_BEHAVIORS, QueryFailed, QueryRejected, QueryRequest
from amc_pipelines.sandbox.sql.parameters import BoundParameters, bind_parameters, infer_parameter
from amc_pipelines.sandbox.sql.results import QueryResult, amc_type
from amc_pipelines.sandbox.sql.window import WindowBounds, limit_tables, resolve_tables
from amc_pipelines.sandbox.tables import sandbox_tables

AMC_DIALECT = "spark"  # AMC SQL is Spark SQL-like; AMC-only functions are handled in functions.py
# DuckDB errors that mean the query itself is invalid (REJECTED) rather than failing at run time.
_ANALYSIS_ERRORS = (duckdb.BinderException, duckdb.CatalogException, duckdb.ParserException)


@cache
def _schema_mapping() -> dict[str, dict[str, str]]:
    return {name: {c.name: c.duckdb_type for c in table.columns} for name, table in sandbox_tables().items()}


def parse_amc(sql: str) -> exp.Expression:
    """The one statement of ``sql``; syntax errors are rejected with their position."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=AMC_DIALECT) if s is not None]
    except ParseError as error:
        detail = error.errors[0] if error.errors else {}
        description = re.sub(r" for <class [^>]+>", "", detail.get("description", str(error)))
        raise QueryRejected(
            f"Syntax error at line {detail.get('line', '?')}, column {detail.get('col', '?')} "
            f"near '{detail.get('highlight', '')}': {description}"
        ) from None
    except TokenError as error:
        raise QueryRejected(f"Syntax error: {error}") from None
    if len(statements) != 1:
        raise QueryRejected("The query is empty" if not statements else rules.NOT_A_QUERY)
    return statements[0]


def window_in_utc(request: QueryRequest) -> WindowBounds:
    try:
        zone = ZoneInfo(request.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise QueryRejected(f"Invalid timeWindowTimeZone '{request.time_zone}': use an IANA time zone name") from None

    def to_utc(moment: datetime) -> datetime:
        local = moment.replace(tzinfo=zone) if moment.tzinfo is None else moment
        return local.astimezone(UTC).replace(tzinfo=None)

    bounds = WindowBounds(to_utc(request.time_window_start), to_utc(request.time_window_end))
    if bounds.end_utc <= bounds.start_utc:
        raise QueryRejected("timeWindowEnd must be after timeWindowStart")
    return bounds


@dataclass
class CompiledQuery:
    tree: exp.Expression  # qualified, parameters bound, user sets threaded; tables not yet limited
    parameters: BoundParameters
    bounds: WindowBounds
    output: list[privacy.OutputColumn]
    carries_users: bool


def compile_query(request: QueryRequest) -> CompiledQuery:
    """Everything that needs no data: parse, rules, parameters, columns. Raises QueryRejected."""
    if request.privacy_filtering_behavior not in PRIVACY_BEHAVIORS:
        raise QueryRejected(f"privacyFilteringBehavior must be one of {', '.join(PRIVACY_BEHAVIORS)}")
    bounds = window_in_utc(request)
    tree = parse_amc(request.sql)
    rules.check_dialect(tree)
    resolve_tables(tree)
    parameters = bind_parameters(
        tree,
        declared=request.input_parameters,
        values=request.parameter_values,
        window_start_utc=bounds.start_utc,
        window_end_utc=bounds.end_utc,
    )
    try:
        tree = qualify(
            tree,
            schema=MappingSchema(_schema_mapping(), dialect="duckdb"),
            dialect=AMC_DIALECT,
            validate_qualify_columns=True,
            quote_identifiers=True,
        )
    except OptimizeError as error:
        raise QueryRejected(f"Invalid query: {error}") from None
    resolver = LineageResolver(tree)
    rules.check_thresholds(resolver)
    output = privacy.output_columns(resolver)
    discriminator = request.filtered_metrics_discriminator_column
    if discriminator and discriminator.lower() in (c.name.lower() for c in output):
        raise QueryRejected(f"filteredMetricsDiscriminatorColumn '{discriminator}' collides with an output column")
    tree, carries = privacy.propagate_user_sets(tree)
    return CompiledQuery(tree, parameters, bounds, output, carries)


class SqlEngine:
    """Runs AMC SQL over a sandbox dataset; safe to call from several threads at once."""

    def __init__(self, dataset) -> None:
        self._dataset = dataset
        self._lock = threading.Lock()
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._catalog: str | None = None  # the dataset's database name, so schema names never clash with it

    def validate(self, request: QueryRequest) -> None:
        """Check the query as AMC does at submission (and for dryRun); touches no data."""
        compile_query(request)

    def translate(self, request: QueryRequest, schema: str) -> tuple[str, dict[str, Any]]:
        """The DuckDB SQL and bound values the engine would run against ``schema`` (for debugging)."""
        compiled = compile_query(request)
        return self._duckdb_sql(compiled, schema, catalog=None)

    def run(self, request: QueryRequest, instance_id: str) -> QueryResult:
        compiled = compile_query(request)
        schema = self._dataset.instance(instance_id).schema
        connection, catalog = self._connect()
        sql, values = self._duckdb_sql(compiled, schema, catalog=catalog)
        cursor = connection.cursor()
        try:
            cursor.execute(sql, values)
            description = cursor.description or []
            rows = cursor.fetchall()
        except _ANALYSIS_ERRORS as error:
            raise QueryRejected(f"Invalid query: {_first_line(error)}") from None
        except duckdb.Error as error:
            raise QueryFailed(f"Query failed: {_first_line(error)}") from None
        finally:
            cursor.close()
        return self._result(compiled, request, description, rows)

    def _duckdb_sql(self, compiled: CompiledQuery, schema: str, catalog: str | None) -> tuple[str, dict[str, Any]]:
        tree = compiled.tree.copy()
        values = dict(compiled.parameters.values)
        limit_tables(
            tree,
            catalog=catalog,
            schema=schema,
            bounds=compiled.bounds,
            values=values,
            extra_projection=privacy.base_table_users if compiled.carries_users else None,
        )
        tree = translate_functions(tree)
        return tree.sql(dialect="duckdb"), values

    def _connect(self) -> tuple[duckdb.DuckDBPyConnection, str]:
        with self._lock:
            if self._connection is None:
                connection = self._dataset.connect()
                # One thread per query: DuckDB's parallel SUM of DOUBLE columns adds in a
                # thread-dependent order, so the same execution could return different last digits
                # (and checksums). The sandbox runs executions in parallel instead.
                connection.execute("SET threads TO 1")
                self._catalog = connection.execute("SELECT current_database()").fetchone()[0]
                self._connection = connection
            return self._connection, self._catalog

    @staticmethod
    def _result(compiled: CompiledQuery, request: QueryRequest, description, rows: list[tuple]) -> QueryResult:
        names = [d[0] for d in description]
        types = [amc_type(str(d[1])) for d in description]
        if compiled.carries_users:
            user_counts = [row[-1] for row in rows]
            rows = [row[:-1] for row in rows]
            names, types = names[:-1], types[:-1]
        else:
            user_counts = [None] * len(rows)
        discriminator = request.filtered_metrics_discriminator_column
        filtered = privacy.apply_thresholds(
            compiled.output,
            rows,
            user_counts,
            behavior=request.privacy_filtering_behavior,
            discriminator=discriminator,
        )
        if discriminator:
            names, types = [*names, discriminator], [*types, "BOOLEAN"]
        return QueryResult(columns=names, column_types=types, rows=filtered.rows, rows_removed=filtered.filtered)


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def run_sql_text(
    engine: SqlEngine,
    sql: str,
    start: datetime,
    end: datetime,
    timezone: str,
    params: Mapping[str, Any],
    instance_id: str,
) -> QueryResult:
    """Run SQL from the command line: every given parameter counts as declared, typed by its JSON value."""
    request = QueryRequest(
        sql=sql,
        time_window_start=start,
        time_window_end=end,
        time_zone=timezone,
        parameter_values=dict(params),
        input_parameters=tuple(infer_parameter(name, value) for name, value in params.items()),
    )
    return engine.run(request, instance_id)
