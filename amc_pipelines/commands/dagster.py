"""``amc dagster``: the Dagster instance files of this project."""

from __future__ import annotations

from pathlib import Path

import click

from amc_pipelines.commands.db import load_settings, resolve_url


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def dagster() -> None:
    """Dagster instance files: write DAGSTER_HOME/dagster.yaml with the project's limits."""


@dagster.command()
@click.option(
    "--dagster-home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory to write dagster.yaml into (default: AMC_HOME/dagster). Point DAGSTER_HOME at it.",
)
@click.option(
    "--postgres",
    is_flag=True,
    help="Keep Dagster's runs and events in the project's Postgres (dagster-postgres) instead of SQLite.",
)
def init(dagster_home: Path | None, postgres: bool) -> None:
    """Write dagster.yaml: run queue, 20 runs per AMC instance, the amc pool, run monitoring, retries.

    The limits are those of deploy/dagster.yaml. Storage is SQLite under the directory (what
    `dagster dev` expects) unless --postgres is given. The file is rewritten when the limits change.
    """
    from amc_pipelines.dagster_home import DAGSTER_PG_URL_ENV, url_has_password, write_dagster_yaml

    settings = load_settings()
    home = (dagster_home or settings.home / "dagster").expanduser().resolve()
    postgres_url = None
    if postgres:
        from amc_pipelines.db import psycopg2_url, redact_url

        postgres_url = psycopg2_url(resolve_url(settings))
    changed = write_dagster_yaml(home, postgres_url=postgres_url)
    target = home / "dagster.yaml"
    storage = f"Postgres at {redact_url(postgres_url)}" if postgres_url else "SQLite"
    click.echo(f"{target}: {'written' if changed else 'already up to date'} ({storage} storage).")
    if postgres_url and url_has_password(postgres_url):
        click.echo(
            f"The URL has a password, which is not written to disk: the file reads the URL from "
            f"{DAGSTER_PG_URL_ENV}. Set it where Dagster runs to {redact_url(postgres_url)} with the real password."
        )
    click.echo(f"Use it with: export DAGSTER_HOME={home}")
