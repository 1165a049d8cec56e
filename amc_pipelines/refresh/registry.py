"""The refresh registry: every ``*.yaml`` in ``tables/`` (plus AMC_REFRESH_TABLES_DIR) as validated
TableConfigs, checked together, and the order in which they refresh.

``load_registry`` reports every problem of every file at once (RefreshConfigError, one line per
problem naming file and field), before anything reaches BigQuery or Postgres.
"""

from __future__ import annotations

import difflib
import heapq
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from amc_pipelines.catalog.loader import field_path, read_yaml, show_path, spec_files
from amc_pipelines.catalog.models import CatalogError
from amc_pipelines.refresh.models import TableConfig

BUILTIN_DIR = Path(__file__).parent / "tables"


class RefreshConfigError(ValueError):
    """One or more problems in refresh table configs (or an unknown table); one line per problem."""

    def __init__(self, *problems: str) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _shape_problems(error: ValidationError, file: str) -> list[str]:
    problems = []
    for item in error.errors(include_url=False):
        location = tuple(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            allowed = [name for name in _model_at(location[:-1]).model_fields if name != "source_path"]
            close = difflib.get_close_matches(str(location[-1]), allowed, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            message = f"unknown key; {hint}allowed keys: {', '.join(allowed)}"
        elif item["type"] == "missing":
            message = "required but missing"
        elif item["type"] == "literal_error":
            message = f"{item['input']!r} is not allowed: use {message.removeprefix('Input should be ')}"
        # Union members (checksum_columns: 'all' | list) add their type to the location: drop it.
        field = field_path(tuple(part for part in location if part not in ("list[str]", "literal['all']")))
        for line in message.splitlines():  # cross-field rules give several lines, each naming its field
            problems.append(f"{file}: {field}: {line}" if field else f"{file}: {line}")
    return problems


def _model_at(location: tuple[Any, ...]) -> type:
    model: Any = TableConfig
    for part in location:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[part].annotation
        inner = [a for a in getattr(annotation, "__args__", ()) if hasattr(a, "model_fields")]
        model = inner[0] if inner else annotation
    return model


def load_table(path: Path) -> TableConfig:
    """The config in ``path``, validated on its own; RefreshConfigError lists every problem."""
    path = Path(path)
    file = show_path(path)
    try:
        data = read_yaml(path)
    except CatalogError as error:
        raise RefreshConfigError(*error.problems) from None
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise RefreshConfigError(f"{file}: expected a mapping of table fields (name:, source:, ...), found {found}")
    if "source_path" in data:
        raise RefreshConfigError(f"{file}: source_path: not a YAML key: the loader sets it")
    try:
        return TableConfig.model_validate({**data, "source_path": path})
    except ValidationError as error:
        raise RefreshConfigError(*_shape_problems(error, file)) from None


def check_registry(tables: Iterable[TableConfig]) -> dict[str, TableConfig]:
    """The tables by name if they agree with each other: unique names and targets, known
    dependencies, no cycle. RefreshConfigError lists every problem."""
    problems: list[str] = []
    by_name: dict[str, TableConfig] = {}
    targets: dict[str, TableConfig] = {}
    for table in tables:
        file = show_path(table.source_path)
        if table.name in by_name:
            problems.append(f"{file}: name: table '{table.name}' is already defined in "
                            f"{show_path(by_name[table.name].source_path)}; table names must be unique")
            continue
        if table.target_table in targets:
            problems.append(f"{file}: target: {table.qualified_target} is already the target of "
                            f"'{targets[table.target_table].name}' ({show_path(targets[table.target_table].source_path)}); "
                            "two tables cannot write one Postgres table")
            continue
        by_name[table.name] = table
        targets[table.target_table] = table
    for table in by_name.values():
        for kind in ("hard", "soft"):
            for dependency in getattr(table.dependencies, kind):
                if dependency not in by_name:
                    close = difflib.get_close_matches(dependency, list(by_name), n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    problems.append(f"{show_path(table.source_path)}: dependencies.{kind}: unknown table "
                                    f"'{dependency}'{hint}; known tables: {', '.join(sorted(by_name))}")
    if not problems:
        cycle = _cycle(by_name)
        if cycle:
            files = ", ".join(show_path(by_name[name].source_path) for name in cycle[:-1])
            problems.append(f"{files}: dependencies: cycle {' -> '.join(cycle)}: remove one of these dependencies")
    if problems:
        raise RefreshConfigError(*problems)
    return dict(sorted(by_name.items()))


def _cycle(tables: Mapping[str, TableConfig]) -> list[str] | None:
    """One dependency cycle as [a, b, ..., a], or None."""
    state: dict[str, str] = {}  # "visiting" while on the current path, then "done"
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = "visiting"
        path.append(name)
        for dependency in tables[name].dependencies.all:
            if state.get(dependency) == "visiting":
                return [*path[path.index(dependency):], dependency]
            if dependency not in state and (found := visit(dependency)):
                return found
        path.pop()
        state[name] = "done"
        return None

    for name in sorted(tables):
        if name not in state and (found := visit(name)):
            return found
    return None


def dependency_order(tables: Mapping[str, TableConfig]) -> list[TableConfig]:
    """Every table after all its (hard and soft) dependencies; among tables whose dependencies are
    done, higher priority first, then by name. ``tables`` must come from ``check_registry``."""
    remaining = {name: set(t.dependencies.all) & set(tables) for name, t in tables.items()}
    dependents: dict[str, list[str]] = {name: [] for name in tables}
    for name, dependencies in remaining.items():
        for dependency in dependencies:
            dependents[dependency].append(name)
    ready = [(-tables[name].priority, name) for name, deps in remaining.items() if not deps]
    heapq.heapify(ready)
    order: list[TableConfig] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(tables[name])
        for dependent in dependents[name]:
            remaining[dependent].discard(name)
            if not remaining[dependent]:
                heapq.heappush(ready, (-tables[dependent].priority, dependent))
    if len(order) != len(tables):
        raise RefreshConfigError("dependency cycle: check the registry with check_registry first")
    return order


def load_registry(extra_dir: Path | None = None) -> dict[str, TableConfig]:
    """The built-in tables plus those in ``extra_dir``, by name, checked together."""
    paths = spec_files(BUILTIN_DIR)
    if extra_dir is not None:
        extra_dir = Path(extra_dir)
        if not extra_dir.is_dir():
            raise RefreshConfigError(f"{show_path(extra_dir)}: the refresh tables directory does not exist")
        if extra_dir.resolve() != BUILTIN_DIR.resolve():
            paths += spec_files(extra_dir)
    return load_tables(paths)


def load_tables(paths: Iterable[Path]) -> dict[str, TableConfig]:
    """These files' tables, checked on their own and together; every problem at once."""
    tables: list[TableConfig] = []
    problems: list[str] = []
    for path in paths:
        try:
            tables.append(load_table(path))
        except RefreshConfigError as error:
            problems.extend(error.problems)
    try:
        registry = check_registry(tables)
    except RefreshConfigError as error:
        problems.extend(error.problems)
    if problems:
        raise RefreshConfigError(*problems)
    return registry


def configured_registry(settings=None) -> dict[str, TableConfig]:
    """The registry the settings select: built-ins plus AMC_REFRESH_TABLES_DIR."""
    from amc_pipelines.settings import get_settings

    settings = settings or get_settings()
    return load_registry(settings.refresh_tables_dir)


def get_table(name: str, registry: Mapping[str, TableConfig]) -> TableConfig:
    if name in registry:
        return registry[name]
    close = difflib.get_close_matches(name, list(registry), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise RefreshConfigError(f"unknown table '{name}'{hint}; known tables: {', '.join(registry) or 'none'} "
                             "(a table is configured by a YAML file in amc_pipelines/refresh/tables/ or AMC_REFRESH_TABLES_DIR)")
