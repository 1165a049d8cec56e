"""``amc reports``: the report catalog (built-in library plus AMC_CATALOG_DIR) and its report
definitions: list, show, definitions, validate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from amc_pipelines.commands.db import CommandError, load_settings


def _catalog(*, check_sql: bool = True) -> dict[str, Any]:
    from amc_pipelines.catalog import CatalogError, configured_catalog

    try:
        return configured_catalog(load_settings(), check_sql=check_sql)
    except CatalogError as error:
        raise _problems(error) from None


def _definitions(catalog: dict[str, Any]) -> dict[str, Any]:
    from amc_pipelines.catalog import CatalogError
    from amc_pipelines.catalog.definitions import load_definitions

    try:
        return load_definitions(catalog, load_settings().catalog_dir)
    except CatalogError as error:
        raise _problems(error) from None


def _problems(error) -> CommandError:
    count = len(error.problems)
    return CommandError(f"{count} problem{'s' if count != 1 else ''} in the report catalog:\n" + "\n".join(
        f"  {problem}" for problem in error.problems
    ))


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, ["-" * width for width in widths], *rows]
    )


def _schedule(spec) -> str:
    return f"{spec.schedule.cron} ({spec.schedule.timezone or 'instance time zone'})"


def _summary(spec) -> dict[str, Any]:
    """The JSON form of a spec (everything but the SQL text, which ``show`` prints)."""
    return {
        "name": spec.name,
        "title": spec.title,
        "description": spec.description,
        "owner": spec.owner,
        "workflow_id": spec.workflow_id,
        "sql_hash": spec.sql_hash,
        "source_path": str(spec.source_path),
        "sql_path": str(spec.sql_path) if spec.sql_path else None,
        "schedule": spec.schedule.model_dump(),
        "privacy": spec.privacy.model_dump(),
        "data_lag_hours": spec.data_lag_hours,
        "settle_days": spec.settle_days,
        "parameters": [p.model_dump(mode="json", exclude_none=True) for p in spec.parameters],
        "output_columns": [c.model_dump(exclude_none=True) for c in spec.output_columns],
    }


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def reports() -> None:
    """The report catalog: built-in reports plus those in AMC_CATALOG_DIR."""


@reports.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the specs as JSON.")
def list_reports(as_json: bool) -> None:
    """List the reports of the catalog."""
    catalog = _catalog()
    if as_json:
        click.echo(json.dumps([_summary(spec) for spec in catalog.values()], indent=2, default=str))
        return
    rows = [
        [spec.name, spec.title, str(len(spec.parameters)), str(len(spec.output_columns)), _schedule(spec), spec.owner]
        for spec in catalog.values()
    ]
    click.echo(_table(rows, ["name", "title", "params", "columns", "schedule", "owner"]))


def _constraints(parameter) -> str:
    parts = []
    if parameter.pattern:
        parts.append(f"pattern {parameter.pattern}")
    if parameter.allowed_values:
        parts.append("one of " + ", ".join(str(v) for v in parameter.allowed_values))
    for label, value in (("min items", parameter.min_items), ("max items", parameter.max_items),
                         ("minimum", parameter.minimum), ("maximum", parameter.maximum)):
        if value is not None:
            parts.append(f"{label} {value:g}" if isinstance(value, float) else f"{label} {value}")
    return "; ".join(parts) or "-"


def _default(parameter) -> str:
    if parameter.required:
        return "(required)"
    if parameter.default is None:
        return "-"
    return json.dumps(parameter.default, default=str)


@reports.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the spec and its SQL as JSON.")
def show_report(name: str, as_json: bool) -> None:
    """Show one report: spec, parameters, output columns, schedule, workflow id and SQL."""
    from amc_pipelines.catalog import CatalogError, get_report

    catalog = _catalog()
    try:
        spec = get_report(name, catalog)
    except CatalogError as error:
        raise CommandError(str(error)) from None
    if as_json:
        click.echo(json.dumps({**_summary(spec), "sql": spec.sql, "amc_sql": spec.amc_sql()}, indent=2, default=str))
        return
    fields = [
        ("name", spec.name),
        ("title", spec.title),
        ("owner", spec.owner),
        ("spec file", spec.source_path),
        ("SQL file", spec.sql_path or "-"),
        ("workflow id", spec.workflow_id),
        ("SQL hash", spec.sql_hash),
        ("schedule", _schedule(spec)),
        ("privacy", spec.privacy.behavior
         + (f", discriminator column {spec.privacy.discriminator_column}" if spec.privacy.discriminator_column else "")),
        ("data lag hours", spec.data_lag_hours if spec.data_lag_hours is not None else "default"),
        ("settle days", spec.settle_days if spec.settle_days is not None else "default"),
    ]
    click.echo("\n".join(f"{label + ':':<16}{value}" for label, value in fields))
    click.echo(f"\n{spec.description}\n")
    click.echo("Parameters:")
    if spec.parameters:
        rows = [[p.name, p.type.value, _default(p), _constraints(p), p.description] for p in spec.parameters]
        click.echo(_table(rows, ["name", "type", "default", "constraints", "description"]))
    else:
        click.echo("  (none)")
    click.echo("\nOutput columns:")
    rows = [[c.name, c.type, c.kind, c.role or "-", c.description] for c in spec.output_columns]
    click.echo(_table(rows, ["name", "type", "kind", "role", "description"]))
    click.echo("\nSQL:")
    click.echo(spec.sql.rstrip())


@reports.command("definitions")
@click.option("--json", "as_json", is_flag=True, help="Print the definitions as JSON.")
def list_definitions(as_json: bool) -> None:
    """List the report definitions: each template's implicit one and those in definitions/ folders
    (built-in examples, AMC_CATALOG_DIR/definitions)."""
    definitions = _definitions(_catalog(check_sql=False))
    if as_json:
        click.echo(json.dumps([d.summary() for d in definitions.values()], indent=2, default=str))
        return
    rows = [
        [d.name, d.template.name, "implicit" if d.implicit else str(d.source_path),
         json.dumps(d.parameters, default=str), ", ".join(d.instances) if d.instances else "all",
         _schedule(d), d.owner]
        for d in definitions.values()
    ]
    click.echo(_table(rows, ["name", "template", "file", "parameters", "instances", "schedule", "owner"]))


@reports.command("validate")
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--instances", "check_instances", is_flag=True,
              help="Also check that every instance a definition names is in the instance registry.")
def validate_reports(path: Path | None, check_instances: bool) -> None:
    """Validate report specs: a YAML file, a directory of them (checked together with the built-in
    reports, so names must not clash), or by default the whole configured catalog.

    Exit code 2 lists every problem, each naming its file and field.
    """
    from amc_pipelines.catalog import CatalogError, load_catalog, load_report

    try:
        if path is None:
            reports_by_name = _catalog()
        elif path.is_dir():
            reports_by_name = load_catalog(path)
        else:
            spec = load_report(path)
            reports_by_name = {spec.name: spec}
    except CatalogError as error:
        raise _problems(error) from None
    names = ", ".join(reports_by_name)
    click.echo(f"OK: {len(reports_by_name)} report{'s' if len(reports_by_name) != 1 else ''} valid ({names})")
    if path is None:
        definitions = _definitions(reports_by_name)
        if check_instances:
            _check_instances(definitions)
        written = [name for name, d in definitions.items() if not d.implicit]
        click.echo(f"OK: {len(written)} report definition{'s' if len(written) != 1 else ''} valid"
                   + (f" ({', '.join(written)})" if written else "")
                   + ("" if check_instances else "; their instances were not checked (--instances)"))


def _check_instances(definitions: dict[str, Any]) -> None:
    from amc_pipelines.catalog import CatalogError
    from amc_pipelines.catalog.definitions import check_definition_instances
    from amc_pipelines.commands.db import migrated_url
    from amc_pipelines.db import get_engine
    from amc_pipelines.registry import list_instances

    known = [i.instance_id for i in list_instances(get_engine(migrated_url()))]
    try:
        check_definition_instances(definitions.values(), known)
    except CatalogError as error:
        raise _problems(error) from None
