"""The ``amc`` command.

Subcommand groups live in ``amc_pipelines/commands/`` and are imported only when invoked, so
``amc --help`` stays fast and a command never pays for another's heavy imports.
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute" of its click group
_GROUPS: dict[str, str] = {
    "db": "amc_pipelines.commands.db:db",
    "instances": "amc_pipelines.commands.instances:instances",
    "sandbox": "amc_pipelines.commands.sandbox:sandbox",
    "reports": "amc_pipelines.commands.reports:reports",
    "dagster": "amc_pipelines.commands.dagster:dagster",
    "run": "amc_pipelines.commands.run:run",
    "executions": "amc_pipelines.commands.executions:executions",
    "backfill": "amc_pipelines.commands.backfill:backfill",
    "dbt": "amc_pipelines.commands.dbt:dbt",
    "refresh": "amc_pipelines.commands.refresh:refresh",
    "insights": "amc_pipelines.commands.insights:insights",
}

_HELP: dict[str, str] = {
    "db": "Database: migrations (upgrade, current, downgrade), URL, embedded server status and stop.",
    "instances": "Register and manage AMC instances.",
    "sandbox": "The local AMC stand-in: serve the API, run AMC SQL.",
    "reports": "The report catalog (built-in reports plus AMC_CATALOG_DIR): list, show, validate.",
    "dagster": "The project's Dagster deployment on AMC_HOME/dagster: dev, demo, status, stop, init.",
    "run": "Run one report for an instance and window now, through the execution ledger.",
    "executions": "The execution ledger: list executions, show one with its status history.",
    "dbt": "dbt on dbt_project/ (the marts) with the project's database as its profile: amc dbt build ...",
    "refresh": "The BigQuery -> Postgres refresh: run, status, history, validate, cutover, rollback; config.",
    "insights": "Findings over an instance's weekly marts (anomalies, trends, changes, opportunities): detect.",
    "backfill": "Report backfills in a running Dagster (week x instance): start, status, pause, resume, cancel, retry-failed.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_GROUPS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _GROUPS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help without importing every group.
        with formatter.section("Commands"):
            formatter.write_dl([(name, _HELP[name]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="amc_pipelines")
def main() -> None:
    """Run Amazon Marketing Cloud reports, week by week, into Postgres."""


if __name__ == "__main__":
    main()
