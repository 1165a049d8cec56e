"""Typed report parameters: declaration, validation, conversion, and AMC's JSON shapes.

This is the one parameter renderer of the project. A value is converted to a typed Python value
(from a CLI string or a YAML/JSON value), checked against its declaration, and sent to AMC in
``parameterValues`` beside the SQL: it never becomes part of any SQL text.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from amc_pipelines.params.converters import (
    ValueProblem,
    array_items,
    shown,
    to_boolean,
    to_date,
    to_decimal,
    to_integer,
    to_string,
    to_timestamp,
)


class ParameterType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    STRING_ARRAY = "array<string>"
    LONG_ARRAY = "array<long>"


class ParameterError(ValueError):
    """One or more parameter values are wrong; each problem names the parameter and the fix."""

    def __init__(self, problems: Sequence[str], parameter: str | None = None) -> None:
        self.problems = list(problems)
        self.parameter = parameter
        super().__init__("; ".join(self.problems))


ARRAY_TYPES = (ParameterType.STRING_ARRAY, ParameterType.LONG_ARRAY)
_ELEMENT_TYPE = {ParameterType.STRING_ARRAY: ParameterType.STRING, ParameterType.LONG_ARRAY: ParameterType.INTEGER}
_NUMERIC_TYPES = (ParameterType.INTEGER, ParameterType.DECIMAL, ParameterType.LONG_ARRAY)
# AMC's documented parameter types have no DECIMAL: decimals travel as DOUBLE; "integer" is sent as
# LONG so that ids beyond 32 bits fit (values are checked against the 64-bit range here).
_AMC_DATA_TYPE = {
    ParameterType.STRING: "STRING",
    ParameterType.INTEGER: "LONG",
    ParameterType.DECIMAL: "DOUBLE",
    ParameterType.BOOLEAN: "BOOLEAN",
    ParameterType.DATE: "DATE",
    ParameterType.TIMESTAMP: "TIMESTAMP",
}
_EXAMPLES = {
    ParameterType.STRING: "some text",
    ParameterType.INTEGER: "30",
    ParameterType.DECIMAL: "12.5",
    ParameterType.BOOLEAN: "true",
    ParameterType.DATE: "2026-01-05",
    ParameterType.TIMESTAMP: "2026-01-05T00:00:00",
    ParameterType.STRING_ARRAY: "a,b",
    ParameterType.LONG_ARRAY: "123,456",
}
# Explanations of well-known patterns, used when a spec gives no `pattern_hint`.
KNOWN_PATTERN_HINTS = {r"^[A-Z0-9]{10}$": "an ASIN is 10 letters or digits"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_SCALAR_CONVERTERS: dict[ParameterType, Callable[[Any], Any]] = {
    ParameterType.STRING: to_string,
    ParameterType.INTEGER: to_integer,
    ParameterType.DECIMAL: to_decimal,
    ParameterType.BOOLEAN: to_boolean,
    ParameterType.DATE: to_date,
    ParameterType.TIMESTAMP: to_timestamp,
}


class ParameterSpec(BaseModel):
    """One declared report parameter (an entry of a report YAML's ``parameters:``)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    type: ParameterType
    description: str = ""
    required: bool = False
    default: Any = None
    allowed_values: list[Any] | None = None
    pattern: str | None = None  # applies to each array item; matched against the whole value
    pattern_hint: str | None = None  # what the pattern means, shown when a value does not match
    min_items: int | None = None
    max_items: int | None = None
    minimum: float | None = None
    maximum: float | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"parameter name {value!r} is not valid: use letters, digits and underscores, "
                             "starting with a letter or underscore (it is referenced as CUSTOM_PARAMETER('name'))")
        return value

    @field_validator("type", mode="before")
    @classmethod
    def _lower_type(cls, value: Any) -> Any:
        return value.strip().lower().replace(" ", "") if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_declaration(self) -> ParameterSpec:
        def refuse(text: str) -> None:
            raise ValueError(f"parameter {self.name!r}: {text}")

        is_array = self.type in ARRAY_TYPES
        if self.pattern is not None:
            if self.type not in (ParameterType.STRING, ParameterType.STRING_ARRAY):
                refuse(f"'pattern' applies to string and array<string> parameters, not {self.type.value}")
            try:
                re.compile(self.pattern)
            except re.error as error:
                refuse(f"pattern {self.pattern!r} is not a valid regular expression ({error})")
        for field_name in ("min_items", "max_items"):
            count = getattr(self, field_name)
            if count is not None and not is_array:
                refuse(f"'{field_name}' applies to array parameters, not {self.type.value}")
            if count is not None and count < 0:
                refuse(f"'{field_name}' must be 0 or more, not {count}")
        if self.min_items is not None and self.max_items is not None and self.min_items > self.max_items:
            refuse(f"min_items {self.min_items} is greater than max_items {self.max_items}")
        for field_name in ("minimum", "maximum"):
            if getattr(self, field_name) is not None and self.type not in _NUMERIC_TYPES:
                refuse(f"'{field_name}' applies to integer, decimal and array<long> parameters, not {self.type.value}")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            refuse(f"minimum {_number(self.minimum)} is greater than maximum {_number(self.maximum)}")
        if self.allowed_values is not None:
            if not self.allowed_values:
                refuse("'allowed_values' is empty: list the values, or remove the key")
            convert = _SCALAR_CONVERTERS[_ELEMENT_TYPE.get(self.type, self.type)]
            try:
                self.allowed_values = [convert(item) for item in self.allowed_values]
            except ValueProblem as problem:
                refuse(f"allowed_values: {problem}")
        if self.required and self.default is not None:
            refuse("a required parameter takes no default: remove 'default' or set required: false")
        if self.default is not None:
            try:
                self.default = _convert_and_check(self, self.default)
            except ValueProblem as problem:
                refuse(f"default: {problem}")
        return self

    @property
    def example(self) -> str:
        return _EXAMPLES[self.type]


def _convert_and_check(spec: ParameterSpec, value: Any) -> Any:
    """The typed value of ``value`` for ``spec``, or ValueProblem saying what is wrong and how to fix it."""
    if spec.type not in ARRAY_TYPES:
        converted = _SCALAR_CONVERTERS[spec.type](value)
        _check_item(spec, converted, label="")
        return converted
    convert = _SCALAR_CONVERTERS[_ELEMENT_TYPE[spec.type]]
    items = []
    for position, raw in enumerate(array_items(value), start=1):
        if isinstance(raw, list | dict | tuple) or raw is None:
            raise ValueProblem(f"item {position} is {shown(raw)}: items must be single {_ELEMENT_TYPE[spec.type].value} values")
        try:
            item = convert(raw)
        except ValueProblem as problem:
            raise ValueProblem(f"item {position}: {problem}") from None
        _check_item(spec, item, label="item ")
        items.append(item)
    if spec.min_items is not None and len(items) < spec.min_items:
        raise ValueProblem(f"has {len(items)} item(s); give at least {spec.min_items}")
    if spec.max_items is not None and len(items) > spec.max_items:
        raise ValueProblem(f"has {len(items)} items; give at most {spec.max_items}")
    return items


def _check_item(spec: ParameterSpec, item: Any, *, label: str) -> None:
    if spec.pattern is not None and re.fullmatch(spec.pattern, item) is None:
        hint = spec.pattern_hint or KNOWN_PATTERN_HINTS.get(spec.pattern)
        raise ValueProblem(f"{label}{shown(item)} does not match {spec.pattern}" + (f" ({hint})" if hint else ""))
    if spec.allowed_values is not None and item not in spec.allowed_values:
        choices = ", ".join(shown(choice) for choice in spec.allowed_values)
        close = difflib.get_close_matches(str(item), [str(choice) for choice in spec.allowed_values], n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueProblem(f"{label}{shown(item)} is not allowed{guess}: use one of {choices}")
    if spec.minimum is not None and item < spec.minimum:
        raise ValueProblem(f"{label}{item} is below the minimum {_number(spec.minimum)}")
    if spec.maximum is not None and item > spec.maximum:
        raise ValueProblem(f"{label}{item} is above the maximum {_number(spec.maximum)}")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def coerce_parameters(specs: Sequence[ParameterSpec], given: Mapping[str, Any]) -> dict[str, Any]:
    """Typed values for every declared parameter: given values converted and checked, defaults applied.

    Raises ParameterError listing every problem: unknown names (with a suggestion), missing values,
    values of the wrong type or format, and pattern / allowed-values / range / item-count violations.
    """
    by_name = {spec.name: spec for spec in specs}
    problems: list[tuple[str, str]] = []
    for name in given:
        if name not in by_name:
            problems.append((name, _unknown_name(name, list(by_name))))
    values: dict[str, Any] = {}
    for spec in specs:
        raw = given.get(spec.name)
        if raw is None:  # an explicit YAML null counts as not given
            if spec.default is not None:
                values[spec.name] = spec.default
                continue
            problems.append((spec.name, f"parameter {spec.name!r} needs a value ({spec.type.value}, e.g. "
                             f"{spec.name}={spec.example})" + ("" if spec.required else ": the report gives no default")))
            continue
        try:
            values[spec.name] = _convert_and_check(spec, raw)
        except ValueProblem as problem:
            problems.append((spec.name, f"parameter {spec.name!r}: {problem}"))
    if problems:
        raise ParameterError([text for _, text in problems], parameter=problems[0][0])
    return values


def _unknown_name(name: str, declared: list[str]) -> str:
    if not declared:
        return f"unknown parameter {name!r}: this report takes no parameters"
    close = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
    guess = f" did you mean {close[0]!r}?" if close else ""
    return f"unknown parameter {name!r}:{guess} this report declares {', '.join(declared)}"


def _amc_value(value: Any) -> Any:
    """AMC's JSON form of one typed value (dates yyyy-MM-dd, timestamps yyyy-MM-ddTHH:mm:ss)."""
    if isinstance(value, list):
        return [_amc_value(item) for item in value]
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)  # sent as a DOUBLE parameter
    return value


def amc_parameter_values(specs: Sequence[ParameterSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """AMC ``parameterValues`` for an execution: every declared parameter, defaults included.

    ``values`` may be typed (from coerce_parameters) or raw; both go through the same checks.
    """
    typed = coerce_parameters(specs, values)
    return {name: _amc_value(value) for name, value in typed.items()}


def amc_input_parameters(specs: Sequence[ParameterSpec]) -> list[dict[str, Any]]:
    """AMC workflow ``inputParameters``; arrays as ``{"type": "ARRAY", "elementDataType": ...}``."""
    declared = []
    for spec in specs:
        if spec.type in ARRAY_TYPES:
            element = "STRING" if spec.type is ParameterType.STRING_ARRAY else "LONG"
            data_type: Any = {"type": "ARRAY", "elementDataType": element}
        else:
            data_type = _AMC_DATA_TYPE[spec.type]
        entry: dict[str, Any] = {"name": spec.name, "dataType": data_type}
        if spec.description:
            entry["description"] = spec.description
        if spec.default is not None:
            entry["defaultValue"] = _amc_value(spec.default)
        declared.append(entry)
    return declared


def _canonical(value: Any) -> Any:
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return _canonical(Decimal(str(value)))  # 12.5 and Decimal("12.50") are the same parameter value
    if isinstance(value, Decimal):
        return {"decimal": format(value.normalize(), "f")}
    if isinstance(value, datetime):
        return {"timestamp": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    raise TypeError(f"cannot hash a parameter value of type {type(value).__name__}: {value!r}")


def parameters_hash(values: Mapping[str, Any]) -> str:
    """Stable sha256 (hex) of the canonical JSON of typed parameter values (key order irrelevant)."""
    text = json.dumps(_canonical(dict(values)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
