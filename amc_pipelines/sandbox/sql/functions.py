"""AMC SQL functions rewritten as DuckDB expressions (on the sqlglot tree, never on text).

AMC's dialect is read with sqlglot's Spark dialect; the handlers here cover the AMC-only
functions and the ones whose Spark/AMC semantics differ from DuckDB's:

- SECONDS_BETWEEN(t1, t2) = t2 - t1 in whole seconds.
- CONVERT_TIME_ZONE_FROM_UTC(ts, 'tz'): UTC wall time -> wall time in tz.
- EPOCH_TO_UTC_TIMESTAMP(x): seconds, or milliseconds when |x| >= 1e11 ("by magnitude").
- EXTRACT(DOW ...) / DAYOFWEEK: 1 = Sunday ... 7 = Saturday (DuckDB counts 0..6).
- LEAST / GREATEST: NULL when any argument is NULL (DuckDB skips NULLs).
- CONCAT: every argument cast to string, NULL when any is NULL.
- SKEWNESS: population skewness (DuckDB's is sample-adjusted).
- PERCENTILE: exact, interpolated (quantile_cont); APPROX_PERCENTILE: approx_quantile.
- COLLECT([DISTINCT] x): list, NULLs kept; ARRAY_SORT: ascending, NULLs last.
- NAMED_ROW('k', v, ...): a struct; UUID(): a string.
- CAST(x AS TIMESTAMP) stays a zone-less TIMESTAMP (Spark's TIMESTAMP reads as TIMESTAMPTZ).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from amc_pipelines.sandbox.sql.models import QueryRejected

DATE_TRUNC_UNITS = frozenset({"SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR"})
# Aggregates that parse as anonymous functions, for the "query must aggregate" rule.
ANONYMOUS_AGGREGATES = frozenset({"COLLECT", "PERCENTILE", "APPROX_PERCENTILE"})

_MILLISECONDS_EPOCH_FLOOR = 100_000_000_000  # 1e11: an epoch this large is in milliseconds


def _call(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _string(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def _as_varchar(node: exp.Expression) -> exp.Cast:
    return exp.Cast(this=node, to=exp.DataType.build("VARCHAR"))


def _null_if_any_null(args: list[exp.Expression], result: exp.Expression) -> exp.Expression:
    any_null = exp.or_(*(exp.Is(this=arg.copy(), expression=exp.Null()) for arg in args))
    return exp.Case(ifs=[exp.If(this=any_null, true=exp.Null())], default=result)


def _arity(name: str, args: list[exp.Expression], *counts: int) -> None:
    if len(args) not in counts:
        expected = " or ".join(str(c) for c in counts)
        raise QueryRejected(f"Function {name} takes {expected} argument(s), got {len(args)}")


def _seconds_between(args: list[exp.Expression]) -> exp.Expression:
    _arity("SECONDS_BETWEEN", args, 2)
    first, second = args
    return _call("DATE_DIFF", _string("second"), first, second)


def _convert_time_zone_from_utc(args: list[exp.Expression]) -> exp.Expression:
    _arity("CONVERT_TIME_ZONE_FROM_UTC", args, 2)
    value, zone = args
    as_utc = _call("TIMEZONE", _string("UTC"), exp.Cast(this=value, to=exp.DataType.build("TIMESTAMP")))
    return _call("TIMEZONE", zone, as_utc)


def _epoch_to_utc_timestamp(args: list[exp.Expression]) -> exp.Expression:
    _arity("EPOCH_TO_UTC_TIMESTAMP", args, 1)
    (value,) = args
    is_millis = exp.GTE(this=_call("ABS", value.copy()), expression=exp.Literal.number(_MILLISECONDS_EPOCH_FLOOR))
    factor = exp.Case(ifs=[exp.If(this=is_millis, true=exp.Literal.number(1000))], default=exp.Literal.number(1_000_000))
    as_double = exp.Cast(this=value, to=exp.DataType.build("DOUBLE"))  # no integer overflow in the scaling
    micros = exp.Cast(this=exp.Mul(this=as_double, expression=factor), to=exp.DataType.build("BIGINT"))
    return _call("MAKE_TIMESTAMP", micros)


def _collect(args: list[exp.Expression]) -> exp.Expression:
    _arity("COLLECT", args, 1)
    return _call("LIST", args[0])  # a Distinct argument renders as LIST(DISTINCT x)


def _named_row(args: list[exp.Expression]) -> exp.Expression:
    if not args or len(args) % 2:
        raise QueryRejected("NAMED_ROW takes pairs of 'label', value arguments")
    fields = []
    for label, value in zip(args[0::2], args[1::2], strict=True):
        if not (isinstance(label, exp.Literal) and label.is_string):
            raise QueryRejected("NAMED_ROW labels must be string literals")
        fields.append(exp.PropertyEQ(this=exp.to_identifier(label.this), expression=value))
    return exp.Struct(expressions=fields)


def _percentile(function: str) -> Callable[[list[exp.Expression]], exp.Expression]:
    def build(args: list[exp.Expression]) -> exp.Expression:
        _arity(function, args, 2)
        return _call("QUANTILE_CONT" if function == "PERCENTILE" else "APPROX_QUANTILE", *args)

    return build


def _array_to_string(args: list[exp.Expression]) -> exp.Expression:
    _arity("ARRAY_TO_STRING", args, 2)
    array, separator = args
    return _call("ARRAY_TO_STRING", exp.Cast(this=array, to=exp.DataType.build("VARCHAR[]")), separator)


_ANONYMOUS: dict[str, Callable[[list[exp.Expression]], exp.Expression]] = {
    "SECONDS_BETWEEN": _seconds_between,
    "CONVERT_TIME_ZONE_FROM_UTC": _convert_time_zone_from_utc,
    "EPOCH_TO_UTC_TIMESTAMP": _epoch_to_utc_timestamp,
    "COLLECT": _collect,
    "NAMED_ROW": _named_row,
    "PERCENTILE": _percentile("PERCENTILE"),
    "APPROX_PERCENTILE": _percentile("APPROX_PERCENTILE"),
    "ARRAY_TO_STRING": _array_to_string,
    "CARDINALITY": lambda args: _call("LEN", *args),
}


def _day_of_week(value: exp.Expression) -> exp.Expression:
    return exp.Paren(this=exp.Add(this=_call("DAYOFWEEK", value), expression=exp.Literal.number(1)))


def _population_skewness(node: exp.Skewness) -> exp.Expression:
    # DuckDB's skewness is the sample-adjusted G1 = g1 * sqrt(n(n-1)) / (n-2); undo the adjustment.
    value = node.this
    count = exp.Count(this=value.copy())
    adjustment = exp.Div(
        this=exp.Paren(this=exp.Sub(this=count, expression=exp.Literal.number(2))),
        expression=_call("SQRT", exp.Mul(this=count.copy(), expression=exp.Paren(
            this=exp.Sub(this=count.copy(), expression=exp.Literal.number(1))))),
    )
    return exp.Paren(this=exp.Mul(this=_call("SKEWNESS", value), expression=adjustment))


def _translate_node(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous):
        handler = _ANONYMOUS.get(node.name.upper())
        return handler(list(node.expressions)) if handler else node
    if isinstance(node, exp.TimestampTrunc | exp.DateTrunc):
        unit = node.unit.name.upper() if node.unit else ""
        if unit not in DATE_TRUNC_UNITS:
            raise QueryRejected(f"DATE_TRUNC granularity must be one of {', '.join(sorted(DATE_TRUNC_UNITS))}, got '{unit}'")
        return _call("DATE_TRUNC", _string(unit), node.this)
    if isinstance(node, exp.Extract) and node.this.name.upper() in ("DOW", "DAYOFWEEK"):
        return _day_of_week(node.expression)
    if isinstance(node, exp.DayOfWeek):
        return _day_of_week(node.this)
    if isinstance(node, exp.Least | exp.Greatest):
        args = [node.this, *node.expressions]
        return _null_if_any_null(args, _call(node.key.upper(), *(a.copy() for a in args)))
    if isinstance(node, exp.Concat):
        return _concat_chain([_as_varchar(a) for a in node.expressions])
    if isinstance(node, exp.Skewness):
        return _population_skewness(node)
    if isinstance(node, exp.ArraySort):
        return _call("LIST_SORT", node.this, _string("ASC"), _string("NULLS LAST"))
    if isinstance(node, exp.ArrayContains):
        return _call("LIST_CONTAINS", node.this, node.expression)
    if isinstance(node, exp.Quantile):
        return _call("QUANTILE_CONT", node.this, node.args["quantile"])
    if isinstance(node, exp.ApproxQuantile):
        return _call("APPROX_QUANTILE", node.this, node.args["quantile"])
    if isinstance(node, exp.Uuid):
        return _as_varchar(_call("UUID"))
    if isinstance(node, exp.Rand):
        return _call("RANDOM")
    if isinstance(node, exp.DataType) and node.this in (exp.DataType.Type.TIMESTAMPLTZ, exp.DataType.Type.TIMESTAMPTZ):
        return exp.DataType.build("TIMESTAMP")
    return node


def _concat_chain(parts: list[exp.Expression]) -> exp.Expression:
    chained: exp.Expression = parts[0]
    for part in parts[1:]:
        chained = exp.DPipe(this=chained, expression=part, safe=True)
    return exp.Paren(this=chained)


def translate_functions(tree: exp.Expression) -> exp.Expression:
    """Rewrite every AMC function in ``tree`` into DuckDB's, in place, innermost first.

    Bottom-up so that nested calls (``SECONDS_BETWEEN(CONVERT_TIME_ZONE_FROM_UTC(...), ...)``)
    are all rewritten; sqlglot's ``transform`` does not descend into replaced nodes.
    """
    for node in reversed(list(tree.walk(bfs=False))):
        replacement = _translate_node(node)
        if replacement is not node:
            if node is tree:
                return replacement
            node.replace(replacement)
    return tree
