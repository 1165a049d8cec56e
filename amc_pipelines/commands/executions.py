"""``amc executions``: the execution ledger (what ran, what was loaded, and why something failed)."""

from __future__ import annotations

import json

import click

from amc_pipelines.commands.db import CommandError, migrated_url
from amc_pipelines.commands.instances import _table
from amc_pipelines.db.models import EXECUTION_STATUSES


def _engine():
    from amc_pipelines.db import get_engine

    return get_engine(migrated_url())


def _when(moment) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def executions() -> None:
    """The execution ledger: every AMC execution, its status history and lineage."""


@executions.command(name="list")
@click.option("--report", default=None, help="Only this report.")
@click.option("--instance", "instance_id", default=None, metavar="ID", help="Only this instance.")
@click.option("--status", default=None, type=click.Choice(EXECUTION_STATUSES, case_sensitive=False),
              help="Only executions in this status.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000), help="Newest N rows.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_(report: str | None, instance_id: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """List ledger rows, newest first."""
    from amc_pipelines.ledger import list_executions

    rows = list_executions(_engine(), report=report, instance_id=instance_id, status=status, limit=limit)
    if as_json:
        click.echo(json.dumps([row.to_json() for row in rows], indent=2))
        return
    if not rows:
        click.echo("no executions recorded" + (" that match" if report or instance_id or status else ""))
        return
    headers = ["ID", "REPORT", "INSTANCE", "WINDOW START", "STATUS", "TRY", "ROWS", "AMC EXECUTION", "UPDATED"]
    table = [
        [str(r.id), r.report_name, r.instance_id, r.window_start.isoformat(timespec="seconds"), r.status,
         str(r.attempt) + ("F" if r.forced else ""), "" if r.rows is None else str(r.rows),
         r.amc_execution_id or "", _when(r.updated_at)]
        for r in rows
    ]
    click.echo(_table(table, headers))


@executions.command()
@click.argument("ledger_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(ledger_id: int, as_json: bool) -> None:
    """Show one ledger row: key, lineage, timings and status history."""
    from amc_pipelines.ledger import execution_history, get_execution

    engine = _engine()
    record = get_execution(engine, ledger_id)
    if record is None:
        raise CommandError(f"no execution #{ledger_id} in the ledger: see `amc executions list`")
    history = execution_history(engine, ledger_id)
    if as_json:
        payload = record.to_json() | {"history": [
            {"status": e.status, "detail": e.detail, "at": e.at.isoformat()} for e in history]}
        click.echo(json.dumps(payload, indent=2))
        return
    fields = [
        ("ledger id", record.id), ("report", record.report_name), ("instance", record.instance_id),
        ("window", f"{record.window_start.isoformat()} to {record.window_end.isoformat()} {record.timezone}"),
        ("parameters", json.dumps(record.parameters)), ("status", record.status),
        ("attempt", f"{record.attempt}" + (" (forced)" if record.forced else "")),
        ("provisional", "yes" if record.provisional else "no"), ("workflow", record.workflow_id),
        ("AMC execution", record.amc_execution_id or "-"), ("rows", record.rows), ("files", record.file_count),
        ("checksum", record.checksum), ("API calls", record.api_calls), ("error", record.error),
        ("created", _when(record.created_at)), ("submitted", _when(record.submitted_at)),
        ("finished", _when(record.finished_at)), ("loaded", _when(record.loaded_at)),
        ("execution key", record.execution_key), ("SQL hash", record.sql_hash),
        ("parameters hash", record.parameters_hash),
    ]
    click.echo("\n".join(f"{label + ':':<17}{'' if value is None else value}" for label, value in fields))
    click.echo("history:")
    for event in history:
        click.echo(f"  {_when(event.at)}  {event.status:<10} {event.detail or ''}".rstrip())
