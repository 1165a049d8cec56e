"""Requests, parameter declarations and errors of the sandbox SQL engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PRIVACY_BEHAVIORS = ("REMOVE_ROWS", "REMOVE_VALUES")


class QueryRejected(Exception):
    """The query breaks an AMC rule; the execution ends REJECTED with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class QueryFailed(Exception):
    """The query was valid but failed while running (the execution ends FAILED)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class InputParameter:
    """One ``inputParameters`` entry of an AMC workflow."""

    name: str
    data_type: str  # STRING, INTEGER, LONG, DECIMAL, DOUBLE, BOOLEAN, DATE, TIMESTAMP, ARRAY...
    element_data_type: str | None = None  # for ARRAY
    default_value: Any = None

    @classmethod
    def from_api(cls, payload: Mapping[str, Any]) -> InputParameter:
        """Read AMC's JSON shape.

        ``dataType`` is a type name, or for arrays ``{"type": "ARRAY", "elementDataType": "STRING"}``;
        the flat form ``"dataType": "ARRAY", "elementDataType": ...`` is accepted too.
        """
        name = payload.get("name")
        if not isinstance(name, str) or not name:
            raise QueryRejected("Every input parameter needs a non-empty string 'name'")
        raw_type = payload.get("dataType")
        element = payload.get("elementDataType")
        if isinstance(raw_type, Mapping):
            element = raw_type.get("elementDataType", element)
            raw_type = raw_type.get("type")
        if not isinstance(raw_type, str) or not raw_type:
            raise QueryRejected(f"Input parameter '{name}' has no valid 'dataType'")
        return cls(
            name=name,
            data_type=raw_type.upper(),
            element_data_type=element.upper() if isinstance(element, str) else None,
            default_value=payload.get("defaultValue"),
        )


@dataclass(frozen=True)
class QueryRequest:
    """One execution: AMC SQL, its time window (local to ``time_zone``) and parameter values."""

    sql: str
    time_window_start: datetime
    time_window_end: datetime
    time_zone: str = "UTC"
    parameter_values: Mapping[str, Any] = field(default_factory=dict)
    input_parameters: Sequence[InputParameter] = ()
    privacy_filtering_behavior: str = "REMOVE_ROWS"
    filtered_metrics_discriminator_column: str | None = None
