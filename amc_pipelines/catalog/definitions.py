"""Report definitions: a catalog report (the template) with one client's parameter values, instances
and schedule.

A definition is a YAML file in a ``definitions/`` folder beside the report specs (the built-in
examples in ``catalog/reports/definitions/``, more in ``AMC_CATALOG_DIR/definitions/``). Its
parameters are checked against the template's typed parameters when it loads, by the one parameter
coercion of :mod:`amc_pipelines.params`, and every problem names the file and the field. Every
template also has an implicit definition with the template's name, its defaults and every instance,
so a catalog without definitions behaves as before and the marts always find the template's
standard result; a definition file named like its own template replaces that implicit one (to
restrict its instances, say).

The instances a definition names are checked against the instance registry by
:func:`check_definition_instances` wherever the registry is at hand (``amc reports validate``,
``amc reports definitions``, every run); loading itself needs no database.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from amc_pipelines.catalog.loader import BUILTIN_DIR, field_path, read_yaml, show_path, spec_files
from amc_pipelines.catalog.models import (
    REPORT_NAME_PATTERN,
    CatalogError,
    ReportSpec,
    ScheduleSpec,
    check_identifier,
)

DEFINITIONS_FOLDER = "definitions"
BUILTIN_DEFINITIONS_DIR = BUILTIN_DIR / DEFINITIONS_FOLDER
ALL_INSTANCES = "all"


class _DefinitionFile(BaseModel):
    """The fields of a definition file, as written."""

    model_config = ConfigDict(extra="forbid")

    name: str
    template: str
    description: str = Field(min_length=1)
    owner: str | None = Field(default=None, min_length=1)
    parameters: dict[str, Any] = Field(default_factory=dict)
    instances: Literal["all"] | list[str] = ALL_INSTANCES
    schedule: ScheduleSpec | None = None

    @field_validator("name")
    @classmethod
    def _definition_name(cls, name: str) -> str:
        return check_identifier(name, REPORT_NAME_PATTERN, "definition name (it names the Dagster asset)")

    @field_validator("instances")
    @classmethod
    def _instance_list(cls, instances: str | list[str]) -> str | list[str]:
        if isinstance(instances, list):
            if not instances:
                raise ValueError("an empty list applies to no instance: list instance ids, or write 'all'")
            repeated = sorted({i for i in instances if instances.count(i) > 1})
            if repeated:
                raise ValueError(f"{', '.join(repeated)} listed more than once")
        return instances


class ReportDefinition(BaseModel):
    """A template with its parameter values (coerced to their types), instances, schedule and owner."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    template: ReportSpec
    description: str
    owner: str
    parameters: dict[str, Any]
    instances: tuple[str, ...] | None  # None: every enabled instance
    schedule: ScheduleSpec
    implicit: bool
    source_path: Path | None  # None for an implicit definition

    @property
    def parameters_hash(self) -> str:
        from amc_pipelines.params import parameters_hash

        return parameters_hash(self.parameters)

    def applies_to(self, instance_id: str) -> bool:
        return self.instances is None or instance_id in self.instances

    def summary(self) -> dict[str, Any]:
        """The JSON form ``amc reports definitions --json`` prints."""
        return {
            "name": self.name, "template": self.template.name, "implicit": self.implicit,
            "description": self.description, "owner": self.owner,
            "parameters": self.parameters, "parameters_hash": self.parameters_hash,
            "instances": list(self.instances) if self.instances is not None else ALL_INSTANCES,
            "schedule": self.schedule.model_dump(),
            "source_path": str(self.source_path) if self.source_path else None,
        }


def implicit_definition(template: ReportSpec) -> ReportDefinition:
    """The template run with its defaults on every instance, under the template's own name. A
    template with a required parameter has no complete implicit definition: its parameters stay
    empty, and a run without the parameter fails naming it."""
    from amc_pipelines.params import ParameterError, coerce_parameters

    try:
        parameters = coerce_parameters(template.parameters, {})
    except ParameterError:
        parameters = {}
    return ReportDefinition(
        name=template.name, template=template, description=template.description, owner=template.owner,
        parameters=parameters, instances=None, schedule=template.schedule, implicit=True, source_path=None,
    )


def _unknown(what: str, name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown {what} '{name}'; {hint}known: {', '.join(known) or 'none'}"


def _parameter_location(message: str) -> str:
    """"parameter 'asins': item ..." -> "parameters.asins: item ..."; other messages under "parameters"."""
    match = re.match(r"^parameter '([^']+)': (.*)$", message, flags=re.DOTALL)
    return f"parameters.{match.group(1)}: {match.group(2)}" if match else f"parameters: {message}"


def _load_definition(path: Path, catalog: Mapping[str, ReportSpec]) -> ReportDefinition:
    from amc_pipelines.params import ParameterError, coerce_parameters

    file = show_path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise CatalogError(f"{file}: expected a mapping of definition fields (name:, template:, ...), found {found}")
    try:
        written = _DefinitionFile.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False):
            location = tuple(item["loc"])
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                allowed = list(_DefinitionFile.model_fields) if len(location) == 1 else list(ScheduleSpec.model_fields)
                close = difflib.get_close_matches(str(location[-1]), allowed, n=1)
                message = f"unknown key; {f'did you mean {close[0]!r}? ' if close else ''}allowed keys: {', '.join(allowed)}"
            elif item["type"] == "missing":
                message = "required but missing"
            elif location and location[0] == "instances":
                location = ("instances",)
            problems.append(f"{file}: {field_path(location)}: {message}")
        raise CatalogError(*dict.fromkeys(problems)) from None
    template = catalog.get(written.template)
    if template is None:
        raise CatalogError(f"{file}: template: {_unknown('report template', written.template, catalog)}")
    try:
        parameters = coerce_parameters(template.parameters, written.parameters)
    except ParameterError as error:
        raise CatalogError(*(f"{file}: {_parameter_location(line)}" for line in str(error).splitlines())) from None
    return ReportDefinition(
        name=written.name, template=template, description=written.description,
        owner=written.owner or template.owner, parameters=parameters,
        instances=tuple(written.instances) if isinstance(written.instances, list) else None,
        schedule=written.schedule or template.schedule, implicit=False, source_path=path,
    )


def definition_files(catalog_dir: Path | None) -> list[Path]:
    """The built-in definition files, then those of ``catalog_dir/definitions`` (if it exists)."""
    directories = [BUILTIN_DEFINITIONS_DIR]
    if catalog_dir is not None:
        extra = Path(catalog_dir) / DEFINITIONS_FOLDER
        if extra.is_dir() and extra.resolve() != BUILTIN_DEFINITIONS_DIR.resolve():
            directories.append(extra)
    return [path for directory in directories if directory.is_dir() for path in spec_files(directory)]


def load_definitions(catalog: Mapping[str, ReportSpec], catalog_dir: Path | None = None) -> dict[str, ReportDefinition]:
    """Every definition by name: the files', plus the implicit one of each template no file replaces.

    CatalogError lists every problem of every file: fields, the template, its parameters, and a name
    used twice or taken by another template.
    """
    definitions: dict[str, ReportDefinition] = {}
    problems: list[str] = []
    for path in definition_files(catalog_dir):
        try:
            definition = _load_definition(path, catalog)
        except CatalogError as error:
            problems.extend(error.problems)
            continue
        file = show_path(path)
        if definition.name in definitions:
            problems.append(f"{file}: name: definition '{definition.name}' is already defined in "
                            f"{show_path(definitions[definition.name].source_path)}; names must be unique")
            continue
        if definition.name in catalog and definition.name != definition.template.name:
            problems.append(f"{file}: name: '{definition.name}' is the name of the report template "
                            f"'{definition.name}', not of this definition's template '{definition.template.name}'; "
                            "choose another name")
            continue
        definitions[definition.name] = definition
    if problems:
        raise CatalogError(*problems)
    for template in catalog.values():
        definitions.setdefault(template.name, implicit_definition(template))
    return dict(sorted(definitions.items()))


def configured_definitions(settings=None, *, check_sql: bool = True) -> dict[str, ReportDefinition]:
    """The definitions of the catalog the settings select (built-ins plus ``AMC_CATALOG_DIR``)."""
    from amc_pipelines.catalog.loader import load_catalog
    from amc_pipelines.settings import get_settings

    settings = settings or get_settings()
    return load_definitions(load_catalog(settings.catalog_dir, check_sql=check_sql), settings.catalog_dir)


def check_definition_instances(definitions: Iterable[ReportDefinition], known: Iterable[str]) -> None:
    """Refuse a definition that names an instance the registry does not have (file and field)."""
    known = set(known)
    problems = []
    for definition in definitions:
        for index, instance_id in enumerate(definition.instances or ()):
            if instance_id not in known:
                problems.append(f"{show_path(definition.source_path)}: instances[{index}]: "
                                f"{_unknown('instance', instance_id, known)} (amc instances list)")
    if problems:
        raise CatalogError(*problems)


def get_definition(name: str, definitions: Mapping[str, ReportDefinition]) -> ReportDefinition:
    """The definition called ``name``; a template's name finds its implicit definition."""
    if name in definitions:
        return definitions[name]
    raise CatalogError(_unknown("report or definition", name, definitions))
