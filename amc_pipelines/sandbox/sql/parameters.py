"""Typed binding of AMC parameters as DuckDB prepared-statement parameters.

``CUSTOM_PARAMETER('name')``, ``BUILT_IN_PARAMETER('TIME_WINDOW_START'|'TIME_WINDOW_END')`` and
``CAST('today' AS DATE)``-style special values become ``CAST($placeholder AS <type>)``; the values
travel beside the SQL and are never part of its text, so no value can change the query's shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlglot import exp

from amc_pipelines.sandbox.sql.models import InputParameter, QueryRejected

# AMC parameter type -> DuckDB type of the bound value.
SCALAR_TYPES: dict[str, str] = {
    "STRING": "VARCHAR",
    "BYTE": "TINYINT",
    "SHORT": "SMALLINT",
    "INTEGER": "INTEGER",
    "INT": "INTEGER",
    "LONG": "BIGINT",
    "FLOAT": "FLOAT",
    "DOUBLE": "DOUBLE",
    "DECIMAL": "DECIMAL(38,9)",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
    "BINARY": "BLOB",
}
_INTEGER_RANGES = {
    "BYTE": 8,
    "SHORT": 16,
    "INTEGER": 32,
    "INT": 32,
    "LONG": 64,
}
BUILT_IN_PARAMETERS = ("TIME_WINDOW_START", "TIME_WINDOW_END")
# Spark's special date/time strings, resolved when the query runs.
_SPECIAL_DATE_STRINGS = ("today", "now", "yesterday", "tomorrow", "epoch")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


@dataclass
class BoundParameters:
    """Placeholder name -> typed value, filled while the tree is rewritten."""

    values: dict[str, Any] = field(default_factory=dict)
    custom_names: dict[str, str] = field(default_factory=dict)  # AMC name -> placeholder

    def placeholder(self, name: str, value: Any, duckdb_type: str) -> exp.Expression:
        self.values[name] = value
        return exp.Cast(this=exp.Placeholder(this=name), to=exp.DataType.build(duckdb_type, dialect="duckdb"))


def duckdb_type_of(parameter: InputParameter) -> str:
    if parameter.data_type == "ARRAY":
        element = parameter.element_data_type or "STRING"
        if element not in SCALAR_TYPES:
            raise QueryRejected(f"Parameter '{parameter.name}' has unsupported array element type {element}")
        return f"{SCALAR_TYPES[element]}[]"
    if parameter.data_type not in SCALAR_TYPES:
        raise QueryRejected(f"Parameter '{parameter.name}' has unsupported data type {parameter.data_type}")
    return SCALAR_TYPES[parameter.data_type]


def coerce_value(parameter: InputParameter, value: Any) -> Any:
    """The Python value DuckDB binds for ``value``, or QueryRejected naming the parameter."""
    if parameter.data_type == "ARRAY":
        if not isinstance(value, list | tuple):
            raise _wrong_type(parameter, "ARRAY", value)
        element = InputParameter(parameter.name, parameter.element_data_type or "STRING")
        return [None if item is None else coerce_value(element, item) for item in value]
    return _coerce_scalar(parameter, parameter.data_type, value)


def _coerce_scalar(parameter: InputParameter, data_type: str, value: Any) -> Any:
    if data_type == "STRING":
        if isinstance(value, str):
            return value
    elif data_type in _INTEGER_RANGES:
        bits = _INTEGER_RANGES[data_type]
        if isinstance(value, int) and not isinstance(value, bool):
            if -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
                return value
            raise QueryRejected(f"Value {value} of parameter '{parameter.name}' is out of range for {data_type}")
    elif data_type in ("FLOAT", "DOUBLE"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif data_type == "DECIMAL":
        if isinstance(value, int | float | str | Decimal) and not isinstance(value, bool):
            try:
                return Decimal(str(value))
            except InvalidOperation:
                pass
    elif data_type == "BOOLEAN":
        if isinstance(value, bool):
            return value
    elif data_type == "DATE":
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str) and _ISO_DATE.match(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
    elif data_type == "TIMESTAMP":
        if isinstance(value, datetime):
            return _naive_utc(value)
        if isinstance(value, str) and (_ISO_TIMESTAMP.match(value) or _ISO_DATE.match(value)):
            try:
                return _naive_utc(datetime.fromisoformat(value))
            except ValueError:
                pass
    elif data_type == "BINARY":
        if isinstance(value, str):
            return value.encode()
    else:
        raise QueryRejected(f"Parameter '{parameter.name}' has unsupported data type {data_type}")
    raise _wrong_type(parameter, data_type, value)


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _wrong_type(parameter: InputParameter, expected: str, value: Any) -> QueryRejected:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return QueryRejected(
        f"Invalid value for parameter '{parameter.name}': expected {expected}, got {type(value).__name__} {shown}"
    )


def _string_argument(call: exp.Anonymous) -> str:
    args = call.expressions
    if len(args) != 1 or not (isinstance(args[0], exp.Literal) and args[0].is_string):
        raise QueryRejected(f"{call.name.upper()} takes one string literal argument")
    return args[0].this


def bind_parameters(
    tree: exp.Expression,
    *,
    declared: Sequence[InputParameter],
    values: Mapping[str, Any],
    window_start_utc: datetime,
    window_end_utc: datetime,
    now_utc: datetime | None = None,
) -> BoundParameters:
    """Replace every parameter reference in ``tree`` by a typed placeholder; check declarations and types."""
    by_name = {p.name: p for p in declared}
    bound = BoundParameters()
    now = now_utc or datetime.now(UTC).replace(tzinfo=None)
    for node in list(tree.find_all(exp.Anonymous, exp.Cast)):
        if isinstance(node, exp.Anonymous) and node.name.upper() == "CUSTOM_PARAMETER":
            node.replace(_custom(bound, by_name, values, _string_argument(node)))
        elif isinstance(node, exp.Anonymous) and node.name.upper() == "BUILT_IN_PARAMETER":
            name = _string_argument(node).upper()
            if name not in BUILT_IN_PARAMETERS:
                raise QueryRejected(
                    f"Unknown built-in parameter '{name}'; available: {', '.join(BUILT_IN_PARAMETERS)}"
                )
            value = window_start_utc if name == "TIME_WINDOW_START" else window_end_utc
            node.replace(bound.placeholder(f"amc_{name.lower()}", value, "TIMESTAMP"))
        elif isinstance(node, exp.Cast):
            special = _special_date_value(node, now)
            if special is not None:
                duckdb_type = "TIMESTAMP" if isinstance(special, datetime) else "DATE"
                node.replace(bound.placeholder(f"amc_special_{len(bound.values)}", special, duckdb_type))
    return bound


def _custom(
    bound: BoundParameters, by_name: Mapping[str, InputParameter], values: Mapping[str, Any], name: str
) -> exp.Expression:
    parameter = by_name.get(name)
    if parameter is None:
        raise QueryRejected(f"Parameter '{name}' is used in the query but not declared in inputParameters")
    duckdb_type = duckdb_type_of(parameter)
    placeholder_name = bound.custom_names.setdefault(name, f"amc_param_{len(bound.custom_names)}")
    raw = values.get(name)
    if raw is None:
        raw = parameter.default_value
    if raw is None:
        raise QueryRejected(f"No value was provided for parameter '{name}' and it has no defaultValue")
    return bound.placeholder(placeholder_name, coerce_value(parameter, raw), duckdb_type)


def _special_date_value(cast: exp.Cast, now: datetime) -> date | datetime | None:
    literal = cast.this
    if not (isinstance(literal, exp.Literal) and literal.is_string):
        return None
    word = literal.this.strip().lower()
    if word not in _SPECIAL_DATE_STRINGS:
        return None
    midnight = datetime(now.year, now.month, now.day)
    moment = {
        "now": now,
        "today": midnight,
        "yesterday": midnight - timedelta(days=1),
        "tomorrow": midnight + timedelta(days=1),
        "epoch": datetime(1970, 1, 1),
    }[word]
    if cast.to.is_type(exp.DataType.Type.DATE):
        return moment.date()
    if cast.to.is_type(*exp.DataType.TEMPORAL_TYPES):
        return moment
    return None


def infer_parameter(name: str, value: Any) -> InputParameter:
    """A declaration for a value given on the command line (JSON), typed by its shape."""
    if isinstance(value, list):
        first = next((item for item in value if item is not None), "")
        return InputParameter(name, "ARRAY", element_data_type=infer_parameter(name, first).data_type, default_value=value)
    if isinstance(value, bool):
        data_type = "BOOLEAN"
    elif isinstance(value, int):
        data_type = "LONG"
    elif isinstance(value, float):
        data_type = "DOUBLE"
    elif isinstance(value, str) and _ISO_DATE.match(value):
        data_type = "DATE"
    elif isinstance(value, str) and _ISO_TIMESTAMP.match(value):
        data_type = "TIMESTAMP"
    else:
        data_type = "STRING"
    return InputParameter(name, data_type, default_value=value)
