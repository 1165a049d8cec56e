"""AMC aggregation thresholds: distinct users behind each output row, and what happens below them.

How the user count is derived: a hidden column ``__amc_users`` (a list of pseudonymous user ids)
is threaded through the query on the tree.

- Each AMC table reference carries ``[user_id]`` per event row.
- A grouped or aggregating SELECT carries the distinct union of its input rows' lists; a
  SELECT DISTINCT becomes ``GROUP BY ALL`` doing the same.
- A plain SELECT (filters, joins, window functions) carries the concatenation of the lists of
  its FROM/JOIN sources; a LEFT/FULL join's missing side adds nothing.
- CTEs and FROM subqueries pass it on; each UNION ALL branch carries its own; a UNION (distinct)
  is regrouped with the union of the lists of the rows it merges.
- The final SELECT exposes ``len(list_distinct(...))`` as ``__amc_user_count``, which the engine
  reads and drops.

The row's required minimum is static: the strictest ``Threshold.min_users`` among the source
columns whose values reach its output columns: dimension (non-aggregated) columns, and values
picked by MIN/MAX/COLLECT-like aggregates; COUNT/SUM/AVG-like aggregates hide their inputs
(see lineage.py).

What is approximated:

- Rows whose users cannot be derived get no threshold: sources without user ids (VALUES CTEs,
  UNNEST and other table functions), branches of EXCEPT/INTERSECT (the set operation would
  change if a column were added, so their output carries no users), and UNION ALL branches over
  such sources (their rows carry NULL). A query that reads no AMC table is not thresholded.
- Users reached only through a scalar subquery or an ``IN (SELECT ...)``/``EXISTS`` filter are
  not counted; only FROM/JOIN sources contribute.
- AMC's "effective" and "equivalent" user counts (users contributing non-zero metric values,
  metric total over the largest single-user value) are not computed: every user of every
  contributing event row counts, including rows whose metric is zero or NULL.
- A dimension computed by a counting aggregate (e.g. a frequency bucket from ``COUNT(*)`` per
  user in a CTE) or taken from a VALUES CTE has class NONE, and a row whose columns are all NONE
  needs no users (so a VALUES label joined 1:1 to a campaign is not thresholded by itself).
- With ``filteredMetricsDiscriminatorColumn`` the filtered rows lose the dimension values whose
  class needs more users than the row has and are re-aggregated by summing the numeric metrics
  (as documented); non-numeric metrics of merged rows are kept only when they agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlglot import exp

from amc_pipelines.sandbox.sql.lineage import LineageResolver, is_aggregate_call
from amc_pipelines.sandbox.sql.rules import final_scopes
from amc_pipelines.sandbox.sql.window import EXTENSION_META
from amc_pipelines.sandbox.tables import Table, Threshold, sandbox_tables

USERS = "__amc_users"
USER_COUNT = "__amc_user_count"
_USER_LIST_TYPE = "VARCHAR[]"


def _call(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def base_table_users(table: Table) -> exp.Expression | None:
    """The hidden projection added to a window-limited AMC table: its user id as a one-element list."""
    if table.user_column is None:
        return None
    user = exp.Cast(this=exp.column(table.user_column, quoted=True), to=exp.DataType.build("VARCHAR"))
    return exp.alias_(exp.Array(expressions=[user]), USERS, quoted=True)


def propagate_user_sets(tree: exp.Expression) -> tuple[exp.Expression, bool]:
    """Thread ``__amc_users`` through ``tree`` (qualified, before window limiting).

    Returns the (possibly new) root and whether its rows carry user sets; when they do, the root's
    last column is ``__amc_user_count``.
    """
    root, carries = _instrument(tree, {})
    if carries:
        _count_users(root)
    return root, carries


def _instrument(node: exp.Expression, ctes: dict[str, bool]) -> tuple[exp.Expression, bool]:
    ctes = dict(ctes)
    with_ = node.args.get("with_")
    if with_ is not None:
        for cte in with_.expressions:
            _, ctes[cte.alias_or_name] = _instrument(cte.this, ctes)
    if isinstance(node, exp.Subquery):
        return node, _instrument(node.this, ctes)[1]
    if isinstance(node, exp.Union):
        carried = [_instrument(side, ctes)[1] for side in (node.left, node.right)]
        if not any(carried):
            return node, False
        for side, carries in zip((node.left, node.right), carried, strict=True):
            if not carries:
                _append_no_users(side)
        if node.args.get("distinct"):
            return _regroup_distinct_union(node), True
        return node, True
    if isinstance(node, exp.Select):
        return node, _instrument_select(node, ctes)
    return node, False  # EXCEPT / INTERSECT: see the module docstring


def _source_carries(source: exp.Expression, ctes: dict[str, bool]) -> bool:
    if isinstance(source, exp.Table):
        if source.name in ctes and EXTENSION_META not in source.meta and not source.args.get("db"):
            return ctes[source.name]
        table = sandbox_tables().get(source.name.lower())  # resolve_tables rejected every other name
        return table is not None and table.user_column is not None
    if isinstance(source, exp.Subquery):
        return _instrument(source.this, ctes)[1]
    return False


def _instrument_select(select: exp.Select, ctes: dict[str, bool]) -> bool:
    from_ = select.args.get("from_")
    sources = ([from_.this] if from_ is not None else []) + [join.this for join in select.args.get("joins") or []]
    carrying = [source.alias_or_name for source in sources if _source_carries(source, ctes)]
    if not carrying:
        return False
    lists = [exp.column(USERS, table=alias, quoted=True) for alias in carrying]
    combined = lists[0] if len(lists) == 1 else _concat_lists(lists)
    if _aggregates(select):
        select.append("expressions", exp.alias_(_distinct_union(combined), USERS, quoted=True))
    elif select.args.get("distinct") and not select.args["distinct"].args.get("on"):
        select.set("distinct", None)
        select.set("group", exp.Group(all=True))
        select.append("expressions", exp.alias_(_distinct_union(combined), USERS, quoted=True))
    else:
        select.append("expressions", exp.alias_(combined, USERS, quoted=True))
    return True


def _aggregates(select: exp.Select) -> bool:
    if select.args.get("group"):
        return True
    for projection in select.expressions:
        for node in projection.walk(prune=lambda n: isinstance(n, exp.Window | exp.Query)):
            if is_aggregate_call(node) and not isinstance(node, exp.Window):
                return True
    return False


def _concat_lists(lists: list[exp.Expression]) -> exp.Expression:
    # NULL only when every side is NULL (no users derivable); a missing outer-join side adds nothing.
    all_null = exp.and_(*(exp.Is(this=item.copy(), expression=exp.Null()) for item in lists))
    concatenated = _call("LIST_CONCAT", *lists)
    return exp.Case(ifs=[exp.If(this=all_null, true=exp.Null())], default=concatenated)


def _distinct_union(lists: exp.Expression) -> exp.Expression:
    none_known = exp.EQ(this=exp.Count(this=lists.copy()), expression=exp.Literal.number(0))
    merged = _call("LIST_DISTINCT", _call("FLATTEN", _call("LIST", lists)))
    return exp.Case(ifs=[exp.If(this=none_known, true=exp.Null())], default=merged)


def _append_no_users(node: exp.Expression) -> None:
    if isinstance(node, exp.Subquery):
        _append_no_users(node.this)
    elif isinstance(node, exp.SetOperation):
        _append_no_users(node.left)
        _append_no_users(node.right)
    elif isinstance(node, exp.Select):
        null_list = exp.Cast(this=exp.Null(), to=exp.DataType.build(_USER_LIST_TYPE, dialect="duckdb"))
        node.append("expressions", exp.alias_(null_list, USERS, quoted=True))


def _regroup_distinct_union(union: exp.Union) -> exp.Expression:
    parent = union.parent
    names = [name for name in union.named_selects if name != USERS]
    inner = union.copy()
    inner.set("distinct", False)
    inner.set("with_", None)
    regrouped = exp.Select(
        expressions=[exp.column(name, quoted=True) for name in names]
        + [exp.alias_(_distinct_union(exp.column(USERS, quoted=True)), USERS, quoted=True)]
    ).from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("__amc_union", quoted=True))))
    regrouped.set("group", exp.Group(all=True))
    if union.args.get("with_") is not None:
        regrouped.set("with_", union.args["with_"])
    if parent is not None:
        union.replace(regrouped)
    return regrouped


def _count_users(node: exp.Expression) -> None:
    if isinstance(node, exp.Subquery):
        _count_users(node.this)
    elif isinstance(node, exp.SetOperation):
        _count_users(node.left)
        _count_users(node.right)
    elif isinstance(node, exp.Select):
        hidden = node.expressions[-1]
        count = _call("LEN", _call("LIST_DISTINCT", hidden.this))
        hidden.replace(exp.alias_(count, USER_COUNT, quoted=True))


@dataclass(frozen=True)
class OutputColumn:
    name: str
    is_metric: bool
    threshold: Threshold  # strictest class of the source columns whose values reach it


def output_columns(resolver: LineageResolver) -> list[OutputColumn]:
    """Metric/dimension split and threshold class of each output column (before instrumentation)."""
    per_position: list[list] = []
    for scope in final_scopes(resolver):
        if not isinstance(scope.expression, exp.Select):
            continue
        for position, projection in enumerate(scope.expression.selects):
            if position == len(per_position):
                per_position.append([])
            per_position[position].append(resolver.of_expression(scope, projection))
    names = resolver.root.expression.named_selects if resolver.root else []
    columns = []
    for name, lineages in zip(names, per_position, strict=False):
        threshold = max(lineage.threshold for lineage in lineages)
        columns.append(OutputColumn(name, all(lineage.aggregated for lineage in lineages), threshold))
    return columns


@dataclass
class FilteredRows:
    rows: list[tuple]
    filtered: int  # rows under their threshold (dropped, blanked or merged)


def apply_thresholds(
    columns: Sequence[OutputColumn],
    rows: Sequence[tuple],
    user_counts: Sequence[int | None],
    *,
    behavior: str,
    discriminator: str | None,
) -> FilteredRows:
    """Drop (REMOVE_ROWS) or blank (REMOVE_VALUES) the rows under their threshold.

    With a discriminator column, REMOVE_ROWS keeps filtered rows as documented: values whose class
    needs more users than the row has become NULL, rows that then match are summed, and the
    appended boolean column says TRUE; REMOVE_VALUES blanks the metrics and flags the row TRUE.
    """
    required = max((c.threshold.min_users for c in columns), default=0)
    output: list[tuple] = []
    merged: dict[tuple, int] = {}  # dimension values of a merged filtered row -> its index in output
    filtered = 0
    for row, users in zip(rows, user_counts, strict=True):
        if users is None or users >= required:
            output.append(row + (False,) if discriminator else row)
            continue
        filtered += 1
        if behavior == "REMOVE_VALUES":
            blanked = tuple(None if c.is_metric else v for c, v in zip(columns, row, strict=True))
            output.append(blanked + (True,) if discriminator else blanked)
        elif discriminator:
            _merge_filtered(columns, row, users, output, merged)
    return FilteredRows(output, filtered)


def _merge_filtered(columns, row: tuple, users: int, output: list[tuple], merged: dict[tuple, int]) -> None:
    kept = tuple(
        value if column.threshold.min_users <= users else None for column, value in zip(columns, row, strict=True)
    )
    key = tuple(v for c, v in zip(columns, kept, strict=True) if not c.is_metric)
    if key not in merged:
        merged[key] = len(output)
        output.append(kept + (True,))
        return
    index = merged[key]
    previous = output[index]
    output[index] = tuple(
        _sum(old, new) if column.is_metric else old for column, old, new in zip(columns, previous, kept, strict=False)
    ) + (True,)


def _sum(old: Any, new: Any) -> Any:
    numeric = (int, float, Decimal)
    if old is None or new is None:
        return new if old is None else old
    if isinstance(old, numeric) and isinstance(new, numeric) and not isinstance(old, bool):
        return old + new
    return old if old == new else None
