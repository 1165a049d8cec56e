"""AMC table references and the execution time window.

Every reference to an AMC table is replaced (on the tree) by a subquery over the instance's
schema limited to ``[window start, window end)`` by the table's event-time column, so the
window travels with the query and concurrent executions never share state.
``TABLE(EXTEND_TIME_WINDOW('t', 'P14D', 'P1D'))`` widens that table's window by ISO-8601
durations before the start and after the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlglot import exp

from amc_pipelines.params.durations import iso_duration
from amc_pipelines.sandbox.sql.models import QueryRejected
from amc_pipelines.sandbox.tables import Table, sandbox_tables

EXTENSION_META = "amc_window_extension"


@dataclass(frozen=True)
class WindowExtension:
    before: timedelta = timedelta(0)
    after: timedelta = timedelta(0)


def parse_duration(text: str) -> timedelta:
    """An ISO-8601 duration in weeks, days, hours, minutes and seconds (``P14D``, ``PT12H``)."""
    try:
        return iso_duration(text)
    except ValueError:
        raise QueryRejected(
            f"Invalid duration '{text}' in EXTEND_TIME_WINDOW: use an ISO-8601 duration such as 'P14D' or 'PT12H'"
        ) from None


def _extend_arguments(call: exp.Anonymous) -> tuple[str, WindowExtension]:
    args = call.expressions
    if len(args) != 3 or not all(isinstance(a, exp.Literal) and a.is_string for a in args):
        raise QueryRejected(
            "EXTEND_TIME_WINDOW takes three STRING arguments: the table name, the duration before the "
            "window start and the duration after the window end, e.g. EXTEND_TIME_WINDOW('dsp_impressions', 'P14D', 'P1D')"
        )
    table, before, after = (a.this for a in args)
    return table, WindowExtension(parse_duration(before), parse_duration(after))


def _table_function(table: exp.Table) -> exp.Anonymous | None:
    """The EXTEND_TIME_WINDOW call of ``TABLE(EXTEND_TIME_WINDOW(...))`` or a bare call."""
    node = table.this
    if isinstance(node, exp.Anonymous) and node.name.upper() == "TABLE" and len(node.expressions) == 1:
        node = node.expressions[0]
    if isinstance(node, exp.Anonymous):
        if node.name.upper() != "EXTEND_TIME_WINDOW":
            raise QueryRejected(f"Unsupported table function {node.name.upper()}")
        return node
    return None


def resolve_tables(tree: exp.Expression) -> set[str]:
    """Check every table reference and turn EXTEND_TIME_WINDOW calls into marked table references.

    Returns the AMC tables the query reads. Unknown tables are rejected by name.
    """
    known = sandbox_tables()
    cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    used: set[str] = set()
    for table in list(tree.find_all(exp.Table)):
        call = _table_function(table)
        if call is not None:
            name, extension = _extend_arguments(call)
            name = name.lower()
            if name not in known:
                raise QueryRejected(f"Table or view not found: {name} (in EXTEND_TIME_WINDOW)")
            replacement = exp.Table(this=exp.to_identifier(name), alias=table.args.get("alias"))
            replacement.meta[EXTENSION_META] = extension
            table.replace(replacement)
            used.add(name)
            continue
        name = table.name.lower()
        if not table.args.get("db") and name in cte_names:
            continue
        if table.args.get("db") or name not in known:
            raise QueryRejected(f"Table or view not found: {table.sql(dialect='spark')}")
        used.add(name)
    return used


@dataclass(frozen=True)
class WindowBounds:
    """The execution window in UTC."""

    start_utc: datetime
    end_utc: datetime


def limit_tables(
    tree: exp.Expression,
    *,
    catalog: str | None,
    schema: str,
    bounds: WindowBounds,
    values: dict[str, object],
    extra_projection: callable | None = None,
) -> None:
    """Replace each AMC table reference by its window-limited subquery (in place).

    ``values`` receives the window bounds as placeholder values; ``extra_projection(table)``
    may add one hidden column to every subquery (the privacy user set).
    """
    tables = sandbox_tables()
    placeholders: dict[WindowExtension, tuple[str, str]] = {}
    cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for reference in list(tree.find_all(exp.Table)):
        name = reference.name.lower()
        if reference.args.get("db") or name in cte_names and EXTENSION_META not in reference.meta:
            continue
        table = tables[name]
        extension = reference.meta.get(EXTENSION_META, WindowExtension())
        if extension not in placeholders:
            index = len(placeholders)
            placeholders[extension] = (f"amc_window_from_{index}", f"amc_window_to_{index}")
            values[f"amc_window_from_{index}"] = bounds.start_utc - extension.before
            values[f"amc_window_to_{index}"] = bounds.end_utc + extension.after
        start_name, end_name = placeholders[extension]
        source = exp.Table(
            this=exp.to_identifier(table.name, quoted=True),
            db=exp.to_identifier(schema, quoted=True),
            catalog=exp.to_identifier(catalog, quoted=True) if catalog else None,
        )
        reference.replace(_window_subquery(table, source, start_name, end_name, reference, extra_projection))


def _window_subquery(
    table: Table, source: exp.Table, start_name: str, end_name: str, reference: exp.Table, extra_projection
) -> exp.Subquery:
    event_time = exp.column(table.event_time_column, quoted=True)
    timestamp = exp.DataType.build("TIMESTAMP")
    in_window = exp.and_(
        exp.GTE(this=event_time, expression=exp.Cast(this=exp.Placeholder(this=start_name), to=timestamp)),
        exp.LT(this=event_time.copy(), expression=exp.Cast(this=exp.Placeholder(this=end_name), to=timestamp.copy())),
    )
    projections: list[exp.Expression] = [exp.Star()]
    if extra_projection is not None:
        extra = extra_projection(table)
        if extra is not None:
            projections.append(extra)
    select = exp.Select(expressions=projections).from_(source).where(in_window)
    alias = reference.alias_or_name
    return exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
