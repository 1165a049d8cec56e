"""AMC's dialect and privacy restrictions; each breach raises QueryRejected with an AMC-like reason.

Wording follows Amazon's "Limitations and unsupported functions" and "Aggregation threshold"
guides. Syntax rules run on the parsed tree; the threshold rules need the qualified tree and its
column lineage.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from amc_pipelines.sandbox.sql.lineage import LineageResolver, contains_aggregate
from amc_pipelines.sandbox.sql.models import QueryRejected
from amc_pipelines.sandbox.tables import Threshold

SELECT_STAR = "SELECT * is not supported: raw data cannot be exported from AMC; select named columns and aggregate them"
LIMIT = "LIMIT is not supported; use RANK() or ROW_NUMBER() OVER (ORDER BY ...) in a subquery and filter on it instead"
RIGHT_JOIN = "RIGHT JOIN is not supported; use LEFT JOIN and reverse the side of the tables"
ORDER_BY = "ORDER BY is not supported in the final query; use it only inside an OVER (PARTITION BY ... ORDER BY ...) clause"
GETDATE = "GETDATE() is not supported; use CAST('today' AS DATE) or CAST('now' AS TIMESTAMP) instead"
CONCAT_OPERATOR = "The || operator is not supported; use CONCAT(expression, expression, ...) instead"
NO_AGGREGATION = (
    "Aggregation queries must contain at least one aggregation method on a column "
    "(COUNT, SUM, AVG, MIN, MAX, ...): raw data cannot be exported from AMC"
)
NOT_A_QUERY = "Only a single SELECT query (optionally with WITH ... and UNION ALL) is supported"

_LITERAL_COMPARISONS = (
    exp.EQ, exp.NEQ, exp.NullSafeEQ, exp.NullSafeNEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
    exp.Like, exp.ILike, exp.SimilarTo, exp.RegexpLike, exp.In, exp.Between,
)


def check_dialect(tree: exp.Expression) -> None:
    """The rules that need only the parsed query."""
    if not isinstance(tree, exp.Query):
        raise QueryRejected(NOT_A_QUERY)
    for node in tree.walk():
        if isinstance(node, exp.Select) and _selects_star(node):
            raise QueryRejected(SELECT_STAR)
        if isinstance(node, exp.Limit | exp.Fetch | exp.Offset):
            raise QueryRejected(LIMIT)
        if isinstance(node, exp.Join) and node.side.upper() == "RIGHT":
            raise QueryRejected(RIGHT_JOIN)
        if isinstance(node, exp.Anonymous) and node.name.upper() in ("GETDATE", "SYSDATE", "SYSDATETIME"):
            raise QueryRejected(GETDATE)
        if isinstance(node, exp.DPipe):
            raise QueryRejected(CONCAT_OPERATOR)
    if tree.args.get("order"):
        raise QueryRejected(ORDER_BY)
    if not contains_aggregate(tree):
        raise QueryRejected(NO_AGGREGATION)


def _selects_star(select: exp.Select) -> bool:
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is not None and isinstance(from_.this, exp.Values):
        return False  # sqlglot reads `WITH t(a) AS (VALUES ...)` as SELECT * FROM (VALUES ...)
    return any(
        isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star)) for p in select.expressions
    )


def final_scopes(resolver: LineageResolver) -> Iterator[Scope]:
    """The scopes whose projections are the query's output (each branch of a top-level UNION)."""
    pending = [resolver.root] if resolver.root else []
    while pending:
        scope = pending.pop()
        if scope.set_operation_scopes:
            pending.extend(scope.set_operation_scopes)
        else:
            yield scope


def check_thresholds(resolver: LineageResolver) -> None:
    """VERY_HIGH columns never reach the output; HIGH and VERY_HIGH columns take no literal filters."""
    for scope in final_scopes(resolver):
        select = scope.expression
        if not isinstance(select, exp.Select):
            continue
        for projection in select.selects:
            _reject_very_high(resolver.of_expression(scope, projection), "the final SELECT")
        group = select.args.get("group")
        for key in group.expressions if group else ():
            _reject_very_high(resolver.of_expression(scope, key), "the final GROUP BY")
    for scope in resolver.scopes:
        for node in scope.walk():
            if isinstance(node, _LITERAL_COMPARISONS):
                _check_literal_filter(resolver, scope, node)


def _reject_very_high(lineage, clause: str) -> None:
    if lineage.threshold >= Threshold.VERY_HIGH:
        raise QueryRejected(
            f"Column {lineage.strictest_column} has aggregation threshold {lineage.threshold.name} and cannot be "
            f"included in {clause}; use it only inside COUNT(...)/COUNT(DISTINCT ...) or to join"
        )


def _operands(node: exp.Expression) -> list[exp.Expression]:
    if isinstance(node, exp.In):
        return [node.this, *node.expressions]
    if isinstance(node, exp.Between):
        return [node.this, node.args["low"], node.args["high"]]
    return [node.this, node.expression]


def _is_literal_valued(node: exp.Expression) -> bool:
    """A literal or parameter, or a value computed only from them."""
    return not any(isinstance(n, exp.Column | exp.Query) for n in node.walk())


def _check_literal_filter(resolver: LineageResolver, scope: Scope, node: exp.Expression) -> None:
    if isinstance(node, exp.In) and node.args.get("query") is not None:
        return
    operands = [o for o in _operands(node) if o is not None]
    if not any(_is_literal_valued(o) for o in operands):
        return
    for operand in operands:
        if _is_literal_valued(operand):
            continue
        lineage = resolver.of_expression(scope, operand)
        if lineage.threshold >= Threshold.HIGH:
            raise QueryRejected(
                f"Filters using literal values cannot be applied to column {lineage.strictest_column} "
                f"(aggregation threshold {lineage.threshold.name})"
            )
