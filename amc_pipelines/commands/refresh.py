"""``amc refresh``: the daily BigQuery -> Postgres refresh (issue 11): ``run`` (a cycle now),
``status``, ``history`` (the audit), ``validate``/``cutover``/``rollback`` (shadow mode), and
``config``: the table registry (YAML files) and the operators' overrides stored in Postgres."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from amc_pipelines.commands.db import CommandError, load_settings, migrated_url
from amc_pipelines.refresh.models import MODES


def _problems(error) -> CommandError:
    """One problem as it is (it names its file and field, or the unknown table or mode); several
    under a count, one a line."""
    if len(error.problems) == 1:
        return CommandError(error.problems[0])
    return CommandError(f"{len(error.problems)} problems in the refresh registry:\n"
                        + "\n".join(f"  {problem}" for problem in error.problems))


@contextmanager
def _refresh_errors() -> Iterator[None]:
    """RefreshConfigError (a user can fix it) becomes exit code 2 naming every problem."""
    from amc_pipelines.refresh.registry import RefreshConfigError

    try:
        yield
    except RefreshConfigError as error:
        raise _problems(error) from None


def _registry() -> dict[str, Any]:
    from amc_pipelines.refresh.registry import configured_registry

    with _refresh_errors():
        return configured_registry(load_settings())


def _engine():
    from amc_pipelines.db import get_engine

    return get_engine(migrated_url())


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, ["-" * width for width in widths], *rows]
    )


def _source(config) -> str:
    return config.source.table if config.source.table else "query"


def _mode(table) -> str:
    return table.mode if table.mode_source == "file" else f"{table.mode} (override, file: {table.config.mode})"


def _dependencies(config) -> str:
    parts = [*config.dependencies.hard, *(f"{name} (soft)" for name in config.dependencies.soft)]
    return ", ".join(parts) or "-"


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return os.environ.get("USER") or f"uid {os.getuid()}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def refresh() -> None:
    """The daily BigQuery -> Postgres refresh of the tables in the refresh registry."""


@refresh.group(context_settings={"help_option_names": ["-h", "--help"]})
def config() -> None:
    """The refresh registry (amc_pipelines/refresh/tables/ plus AMC_REFRESH_TABLES_DIR) and the
    operators' mode overrides stored in Postgres."""


@config.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the effective configs as JSON.")
def list_tables(as_json: bool) -> None:
    """Every table, dependency order, with its effective mode (file or override), source, target,
    dependencies and schedule (UTC)."""
    from amc_pipelines.refresh.overrides import effective_tables
    from amc_pipelines.refresh.registry import dependency_order

    registry = _registry()
    effective = effective_tables(_engine(), registry)
    ordered = [effective[config.name] for config in dependency_order(registry)]
    if as_json:
        click.echo(json.dumps([table.summary() for table in ordered], indent=2))
        return
    rows = [[t.name, _mode(t), "yes" if t.enabled else "no", _source(t.config), t.config.qualified_target,
             _dependencies(t.config), t.config.schedule, str(t.config.priority)] for t in ordered]
    click.echo(_table(rows, ["table", "mode", "enabled", "source", "target", "depends on", "schedule", "priority"]))


@config.command("show")
@click.argument("table_name", metavar="TABLE")
@click.option("--json", "as_json", is_flag=True, help="Print the effective config as JSON.")
def show_table(table_name: str, as_json: bool) -> None:
    """One table's effective config."""
    from amc_pipelines.params.durations import format_iso_duration
    from amc_pipelines.refresh.overrides import effective_table

    registry = _registry()
    with _refresh_errors():
        table = effective_table(_engine(), registry, table_name)
    if as_json:
        click.echo(json.dumps(table.summary(), indent=2))
        return
    config = table.config
    watermark = (f"{config.watermark.column}, overlap {format_iso_duration(config.watermark.overlap)}" if config.watermark
                 else "none (the whole source every run)")
    override = f"by {table.updated_by} at {table.updated_at.isoformat(timespec='seconds')}" if table.updated_at else "none"
    fields = [
        ("table", config.name),
        ("file", config.source_path),
        ("mode", _mode(table)),
        ("enabled", "yes" if table.enabled else "no"),
        ("refreshes", "yes" if table.refreshes else "no"),
        ("override", override),
        ("source", config.source.table or "query (below)"),
        ("target", config.qualified_target),
        ("key columns", ", ".join(config.key_columns)),
        ("watermark", watermark),
        ("partition column", config.partition_column or "-"),
        ("depends on", _dependencies(config)),
        ("schedule (UTC)", config.schedule),
        ("priority", config.priority),
        ("page size", config.page_size),
        ("source deletes", config.on_source_delete),
        ("schema drift", config.on_schema_drift),
        ("cutover after", f"{config.validation.passes_for_cutover} passed validations"),
    ]
    click.echo("\n".join(f"{label + ':':<18}{value}" for label, value in fields))
    click.echo(f"\n{config.description}")
    if config.source.query:
        click.echo("\nQuery:\n" + config.source.query.rstrip())


@config.command("set")
@click.argument("table_name", metavar="TABLE")
@click.option("--mode", type=str, default=None, metavar="|".join(MODES), help="The table's mode (overrides its file).")
@click.option("--enable/--disable", "enabled", default=None, help="Enable or pause the table (its mode is kept).")
@click.option("--by", default=None, metavar="WHO", help="Who makes the change, for the audit [default: the OS user].")
def set_table(table_name: str, mode: str | None, enabled: bool | None, by: str | None) -> None:
    """Override TABLE's mode and/or enable it; every changed field is audited (see `history`)."""
    from amc_pipelines.refresh import overrides

    registry = _registry()
    by = by if by is not None else _default_user()
    with _refresh_errors():
        # Checked before the database is touched: a typo never starts a server or a migration.
        overrides.check_change(registry, table_name, by=by, mode=mode, enabled=enabled)
        changes = overrides.set_table(_engine(), registry, table_name, by=by, mode=mode, enabled=enabled)
    if not changes:
        click.echo(f"{table_name}: unchanged")
    for change in changes:
        click.echo(f"{table_name}: {change.field} {change.old_value} -> {change.new_value}")


@config.command("history")
@click.option("--table", "table_name", default=None, metavar="TABLE", help="Only this table's changes.")
@click.option("--json", "as_json", is_flag=True, help="Print the audit rows as JSON.")
def history(table_name: str | None, as_json: bool) -> None:
    """The audit of configuration changes: who, when, table, field, old and new value (oldest first)."""
    from amc_pipelines.refresh.overrides import config_history

    changes = config_history(_engine(), table_name)
    if as_json:
        click.echo(json.dumps([change.summary() for change in changes], indent=2))
        return
    if not changes:
        click.echo("no configuration changes" + (f" for {table_name}" if table_name else ""))
        return
    rows = [[c.changed_at.isoformat(timespec="seconds"), c.changed_by, c.table, c.field, c.old_value or "-",
             c.new_value or "-"] for c in changes]
    click.echo(_table(rows, ["when", "who", "table", "field", "old", "new"]))


@config.command("validate")
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
def validate(path: Path | None) -> None:
    """Check the registry: PATH (a YAML file or a directory of them, checked with the built-in
    tables) or by default the configured registry. Exit code 1 lists every problem."""
    from amc_pipelines.refresh.registry import RefreshConfigError, load_registry, load_table

    try:
        if path is None:
            registry = load_registry(load_settings().refresh_tables_dir)
        elif path.is_dir():
            registry = load_registry(path)
        else:
            table = load_table(path)
            registry = {table.name: table}
    except RefreshConfigError as error:
        click.echo(str(_problems(error).message), err=True)
        raise SystemExit(1) from None
    click.echo(f"OK: {len(registry)} table{'s' if len(registry) != 1 else ''} valid ({', '.join(registry)})")


@config.command("discover")
@click.option("--json", "as_json", is_flag=True, help="Print the tables as JSON.")
def discover(as_json: bool) -> None:
    """Tables in the BigQuery dataset (AMC_BIGQUERY_DATASET) that no registry file reads. They are
    listed here and never refreshed: add a YAML file to configure one."""
    from google.api_core.exceptions import GoogleAPICallError

    from amc_pipelines.refresh.bigquery import bigquery_client
    from amc_pipelines.refresh.discovery import unconfigured_tables

    settings = load_settings()
    registry = _registry()
    client = bigquery_client(settings)
    try:
        found = unconfigured_tables(client, settings.bigquery_dataset, registry)
    except GoogleAPICallError as error:
        raise click.ClickException(f"BigQuery did not list the tables of {settings.bigquery_project}."
                                   f"{settings.bigquery_dataset}: {error.message}") from None
    finally:
        client.close()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo(f"every table of {settings.bigquery_project}.{settings.bigquery_dataset} has a registry file")
        return
    click.echo(_table([[t["table"], t["type"] or "-", t["created"] or "-"] for t in found], ["table", "type", "created"]))
    click.echo(f"{len(found)} table{'s' if len(found) != 1 else ''} without a registry file: not refreshed; "
               "configure one with a YAML file in amc_pipelines/refresh/tables/ or AMC_REFRESH_TABLES_DIR")


# ---- the refresh itself: run, status, history, validate, cutover, rollback ------------------------

def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _when(moment) -> str:
    return "-" if moment is None else moment.isoformat(timespec="seconds")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _outcome_lines(outcome, validation) -> list[str]:
    """One line per table, then its error, skip reason, warnings and validation indented."""
    dry = outcome.mode == "dry_run"
    line = f"{outcome.table}: {outcome.status} ({outcome.mode}{f', {outcome.target}' if outcome.target else ''})"
    if outcome.status != "skipped":
        line += (f": read {outcome.rows_read:,}, {'would insert' if dry else 'inserted'} {outcome.rows_inserted:,}, "
                 f"{'update' if dry else 'updated'} {outcome.rows_updated:,}, {'delete' if dry else 'deleted'} "
                 f"{outcome.rows_deleted:,}")
        if dry and outcome.bytes_processed is not None:
            line += f", BigQuery would scan {outcome.bytes_processed:,} bytes"
        line += f" in {outcome.duration_seconds:.1f} s"
    lines = [line]
    if outcome.error:
        lines.append(f"  {'reason' if outcome.status == 'skipped' else 'error'}: {outcome.error}")
    lines += [f"  warning: {warning}" for warning in outcome.details.get("warnings", [])]
    if validation is not None:
        lines.append(f"  validation {'passed' if validation.passed else 'FAILED'}: {validation.summary}")
    return lines


def _outcome_json(outcome, validation) -> dict[str, Any]:
    data = {**outcome.summary(), "details": outcome.details}
    data["validation"] = None if validation is None else {
        "passed": validation.passed, "summary": validation.summary, "validation_id": validation.validation_id,
        "checks": validation.checks}
    return data


@refresh.command("run")
@click.argument("table_names", nargs=-1, metavar="[TABLE]...")
@click.option("--dry-run", is_flag=True, help="Report what would change (bytes, rows by week); write only audit rows.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per table (a line each) as it finishes.")
def run(table_names: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Refresh TABLEs (default: every table that refreshes) now, in dependency order, each in its
    effective mode. A failed hard dependency skips its dependents; a failed soft one makes them warn.
    Exit code 1 when a table failed."""
    from amc_pipelines.refresh.bigquery import bigquery_client
    from amc_pipelines.refresh.cycle import check_table_names, run_cycle
    from amc_pipelines.refresh.events import refresh_notifier

    settings = load_settings()
    registry = _registry()
    names = list(table_names) or None
    with _refresh_errors():
        if names:  # a typo is refused before the database or BigQuery is touched
            check_table_names(registry, names)
        engine = _engine()

        def report(outcome, validation) -> None:
            if as_json:
                click.echo(json.dumps(_outcome_json(outcome, validation), default=str))
            else:
                click.echo("\n".join(_outcome_lines(outcome, validation)))

        client = bigquery_client(settings)
        try:
            result = run_cycle(engine, client, registry, tables=names, dry_run=dry_run, triggered_by="cli",
                               notifier=refresh_notifier(settings), on_outcome=report)
        finally:
            client.close()
    if not result.outcomes:
        click.echo("no table refreshes: every table is disabled or paused (see `amc refresh config list`)", err=True)
        return
    counts = ", ".join(f"{count} {status}" for status, count in sorted(result.counts().items()))
    click.echo(f"cycle {result.cycle_id}{' (dry run)' if dry_run else ''}: {len(result.outcomes)} "
               f"table{'s' if len(result.outcomes) != 1 else ''}: {counts}", err=as_json)
    if result.failed:
        raise SystemExit(1)


@refresh.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(as_json: bool) -> None:
    """Health (healthy, degraded, failing: see docs/architecture.md), the last and next cycle, and
    per table its mode, last run, next run (UTC), failures in the last 24 h, average duration and rows."""
    from amc_pipelines.refresh.status import refresh_status

    registry = _registry()
    state = refresh_status(_engine(), registry)
    if as_json:
        click.echo(json.dumps(state.summary(), indent=2))
        return
    click.echo(f"refresh: {state.health} (at {_when(state.now)})")
    cycle = state.last_cycle
    if cycle is None:
        click.echo("last cycle: none")
    else:
        counts = ", ".join(f"{count} {name}" for name, count in sorted(cycle.statuses.items()))
        end = f"finished {_when(cycle.finished_at)}" if cycle.finished_at else "still running"
        click.echo(f"last cycle: {cycle.cycle_id} by {cycle.triggered_by or '-'}, started {_when(cycle.started_at)}, "
                   f"{end}: {counts}")
    click.echo(f"next cycle: {_when(state.next_cycle)}\n")
    rows = []
    for t in state.tables:
        last = t.last_run
        rows.append([t.table, t.mode if t.refreshes else f"{t.mode} (not refreshing)", t.health or "-",
                     last.status if last else "-", _when(last.started_at) if last else "-", _when(t.next_run),
                     str(t.failures_24h), _seconds(t.average_duration_seconds), _count(t.rows)])
    click.echo(_table(rows, ["table", "mode", "health", "last run", "started", "next run", "failed 24h",
                             "avg duration", "rows"]))
    reasons = [f"  {t.table}: {reason}" for t in state.tables for reason in t.reasons]
    if reasons:
        click.echo("\n" + "\n".join(reasons))


@refresh.command("history")
@click.option("--table", "table_name", default=None, metavar="TABLE", help="Only this table's runs.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="At most this many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the audit rows as JSON.")
def run_history(table_name: str | None, limit: int, as_json: bool) -> None:
    """The audit of refresh runs, newest first: one row per table and cycle."""
    from amc_pipelines.refresh.status import run_history as history_rows

    registry = _registry()
    with _refresh_errors():
        records = history_rows(_engine(), registry, table=table_name, limit=limit)
    if as_json:
        click.echo(json.dumps([record.summary() for record in records], indent=2))
        return
    if not records:
        click.echo("no refresh runs" + (f" for {table_name}" if table_name else ""))
        return
    rows = [[_when(r.started_at), r.table, r.mode, r.status, _count(r.rows_read), _count(r.rows_inserted),
             _count(r.rows_updated), _count(r.rows_deleted), _seconds(r.duration_seconds), r.cycle_id,
             (r.error or "")[:80]] for r in records]
    click.echo(_table(rows, ["started", "table", "mode", "status", "read", "inserted", "updated", "deleted",
                             "duration", "cycle", "error"]))


@refresh.command("validate")
@click.argument("table_name", metavar="TABLE")
@click.option("--json", "as_json", is_flag=True, help="Print the validation as JSON.")
def validate_table(table_name: str, as_json: bool) -> None:
    """Compare TABLE's shadow (sqp_shadow) with its live table (sqp) now; the result is stored and
    counts towards cutover. Exit code 1 when a check failed."""
    from amc_pipelines.refresh.overrides import effective_table
    from amc_pipelines.refresh.status import latest_run_id
    from amc_pipelines.refresh.validation import validate_shadow

    registry = _registry()
    with _refresh_errors():
        get_table_config(registry, table_name)
        engine = _engine()
        # The validation names the shadow run whose rows it saw, so cutover can tell a later run wrote over them.
        result = validate_shadow(engine, effective_table(engine, registry, table_name),
                                 run_id=latest_run_id(engine, table_name, mode="shadow"))
    if as_json:
        click.echo(json.dumps({"table": result.table, "passed": result.passed, "summary": result.summary,
                               "validation_id": result.validation_id, "run_id": result.run_id,
                               "checks": result.checks}, indent=2, default=str))
    else:
        for check in result.checks:
            click.echo(f"{'PASS' if check['passed'] else 'FAIL'}  {check['name']}: {check['details']['message']}")
        click.echo(f"{table_name}: validation {'passed' if result.passed else 'FAILED'}: {result.summary}")
    if not result.passed:
        raise SystemExit(1)


def get_table_config(registry, name: str):
    """The table's config, or RefreshConfigError naming the known tables (before any I/O)."""
    from amc_pipelines.refresh.registry import get_table

    return get_table(name, registry)


def _switch(action: str, table_name: str, by: str | None, as_json: bool) -> None:
    from amc_pipelines.refresh import cutover as switches
    from amc_pipelines.refresh.events import refresh_notifier

    settings = load_settings()
    registry = _registry()
    by = by if by is not None else _default_user()
    with _refresh_errors():
        get_table_config(registry, table_name)
        result = getattr(switches, action)(_engine(), registry, table_name, by=by, notifier=refresh_notifier(settings))
    summary = result.summary()
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    click.echo(f"{table_name}: mode {result.mode_before} -> {result.mode_after} by {by}")
    if result.action == "cut_over":
        click.echo(f"  allowed by passed validations {', '.join(map(str, result.validation_ids))}; the live table took "
                   f"the shadow's rows: inserted {result.rows_inserted:,}, updated {result.rows_updated:,}, "
                   f"deleted {result.rows_deleted:,}")
    if summary.get("webhook"):
        click.echo(f"  webhook: {summary['webhook']}")


@refresh.command("cutover")
@click.argument("table_name", metavar="TABLE")
@click.option("--by", default=None, metavar="WHO", help="Who switches it, for the audit [default: the OS user].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def cutover_table(table_name: str, by: str | None, as_json: bool) -> None:
    """Switch TABLE from shadow to live, only when its last N validations passed (N:
    validation.passes_for_cutover, default 3); the live table takes the shadow's rows. Audited."""
    _switch("cutover", table_name, by, as_json)


@refresh.command("rollback")
@click.argument("table_name", metavar="TABLE")
@click.option("--by", default=None, metavar="WHO", help="Who switches it, for the audit [default: the OS user].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def rollback_table(table_name: str, by: str | None, as_json: bool) -> None:
    """Switch TABLE from live back to shadow (no row changes; the next runs write the shadow and
    validate it again). Audited."""
    _switch("rollback", table_name, by, as_json)
