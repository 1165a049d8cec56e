"""Which AMC columns feed each value of a qualified query, and whether through an aggregate.

Works on the tree after sqlglot's ``qualify`` (every column carries its source alias), scope by
scope: a column of a base table contributes that column's threshold class; a column of a CTE or
subquery contributes the lineage of that projection (every branch of a UNION). Columns read
inside a counting aggregate (COUNT, SUM, AVG, STDDEV, ...) or a window's PARTITION BY / ORDER BY
do not expose their values and contribute no threshold; value-picking aggregates (MIN, MAX,
COLLECT, MEDIAN, PERCENTILE, ...) expose the values they pick, so their columns still count.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from amc_pipelines.sandbox.sql.functions import ANONYMOUS_AGGREGATES
from amc_pipelines.sandbox.tables import Threshold, sandbox_tables


@dataclass(frozen=True)
class Lineage:
    threshold: Threshold  # strictest class among the source columns whose values reach the value
    strictest_column: str | None  # the column that sets ``threshold`` (for messages)
    aggregated: bool  # the value is computed by an aggregate: a metric

    @staticmethod
    def constant() -> Lineage:
        return Lineage(Threshold.NONE, None, aggregated=False)


def is_aggregate_call(node: exp.Expression) -> bool:
    return isinstance(node, exp.AggFunc | exp.Window) or (
        isinstance(node, exp.Anonymous) and node.name.upper() in ANONYMOUS_AGGREGATES
    )


def contains_aggregate(node: exp.Expression) -> bool:
    return any(is_aggregate_call(n) for n in node.walk())


# Aggregates whose result is one of their input values (or a list of them).
_VALUE_PICKING = (exp.Min, exp.Max, exp.ArrayAgg, exp.Median, exp.Quantile, exp.ApproxQuantile, exp.First,
                  exp.Last, exp.AnyValue, exp.PercentileCont, exp.PercentileDisc)


def _hidden_by_aggregate(column: exp.Column, root: exp.Expression) -> bool:
    """Whether the nearest aggregate around ``column`` (within ``root``) hides its values."""
    child, node = column, column.parent
    while node is not None and child is not root:
        if isinstance(node, exp.Window):
            if child is not node.this:
                return True  # PARTITION BY / ORDER BY of a window
        elif is_aggregate_call(node):
            picks = isinstance(node, (*_VALUE_PICKING, exp.Anonymous))  # anonymous ones: COLLECT, PERCENTILE
            return not picks
        child, node = node, node.parent
    return False


def _has_aggregate_ancestor(column: exp.Column, root: exp.Expression) -> bool:
    node = column.parent
    while node is not None and node is not root.parent:
        if is_aggregate_call(node):
            return True
        node = node.parent
    return False


class LineageResolver:
    """Lineage of expressions in a qualified tree; results are cached per scope projection."""

    def __init__(self, tree: exp.Expression) -> None:
        self.scopes: list[Scope] = traverse_scope(tree)
        self.root: Scope | None = self.scopes[-1] if self.scopes else None
        self._tables = sandbox_tables()
        self._projections: dict[tuple[int, str], Lineage] = {}

    def scope_of(self, expression: exp.Expression) -> Scope | None:
        for scope in self.scopes:
            if scope.expression is expression:
                return scope
        return None

    def of_expression(self, scope: Scope, expression: exp.Expression) -> Lineage:
        threshold, strictest = Threshold.NONE, None
        has_aggregate = contains_aggregate(expression)
        plain_columns = 0
        all_plain_are_metrics = True
        for column in expression.find_all(exp.Column):
            if isinstance(column.this, exp.Star) or _hidden_by_aggregate(column, expression):
                continue
            source_lineage = self._of_column(scope, column)
            if not _has_aggregate_ancestor(column, expression):
                plain_columns += 1
                all_plain_are_metrics &= source_lineage.aggregated
            if source_lineage.threshold > threshold or strictest is None and source_lineage.strictest_column:
                threshold = max(threshold, source_lineage.threshold)
                strictest = source_lineage.strictest_column
        aggregated = has_aggregate or (plain_columns > 0 and all_plain_are_metrics)
        return Lineage(threshold, strictest, aggregated)

    def _of_column(self, scope: Scope, column: exp.Column) -> Lineage:
        source = scope.sources.get(column.table)
        if isinstance(source, exp.Table):
            table = self._tables.get(source.name.lower())
            if table is None or column.name not in table.column_names:
                return Lineage.constant()
            threshold = table.column(column.name).threshold
            return Lineage(threshold, column.name, aggregated=False)
        if isinstance(source, Scope):
            return self.of_projection(source, column.name)
        return Lineage.constant()

    def of_projection(self, scope: Scope, name: str) -> Lineage:
        key = (id(scope), name)
        if key not in self._projections:
            self._projections[key] = Lineage.constant()  # guards against cycles
            self._projections[key] = self._resolve_projection(scope, name)
        return self._projections[key]

    def _resolve_projection(self, scope: Scope, name: str) -> Lineage:
        if scope.set_operation_scopes:
            position = _position(scope.expression, name)
            branches = [self._branch_projection(branch, position) for branch in scope.set_operation_scopes]
            branches = [b for b in branches if b is not None]
            return _combine(branches) if branches else Lineage.constant()
        expression = scope.expression
        if not isinstance(expression, exp.Select):
            return Lineage.constant()
        for projection in expression.selects:
            if projection.alias_or_name == name:
                return self.of_expression(scope, projection)
        return Lineage.constant()

    def _branch_projection(self, branch: Scope, position: int | None) -> Lineage | None:
        if position is None:
            return None
        if branch.set_operation_scopes:
            names = branch.expression.named_selects
            return self.of_projection(branch, names[position]) if position < len(names) else None
        selects = branch.expression.selects if isinstance(branch.expression, exp.Select) else []
        return self.of_expression(branch, selects[position]) if position < len(selects) else None


def _position(query: exp.Expression, name: str) -> int | None:
    names = query.named_selects if isinstance(query, exp.Query) else []
    return names.index(name) if name in names else None


def _combine(lineages: list[Lineage]) -> Lineage:
    strictest = max(lineages, key=lambda lineage: lineage.threshold)
    return Lineage(strictest.threshold, strictest.strictest_column, all(lineage.aggregated for lineage in lineages))
