"""The sandbox's library of example AMC queries, one ``NN_name.sql`` file per query.

Each file opens with a comment header::

    -- title: Campaign performance across SP, SB, SD and DSP
    -- description: What the query answers, possibly
    --   continued on indented comment lines.
    -- param: campaign_ids ARRAY<STRING> []
    -- param: min_impressions LONG 1000

A parameter line gives the name, the AMC data type (``ARRAY<ELEMENT>`` for arrays) and an optional
default as JSON. The header ends at the first line that is not a comment; the rest is the AMC SQL,
which refers to parameters with ``CUSTOM_PARAMETER('name')``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the SQL engine imports sqlglot and duckdb: only needed when running a query
    from amc_pipelines.sandbox.sql import InputParameter

# The scalar AMC parameter types (array elements take the same names).
SCALAR_TYPES = frozenset(
    {"STRING", "BYTE", "SHORT", "INTEGER", "INT", "LONG", "FLOAT", "DOUBLE", "DECIMAL", "BOOLEAN", "DATE",
     "TIMESTAMP", "BINARY"}
)

_HEADER_FIELD = re.compile(r"^--\s*(title|description|param):\s*(.*)$")
_CONTINUATION = re.compile(r"^--\s{2,}(\S.*)$")
_PARAM = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s+(?P<type>[A-Z]+(?:<[A-Z]+>)?)(?:\s+(?P<default>.+))?$")
_ARRAY_TYPE = re.compile(r"^ARRAY<([A-Z]+)>$")


class ExampleFormatError(ValueError):
    """An example file's header does not follow the documented format."""


@dataclass(frozen=True)
class ExampleParameter:
    name: str
    data_type: str  # AMC data type: STRING, LONG, ... or ARRAY
    element_data_type: str | None  # for ARRAY parameters
    default_value: Any  # decoded JSON; None when the parameter has no default

    def to_input_parameter(self) -> InputParameter:
        from amc_pipelines.sandbox.sql import InputParameter

        return InputParameter(
            name=self.name,
            data_type=self.data_type,
            element_data_type=self.element_data_type,
            default_value=self.default_value,
        )


@dataclass(frozen=True)
class ExampleQuery:
    name: str  # file name without ".sql", e.g. "01_campaign_performance_sp_sb_sd_dsp"
    title: str
    description: str
    parameters: tuple[ExampleParameter, ...]
    sql: str  # the query without its header

    @property
    def input_parameters(self) -> list[InputParameter]:
        return [p.to_input_parameter() for p in self.parameters]

    @property
    def default_values(self) -> dict[str, Any]:
        return {p.name: p.default_value for p in self.parameters if p.default_value is not None}


def parse_example(name: str, text: str) -> ExampleQuery:
    """Split an example file into its header fields and its SQL."""
    lines = text.splitlines()
    fields: dict[str, list[str]] = {"title": [], "description": []}
    params: list[ExampleParameter] = []
    last_field: str | None = None
    body_start = len(lines)
    for index, raw in enumerate(lines):
        line = raw.rstrip()
        if not line.startswith("--"):
            body_start = index
            break
        if match := _HEADER_FIELD.match(line):
            last_field, value = match.group(1), match.group(2).strip()
            if last_field == "param":
                params.append(_parse_param(name, value))
            else:
                fields[last_field].append(value)
        elif (match := _CONTINUATION.match(line)) and last_field in ("title", "description"):
            fields[last_field].append(match.group(1).strip())
        else:
            raise ExampleFormatError(f"{name}.sql line {index + 1}: unexpected header line {line!r}")
    title = " ".join(fields["title"])
    if not title:
        raise ExampleFormatError(f"{name}.sql: the header has no '-- title:' line")
    sql = "\n".join(lines[body_start:]).strip()
    if not sql:
        raise ExampleFormatError(f"{name}.sql: no SQL after the header")
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise ExampleFormatError(f"{name}.sql: a parameter is declared twice: {names}")
    return ExampleQuery(
        name=name,
        title=title,
        description=" ".join(fields["description"]),
        parameters=tuple(params),
        sql=sql,
    )


def _parse_param(example: str, spec: str) -> ExampleParameter:
    match = _PARAM.match(spec)
    if not match:
        raise ExampleFormatError(
            f"{example}.sql: parameter line {spec!r} is not 'name TYPE [default JSON]'"
        )
    data_type, element_type = match.group("type"), None
    if array := _ARRAY_TYPE.match(data_type):
        data_type, element_type = "ARRAY", array.group(1)
        if element_type not in SCALAR_TYPES:
            raise ExampleFormatError(f"{example}.sql: unknown array element type {element_type}")
    elif data_type not in SCALAR_TYPES:
        raise ExampleFormatError(f"{example}.sql: unknown parameter type {data_type}")
    default = None
    if match.group("default") is not None:
        try:
            default = json.loads(match.group("default"))
        except json.JSONDecodeError as exc:
            raise ExampleFormatError(
                f"{example}.sql: default of {match.group('name')} is not JSON: {match.group('default')!r}"
            ) from exc
    return ExampleParameter(match.group("name"), data_type, element_type, default)


@cache
def example_queries() -> tuple[ExampleQuery, ...]:
    """Every example query, in file-name order."""
    package = resources.files(__name__)
    files = sorted(
        (entry for entry in package.iterdir() if entry.name.endswith(".sql")), key=lambda entry: entry.name
    )
    return tuple(parse_example(entry.name.removesuffix(".sql"), entry.read_text()) for entry in files)


def example_query(name: str) -> ExampleQuery:
    """One example by file name, with or without its number prefix (``01_`` ...) and ``.sql``."""
    wanted = name.removesuffix(".sql")
    for example in example_queries():
        if wanted in (example.name, example.name.split("_", 1)[1]):
            return example
    known = ", ".join(e.name for e in example_queries())
    raise KeyError(f"no example query named {name!r}; known: {known}")
