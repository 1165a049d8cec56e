"""Conversion of one parameter value from a CLI string or a YAML/JSON value to a typed Python value.

The accepted forms are deliberately narrow (pydantic's lax mode would take ``1700000000`` as a date
or ``"on"`` as a boolean), and each refusal says how to write the value. ``ValueProblem`` messages
lack the parameter name: the caller adds it.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1

_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
_DECIMAL_TEXT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
_ZONE_SUFFIX = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


class ValueProblem(ValueError):
    """A value-level problem; the caller prefixes the parameter name."""


def shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # YAML reads an unquoted id such as 12345 as a number
    raise ValueProblem(f"expected text, got {shown(value)} ({type(value).__name__})")


def to_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueProblem(f"expected a whole number, got {value}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and _INTEGER_TEXT.match(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        raise ValueProblem(f"{shown(value)} is not a whole number (e.g. 30)")
    if not LONG_MIN <= value <= LONG_MAX:
        raise ValueProblem(f"{value} is outside the 64-bit integer range")
    return value


def to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        value = str(value)  # str() keeps 0.1 as 0.1 instead of its binary expansion
    if isinstance(value, str) and _DECIMAL_TEXT.match(value.strip()):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            number = None
        # AMC receives a DOUBLE: refuse what a double cannot hold rather than send Infinity.
        if number is not None and math.isfinite(float(number)):
            return number
    raise ValueProblem(f"{shown(value)} is not a decimal number (e.g. 12.5, with a dot)")


def to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueProblem(f"{shown(value)} is not a boolean: use true/false, yes/no or 1/0")


def to_date(value: Any) -> date:
    if isinstance(value, datetime):
        raise ValueProblem(f"{value.isoformat()} has a time of day: give a date alone, e.g. {value.date().isoformat()}")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE_TEXT.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueProblem(f"{shown(value)} is not a real calendar date") from None
    raise ValueProblem(f"{shown(value)} is not a date: use YYYY-MM-DD, e.g. 2026-01-05")


def to_timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ValueProblem(f"{value.isoformat()} carries a time zone: give the local wall time without it")
        if value.microsecond:
            raise ValueProblem(f"{value.isoformat()} has fractions of a second: AMC takes whole seconds")
        return value
    if isinstance(value, date):
        raise ValueProblem(f"{value.isoformat()} has no time of day: use YYYY-MM-DDTHH:MM:SS, e.g. {value.isoformat()}T00:00:00")
    text = value.strip() if isinstance(value, str) else None
    if text is not None and _TIMESTAMP_TEXT.match(text):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise ValueProblem(f"{shown(value)} is not a real date and time") from None
    if text is not None and _ZONE_SUFFIX.search(text) and _TIMESTAMP_TEXT.match(_ZONE_SUFFIX.sub("", text)):
        raise ValueProblem(f"{shown(value)} has a time zone suffix: remove it and give the local wall time, "
                           f"e.g. {_ZONE_SUFFIX.sub('', text)}")
    if text is not None and _DATE_TEXT.match(text):
        raise ValueProblem(f"{shown(value)} has no time of day: use YYYY-MM-DDTHH:MM:SS, e.g. {text}T00:00:00")
    raise ValueProblem(f"{shown(value)} is not a timestamp: use YYYY-MM-DDTHH:MM:SS, e.g. 2026-01-05T00:00:00")


def array_items(value: Any) -> list[Any]:
    """The items of an array value: a list, a JSON array string, or a comma-separated list."""
    if isinstance(value, list | tuple):
        return list(value)
    if not isinstance(value, str):
        raise ValueProblem(f"expected a list, got {shown(value)}: use a JSON array like [\"a\",\"b\"] or a comma list a,b")
    text = value.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueProblem(f"{shown(value)} is not a valid JSON array ({error.msg} at character {error.pos}): "
                               "write it like [\"a\",\"b\"] or as a comma list a,b") from None
        if not isinstance(items, list):
            raise ValueProblem(f"{shown(value)} is not a JSON array")
        return items
    if text == "":
        return []
    items = [item.strip() for item in text.split(",")]
    for position, item in enumerate(items, start=1):
        if item == "":
            raise ValueProblem(f"item {position} of {shown(value)} is empty: check the commas")
    return items
