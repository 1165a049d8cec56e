"""``amc dbt ARGS...``: the dbt CLI on dbt_project/ with the project's database as its profile."""

from __future__ import annotations

import sys

import click

from amc_pipelines.commands.db import CommandError, load_settings, migrated_url


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def dbt(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Run dbt on dbt_project/ against the project's database (AMC_DATABASE_URL or the embedded server).

    Every argument goes to dbt: `amc dbt build`, `amc dbt run --select fct_campaign_week`,
    `amc dbt build --full-refresh`, `amc dbt -- --help`. Before a command that uses the database
    (build, run, test, seed, show, compile...), the result tables the marts read are created when
    missing, amc.report_definitions is synced from the catalog and the inputs are checked (roles,
    currencies). Artifacts and logs go to AMC_HOME/dbt/target.
    """
    if not args or args[0] in ("-h", "--help"):
        click.echo(ctx.get_help())
        if not args:
            click.echo("\ndbt's own help: amc dbt -- --help")
        return
    if args[0] == "--":
        args = args[1:]
    from amc_pipelines.marts import DATABASE_COMMANDS, MartsError, prepare_database, run_dbt

    settings = load_settings()
    url = migrated_url()
    if args and args[0] in DATABASE_COMMANDS:
        from amc_pipelines.catalog import load_catalog
        from amc_pipelines.catalog.definitions import load_definitions
        from amc_pipelines.db import get_engine

        catalog = load_catalog(settings.catalog_dir, check_sql=False)
        try:
            prepare_database(get_engine(url), catalog, load_definitions(catalog, settings.catalog_dir))
        except MartsError as err:
            raise CommandError(str(err)) from None
    result = run_dbt(list(args), url=url, target_dir=settings.home / "dbt" / "target")
    sys.exit(result.returncode)
