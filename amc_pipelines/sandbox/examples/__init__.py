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

An example that is one of the built-in reports (``amc_pipelines/catalog/reports/``) holds no copy of
it: its whole file is ``-- report: <report name>``, and its title, description, parameters and SQL
are the report's, so the report is the one source. An example that deliberately differs from a
report says so with ``-- variant_of: <report name>`` and explains the difference in its description.
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

_HEADER_FIELD = re.compile(r"^--\s*(title|description|param|report|variant_of):\s*(.*)$")
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
    report: str | None = None  # the built-in report this example is (its SQL and parameters are the report's)
    variant_of: str | None = None  # the built-in report this example deliberately differs from

    @property
    def input_parameters(self) -> list[InputParameter]:
        return [p.to_input_parameter() for p in self.parameters]

    @property
    def default_values(self) -> dict[str, Any]:
        return {p.name: p.default_value for p in self.parameters if p.default_value is not None}


def parse_example(name: str, text: str) -> ExampleQuery:
    """Split an example file into its header fields and its SQL."""
    lines = text.splitlines()
    fields: dict[str, list[str]] = {"title": [], "description": [], "report": [], "variant_of": []}
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
    sql = "\n".join(lines[body_start:]).strip()
    if len(fields["report"]) > 1 or len(fields["variant_of"]) > 1:
        raise ExampleFormatError(f"{name}.sql: 'report' and 'variant_of' may each appear once")
    if fields["report"]:
        if fields["title"] or fields["description"] or params or fields["variant_of"] or sql:
            raise ExampleFormatError(
                f"{name}.sql: an example that names a report takes its title, description, parameters and SQL "
                "from the report: the file holds only the '-- report:' line"
            )
        return _report_example(name, fields["report"][0])
    variant_of = fields["variant_of"][0] if fields["variant_of"] else None
    if variant_of is not None:
        _builtin_report_path(name, variant_of)
    title = " ".join(fields["title"])
    if not title:
        raise ExampleFormatError(f"{name}.sql: the header has no '-- title:' line")
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
        variant_of=variant_of,
    )


def _builtin_report_path(example: str, report: str):
    from amc_pipelines.catalog import BUILTIN_DIR

    path = BUILTIN_DIR / f"{report}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml")))
        raise ExampleFormatError(f"{example}.sql: no built-in report named {report!r}; known: {known}")
    return path


def _report_example(name: str, report: str) -> ExampleQuery:
    """The example that is built-in report ``report``: its title, description, parameters and SQL."""
    from amc_pipelines.catalog import load_report
    from amc_pipelines.params import amc_input_parameters

    spec = load_report(_builtin_report_path(name, report), check_sql=False)  # the catalog's tests check the SQL
    parameters = []
    for entry in amc_input_parameters(spec.parameters):
        data_type, element_type = entry["dataType"], None
        if isinstance(data_type, dict):
            data_type, element_type = data_type["type"], data_type["elementDataType"]
        parameters.append(ExampleParameter(entry["name"], data_type, element_type, entry.get("defaultValue")))
    lines = spec.sql.strip().splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):  # the report's own comment
        lines.pop(0)
    return ExampleQuery(
        name=name,
        title=spec.title,
        description=spec.description,
        parameters=tuple(parameters),
        sql="\n".join(lines),
        report=report,
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
