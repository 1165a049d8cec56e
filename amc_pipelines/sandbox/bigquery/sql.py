"""GoogleSQL on DuckDB: sqlglot translates, the stand-in resolves table names, parameters are bound.

``translate`` parses the query as BigQuery SQL, resolves every ```project.dataset.table``` (or
``dataset.table`` in the job's project, or ``table`` in the default dataset) to the DuckDB table of
the same dataset, names anonymous result columns ``f0_``, ``f1_``... as BigQuery does, and generates
DuckDB SQL in which ``@name`` is ``$name`` and ``?`` stays ``?``. ``bind_parameters`` turns the
request's ``queryParameters`` into the Python values DuckDB binds: values never become SQL text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from .errors import BigQueryError, invalid_query
from .warehouse import Warehouse


@dataclass(frozen=True)
class Translated:
    sql: str  # DuckDB SQL
    tables: tuple[tuple[str, str], ...]  # (dataset, table) read
    columns: frozenset[str] | None  # column names read; None: every column (SELECT *)
    named: frozenset[str]  # @names used
    positional: int  # number of ? placeholders


def translate(query: str, warehouse: Warehouse, *, project: str, default_dataset: str | None) -> Translated:
    try:
        statements = [s for s in sqlglot.parse(query, read="bigquery") if s is not None]
    except ParseError as error:
        detail = error.errors[0] if error.errors else {}
        raise invalid_query(
            f"Syntax error: {detail.get('description', str(error))} at [{detail.get('line', 1)}:{detail.get('col', 1)}]"
        ) from None
    except SqlglotError as error:
        raise invalid_query(f"Syntax error: {error}") from None
    if not statements:
        raise invalid_query("Syntax error: Unexpected end of script at [1:1]")
    if len(statements) > 1:
        raise invalid_query("The BigQuery stand-in runs one statement per query job; multi-statement scripts are not supported.")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise invalid_query(f"The BigQuery stand-in runs SELECT queries only, not {tree.key.upper()} statements.")

    cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    tables: list[tuple[str, str]] = []
    for table in list(tree.find_all(exp.Table)):
        if not table.args.get("db") and table.name in cte_names:
            continue
        table_project = table.catalog or project
        dataset = table.db or default_dataset
        if not dataset:
            raise invalid_query(f'Table "{table.name}" must be qualified with a dataset (e.g. dataset.table).')
        warehouse.require_table(table_project, dataset, table.name)
        table.set("catalog", None)
        table.set("db", exp.to_identifier(dataset, quoted=True))
        table.set("this", exp.to_identifier(table.name, quoted=True))
        tables.append((dataset, table.name))

    _name_anonymous_columns(tree)
    _keep_bigquery_semantics(tree)
    # SELECT * (or t.*) reads every column; COUNT(*) reads none.
    reads_all = any(isinstance(star.parent, exp.Select | exp.Column) for star in tree.find_all(exp.Star))
    columns = None if reads_all else frozenset(c.name for c in tree.find_all(exp.Column))
    named = frozenset(p.name for p in tree.find_all(exp.Parameter))
    positional = sum(1 for _ in tree.find_all(exp.Placeholder))
    if named and positional:
        raise invalid_query("Query cannot mix named (@name) and positional (?) query parameters.")
    try:
        sql = tree.sql(dialect="duckdb", unsupported_level=sqlglot.ErrorLevel.RAISE)
    except SqlglotError as error:
        raise invalid_query(f"The BigQuery stand-in cannot run this query on DuckDB: {error}") from None
    return Translated(sql, tuple(dict.fromkeys(tables)), columns, named, positional)


def _name_anonymous_columns(tree: exp.Expression) -> None:
    select = tree if isinstance(tree, exp.Select) else next(iter(tree.find_all(exp.Select)), None)
    if select is None:
        return
    anonymous = 0
    for expression in list(select.expressions):
        if isinstance(expression, exp.Alias | exp.Column | exp.Star) or (
            isinstance(expression, exp.Dot) and expression.name
        ):
            continue
        expression.replace(exp.alias_(expression.copy(), f"f{anonymous}_"))
        anonymous += 1


def _keep_bigquery_semantics(tree: exp.Expression) -> None:
    """Rewrites where sqlglot keeps BigQuery's syntax but DuckDB gives it another meaning."""
    for extract in list(tree.find_all(exp.Extract)):
        # BigQuery's DAYOFWEEK counts Sunday as 1, DuckDB's as 0.
        if extract.this.name.upper() == "DAYOFWEEK":
            extract.replace(exp.Paren(this=exp.Add(this=extract.copy(), expression=exp.Literal.number(1))))


def bytes_processed(translated: Translated, warehouse: Warehouse) -> int:
    """BigQuery's on-demand model: the logical bytes of every column the query reads."""
    total = 0
    for dataset, table in translated.tables:
        sizes = warehouse.column_bytes(dataset, table)
        total += sum(size for name, size in sizes.items() if translated.columns is None or name in translated.columns)
    return total


# ---- parameters --------------------------------------------------------------------------------

def bind_parameters(translated: Translated, parameters: list[dict[str, Any]], mode: str | None) -> dict[str, Any] | list[Any] | None:
    """The values to bind: a dict for named parameters, a list for positional ones."""
    if translated.positional:
        if mode not in (None, "POSITIONAL") or any(p.get("name") for p in parameters):
            raise invalid_query("Positional parameters (?) need parameterMode POSITIONAL and unnamed queryParameters.")
        if len(parameters) != translated.positional:
            raise invalid_query(
                f"Query has {translated.positional} positional parameters but {len(parameters)} were provided."
            )
        return [parameter_value(p) for p in parameters]
    given = {}
    for parameter in parameters:
        name = parameter.get("name")
        if not name:
            raise invalid_query("Positional query parameters were given but the query has no ? placeholders.")
        given[name] = parameter
    missing = sorted(translated.named - set(given))
    if missing:
        raise invalid_query(f"Query parameter '{missing[0]}' not found")
    if not translated.named:
        return None
    # DuckDB refuses values it has no placeholder for: bind only the ones the query uses.
    return {name: parameter_value(given[name]) for name in translated.named}


def parameter_value(parameter: dict[str, Any]) -> Any:
    name = parameter.get("name") or "?"
    try:
        return _value(parameter["parameterType"], parameter.get("parameterValue") or {})
    except (KeyError, TypeError, ValueError, InvalidOperation) as error:
        raise BigQueryError(
            "invalid", f"Invalid value for query parameter {name}: {error}", location=name
        ) from None


def _value(parameter_type: dict[str, Any], parameter_value: dict[str, Any]) -> Any:
    kind = parameter_type["type"].upper()
    if kind == "ARRAY":
        element_type = parameter_type["arrayType"]
        return [_value(element_type, item) for item in parameter_value.get("arrayValues") or []]
    if kind == "STRUCT":
        raise ValueError("STRUCT parameters are not supported by the BigQuery stand-in")
    raw = parameter_value.get("value")
    if raw is None:
        return None
    if kind == "STRING":
        return str(raw)
    if kind in ("INT64", "INTEGER"):
        return int(raw)
    if kind in ("FLOAT64", "FLOAT"):
        return float(raw)
    if kind in ("NUMERIC", "BIGNUMERIC"):
        return Decimal(str(raw))
    if kind in ("BOOL", "BOOLEAN"):
        if str(raw).lower() not in ("true", "false"):
            raise ValueError(f"{raw!r} is not a BOOL")
        return str(raw).lower() == "true"
    if kind == "DATE":
        return date.fromisoformat(str(raw))
    if kind == "TIMESTAMP":
        moment = datetime.fromisoformat(str(raw).replace(" UTC", "+00:00"))
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # BigQuery: no zone is UTC
    if kind == "DATETIME":
        return datetime.fromisoformat(str(raw))
    raise ValueError(f"type {kind} is not supported by the BigQuery stand-in")


# ---- DuckDB errors as BigQuery's -----------------------------------------------------------------

_MISSING_COLUMN = re.compile(r'Referenced column "([^"]+)" not found')
_MISSING_FUNCTION = re.compile(r"Scalar Function with name (\w+) does not exist|Function with name (\w+) does not exist")


def query_error(error: duckdb.Error) -> BigQueryError:
    """A DuckDB failure in BigQuery's words (its first line; DuckDB's hints follow on others)."""
    message = str(error).splitlines()[0]
    if match := _MISSING_COLUMN.search(message):
        return invalid_query(f"Unrecognized name: {match.group(1)}")
    if match := _MISSING_FUNCTION.search(message):
        return invalid_query(f"Function not found: {match.group(1) or match.group(2)}")
    if isinstance(error, duckdb.ParserException):
        return invalid_query(f"Syntax error: {message}")
    return invalid_query(message)
