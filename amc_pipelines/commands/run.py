"""``amc run``: run one report definition (or template) now, through the execution ledger."""

from __future__ import annotations

import json

import click

from amc_pipelines.commands.db import CommandError, load_settings, migrated_url


def parse_params(items: tuple[str, ...]) -> dict[str, str]:
    """``NAME=VALUE`` pairs; a malformed or repeated pair is a user error."""
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise CommandError(f"--param {item!r} is not NAME=VALUE: write e.g. --param asins=B0ABCDEFGH")
        if name in params:
            raise CommandError(f"--param {name} is given twice: give a list as one value, e.g. --param {name}=a,b")
        params[name] = value
    return params


def make_client(settings, engine):
    """The AMC client of a CLI process, sharing the database's request-rate bucket."""
    from amc_pipelines.amc.client import AmcClient
    from amc_pipelines.amc.ratelimit import PostgresRateLimiter

    return AmcClient(settings, rate_limiter=PostgresRateLimiter(engine, settings.api_rate_per_second))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("report")
@click.option("--instance", "instance_id", required=True, metavar="ID", help="Registered AMC instance id.")
@click.option("--week", default=None, metavar="YYYY-MM-DD", help="The calendar week starting on this day (instance time zone).")
@click.option("--window", "window_expr", default=None, metavar="EXPR",
              help="A date expression: last_week, week(-2), last_n_days(30), last_month, mtd, qtd, ytd...")
@click.option("--start", default=None, metavar="DATE[THH:MM:SS]", help="Window start (with --end; instance time zone).")
@click.option("--end", default=None, metavar="DATE[THH:MM:SS]", help="Window end, exclusive (with --start).")
@click.option("--param", "param_items", multiple=True, metavar="NAME=VALUE",
              help="A report parameter; lists as a,b or a JSON array. Repeat for several parameters.")
@click.option("--force", is_flag=True, help="Run again even if the result is loaded (the old execution is superseded).")
@click.option("--dry-run", is_flag=True, help="Validate with AMC (dryRun) and print the exact requests; run nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def run(report: str, instance_id: str, week: str | None, window_expr: str | None, start: str | None, end: str | None,
        param_items: tuple[str, ...], force: bool, dry_run: bool, as_json: bool) -> None:
    """Run REPORT for one instance and window now, and load its rows.

    REPORT is a report definition (`amc reports definitions`) or a template, which runs as its
    implicit definition. --param overrides the definition's parameters: such a run is ad hoc, its
    rows are kept beside the definition's, never in their place. A loaded result is reused, an
    execution AMC already has is reattached to, and a new one is submitted only when neither
    exists. Progress goes to stderr.
    """
    from amc_pipelines.amc.errors import AmcConfigurationError, AmcError
    from amc_pipelines.db import get_engine
    from amc_pipelines.ledger import LedgerError
    from amc_pipelines.runner import RunFailed, RunInputError, prepare_run, run_report

    params = parse_params(param_items)
    settings = load_settings()
    engine = get_engine(migrated_url())
    try:
        request = prepare_run(engine, settings, report_name=report, instance_id=instance_id, week=week,
                              window_expr=window_expr, start=start, end=end, params=params, force=force,
                              dry_run=dry_run)
    except RunInputError as err:
        raise CommandError(str(err)) from None
    window = request.window
    click.echo(f"{report} for {instance_id}: {window.amc_start()} to {window.amc_end()} {window.timezone}"
               + (" (provisional: attribution still settling)" if request.provisional else "")
               + (f" (ad hoc parameters, hash {request.parameters_hash[:12]})" if request.ad_hoc else ""), err=True)
    try:
        with make_client(settings, engine) as client:
            outcome = run_report(engine, settings, client, request, progress=lambda line: click.echo(line, err=True))
    except AmcConfigurationError as err:
        raise CommandError(str(err)) from None
    except (RunFailed, AmcError, LedgerError) as err:
        raise click.ClickException(str(err)) from None
    if as_json:
        click.echo(json.dumps(_outcome_json(outcome), indent=2))
    elif dry_run:
        for item in outcome.requests:
            click.echo(f"{item['method']} {item['url']}")
            if item.get("note"):
                click.echo(f"# {item['note']}")
            click.echo(json.dumps(item["body"], indent=2))
        click.echo("AMC validated the request (dry run): nothing was run")
    else:
        key = request.result_key
        click.echo(f"{outcome.rows} rows loaded into amc_results.{request.report.name} for definition "
                   f"{key.definition}, parameters hash {key.parameters_hash[:12]} ({outcome.files} file(s), "
                   f"checksum {outcome.checksum})")
        click.echo(f"AMC execution {outcome.amc_execution_id}: {outcome.how}; ledger #{outcome.ledger_id}, "
                   f"{outcome.api_calls} API calls, {outcome.seconds:.1f} s"
                   + (", provisional" if outcome.provisional else ""))


def _outcome_json(outcome) -> dict:
    return {
        "status": outcome.status, "how": outcome.how, "rows": outcome.rows, "files": outcome.files,
        "checksum": outcome.checksum, "amc_execution_id": outcome.amc_execution_id, "ledger_id": outcome.ledger_id,
        "workflow_id": outcome.workflow_id, "execution_key": outcome.execution_key, "api_calls": outcome.api_calls,
        "provisional": outcome.provisional, "reused": outcome.reused, "reattached": outcome.reattached,
        "submitted": outcome.submitted, "attempts": outcome.attempts, "seconds": round(outcome.seconds, 3),
        "window": {"start": outcome.window.amc_start(), "end": outcome.window.amc_end(),
                   "timezone": outcome.window.timezone},
        "requests": outcome.requests,
    }
