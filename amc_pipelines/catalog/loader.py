"""Loading report specs: YAML + SQL files -> validated ReportSpecs, every problem named by file and field."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from amc_pipelines.catalog.models import REPORT_NAME_PATTERN, CatalogError, ReportSpec

BUILTIN_DIR = Path(__file__).parent / "reports"
SPEC_SUFFIXES = (".yaml", ".yml")
# ReportSpec fields the loader fills; a YAML file that sets them is mistaken about where the SQL lives.
_LOADER_FIELDS = ("sql", "source_path", "sql_path")
_YAML_ONLY_KEYS = ("sql_file",)


def show_path(path: Path) -> str:
    """``path`` as messages print it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that rejects a key written twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"found duplicate key '{key}'", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CatalogError(f"{show_path(path)}: cannot read the file: {error.strerror or error}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        context = getattr(error, "context", None)
        detail = f"{problem} ({context})" if context else problem
        raise CatalogError(f"{show_path(path)}: {where}malformed YAML: {detail}") from None


def field_path(location: tuple[Any, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _allowed_keys(model: type, location: tuple[Any, ...]) -> list[str]:
    """The field names of the model at ``location`` in a ReportSpec (for did-you-mean hints)."""
    for part in location:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return []
        annotation = field.annotation
        inner = getattr(annotation, "__args__", None)
        model = inner[0] if inner else annotation
    if not hasattr(model, "model_fields"):
        return []
    return [name for name in model.model_fields if name not in _LOADER_FIELDS]


def _parameter_field(location: tuple[Any, ...], message: str) -> tuple[tuple[Any, ...], str]:
    """ParameterSpec checks the fields of one declaration together and says "parameter 'x': default: ...";
    name the field in the location instead: parameters[1].default."""
    from amc_pipelines.params import ParameterSpec

    match = re.match(r"^parameter '[^']*': (\w+)(:? )(.*)$", message, flags=re.DOTALL)
    if match is None or match.group(1) not in ParameterSpec.model_fields:
        return location, message
    field, separator, rest = match.groups()
    return (*location, field), rest if separator == ": " else f"{field} {rest}"


def _shape_problems(error: ValidationError, file: str) -> list[str]:
    problems: list[str] = []
    for item in error.errors(include_url=False):
        location = tuple(item["loc"])
        if location and location[0] in _LOADER_FIELDS:
            continue  # the SQL file's own problems are reported by the caller
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            key = str(location[-1])
            allowed = _allowed_keys(ReportSpec, location[:-1]) + (list(_YAML_ONLY_KEYS) if len(location) == 1 else [])
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            message = f"unknown key; {hint}allowed keys: {', '.join(allowed)}"
        elif item["type"] == "missing":
            message = "required but missing"
        elif len(location) == 2 and location[0] == "parameters":
            location, message = _parameter_field(location, message)
        field = field_path(location)
        # Cross-field rules report several lines, each already naming its field.
        for line in message.splitlines():
            problems.append(f"{file}: {field}: {line}" if field else f"{file}: {line}")
    return problems


def _sql_path(yaml_path: Path, data: Mapping[str, Any]) -> tuple[Path | None, str | None]:
    """The SQL file of a spec, or a problem: ``sql_file:`` relative to the YAML, default <name>.sql."""
    file = show_path(yaml_path)
    sql_file = data.get("sql_file")
    if sql_file is not None:
        if not isinstance(sql_file, str) or not sql_file.strip():
            return None, f"{file}: sql_file: must be a file name relative to the YAML file, e.g. report.sql"
        path = yaml_path.parent / sql_file
        if not path.is_file():
            return None, f"{file}: sql_file: {show_path(path)} does not exist"
        return path, None
    name = data.get("name")
    # A malformed name is reported on its own; the YAML file's stem then finds the SQL file.
    stem = name if isinstance(name, str) and re.fullmatch(REPORT_NAME_PATTERN, name) else yaml_path.stem
    path = yaml_path.parent / f"{stem}.sql"
    if not path.is_file():
        return None, f"{file}: no SQL file: expected {show_path(path)} beside the YAML file (or set sql_file:)"
    return path, None


def _load(yaml_path: Path, *, check_sql: bool) -> ReportSpec:
    from amc_pipelines.catalog.sql_checks import sql_problems

    file = show_path(yaml_path)
    data = read_yaml(yaml_path)
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise CatalogError(f"{file}: expected a mapping of report fields (name:, title:, ...), found {found}")
    problems = [
        f"{file}: {key}: not a YAML key: the loader sets it (the SQL lives in its own file, see sql_file:)"
        for key in _LOADER_FIELDS
        if key in data
    ]
    sql_path, sql_problem = _sql_path(yaml_path, data)
    if sql_problem:
        problems.append(sql_problem)
    fields = {k: v for k, v in data.items() if k not in _LOADER_FIELDS and k not in _YAML_ONLY_KEYS}
    sql = ""
    if sql_path is not None:
        try:
            sql = sql_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            problems.append(f"{show_path(sql_path)}: cannot read the SQL file: {error}")
        else:
            if not sql.strip():
                problems.append(f"{show_path(sql_path)}: the SQL file is empty")
    try:
        spec = ReportSpec.model_validate({**fields, "sql": sql, "source_path": yaml_path, "sql_path": sql_path})
    except ValidationError as error:
        problems.extend(_shape_problems(error, file))
    if problems:
        raise CatalogError(*problems)
    if check_sql:
        sql_errors = sql_problems(spec, show_path)
        if sql_errors:
            raise CatalogError(*sql_errors)
    return spec


def load_report(yaml_path: Path, *, check_sql: bool = True) -> ReportSpec:
    """The spec in ``yaml_path`` and its SQL file, validated; CatalogError lists every problem.

    ``check_sql=False`` skips the SQL checks (parsing with the sandbox's translator): for callers
    that load an already validated catalog and must stay light (Dagster code locations).
    """
    return _load(Path(yaml_path), check_sql=check_sql)


def spec_files(directory: Path) -> list[Path]:
    """The report spec files directly inside ``directory``, sorted by name."""
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in SPEC_SUFFIXES)


def _load_all(paths: Iterable[Path], *, check_sql: bool) -> dict[str, ReportSpec]:
    reports: dict[str, ReportSpec] = {}
    problems: list[str] = []
    for path in paths:
        try:
            spec = load_report(path, check_sql=check_sql)
        except CatalogError as error:
            problems.extend(error.problems)
            continue
        if spec.name in reports:
            problems.append(
                f"{show_path(path)}: name: report '{spec.name}' is already defined in "
                f"{show_path(reports[spec.name].source_path)}; report names must be unique across the catalog"
            )
            continue
        reports[spec.name] = spec
    if problems:
        raise CatalogError(*problems)
    return dict(sorted(reports.items()))


def load_catalog(extra_dir: Path | None = None, *, check_sql: bool = True) -> dict[str, ReportSpec]:
    """The built-in reports plus those in ``extra_dir``, by name; CatalogError lists every problem
    of every file (including a name defined twice)."""
    paths = spec_files(BUILTIN_DIR)
    if extra_dir is not None:
        extra_dir = Path(extra_dir)
        if not extra_dir.is_dir():
            raise CatalogError(f"{show_path(extra_dir)}: the report catalog directory does not exist")
        if extra_dir.resolve() != BUILTIN_DIR.resolve():
            paths += spec_files(extra_dir)
    return _load_all(paths, check_sql=check_sql)


def configured_catalog(settings=None, *, check_sql: bool = True) -> dict[str, ReportSpec]:
    """The catalog the settings select: built-ins plus ``settings.catalog_dir`` (AMC_CATALOG_DIR)."""
    from amc_pipelines.settings import get_settings

    settings = settings or get_settings()
    return load_catalog(settings.catalog_dir, check_sql=check_sql)


def get_report(name: str, catalog: Mapping[str, ReportSpec] | None = None) -> ReportSpec:
    """The report called ``name`` (from the configured catalog unless one is given)."""
    reports = configured_catalog() if catalog is None else catalog
    if name in reports:
        return reports[name]
    close = difflib.get_close_matches(name, list(reports), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise CatalogError(f"unknown report '{name}'{hint} Known reports: {', '.join(reports) or 'none'}")
