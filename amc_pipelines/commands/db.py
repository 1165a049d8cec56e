"""``amc db``: migrations and the embedded PostgreSQL server."""

from __future__ import annotations

import click
from sqlalchemy.exc import OperationalError

from amc_pipelines.settings import Settings, SettingsError, get_settings


class CommandError(click.ClickException):
    """A user-fixable error: message on stderr, exit code 2."""

    exit_code = 2


def load_settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as err:
        raise CommandError(str(err)) from None


def resolve_url(settings: Settings) -> str:
    """The database URL, starting the embedded server when needed, as a click-friendly error."""
    from amc_pipelines.db import database_url

    try:
        return database_url(settings)
    except SettingsError as err:
        raise CommandError(str(err)) from None
    except Exception as err:  # the embedded server failed to start: say where its log is
        if settings.database_url is not None:
            raise
        log = settings.home / "postgres" / "log"
        raise click.ClickException(
            f"the embedded PostgreSQL under {settings.home} did not start ({type(err).__name__}: {err}); "
            f"see {log}, or set AMC_DATABASE_URL to a running server"
        ) from None


def unreachable(url: str, err: OperationalError) -> click.ClickException:
    from amc_pipelines.db import redact_url

    reason = str(err.orig).strip().splitlines()[0] if err.orig is not None else type(err).__name__
    return click.ClickException(f"cannot reach the database at {redact_url(url)}: {reason}")


def migrated_url() -> str:
    """Resolve the database and upgrade it to head: every command that uses tables calls this."""
    from amc_pipelines.db import upgrade

    url = resolve_url(load_settings())
    try:
        upgrade(url)
    except OperationalError as err:
        raise unreachable(url, err) from None
    return url


def _describe(revision: str | None) -> str:
    return revision or "base (no migrations)"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def db() -> None:
    """Database: migrations (upgrade, current, downgrade), URL, embedded server."""


@db.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (all of them by default)."""
    from amc_pipelines.db import redact_url
    from amc_pipelines.db import upgrade as run_upgrade

    url = resolve_url(load_settings())
    try:
        before, after = run_upgrade(url, revision)
    except OperationalError as err:
        raise unreachable(url, err) from None
    except Exception as err:  # alembic: unknown revision, or a downgrade target given to upgrade
        if type(err).__module__.startswith("alembic"):
            raise CommandError(f"--revision {revision!r}: {err}") from None
        raise
    where = redact_url(url)
    if before == after:
        click.echo(f"{where}: already at {_describe(after)}; nothing to do.")
    else:
        click.echo(f"{where}: upgraded from {_describe(before)} to {_describe(after)}.")


@db.command()
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def downgrade(revision: str, yes: bool) -> None:
    """Revert migrations down to REVISION ('base' removes every table of the project).

    Downgrading drops tables and their data.
    """
    from amc_pipelines.db import current, redact_url
    from amc_pipelines.db import downgrade as run_downgrade

    url = resolve_url(load_settings())
    where = redact_url(url)
    try:
        now = current(url)
        if not yes:
            click.confirm(f"{where}: downgrade from {_describe(now)} to {revision}, dropping tables?", abort=True)
        before, after = run_downgrade(url, revision)
    except OperationalError as err:
        raise unreachable(url, err) from None
    except Exception as err:
        if type(err).__module__.startswith("alembic"):
            raise CommandError(f"REVISION {revision!r}: {err}") from None
        raise
    if before == after:
        click.echo(f"{where}: already at {_describe(after)}; nothing to do.")
    else:
        click.echo(f"{where}: downgraded from {_describe(before)} to {_describe(after)}.")


@db.command()
def current() -> None:
    """Show the revision the database is at, and whether it is the newest."""
    from amc_pipelines.db import current as read_current
    from amc_pipelines.db import head, redact_url

    url = resolve_url(load_settings())
    try:
        revision = read_current(url)
    except OperationalError as err:
        raise unreachable(url, err) from None
    newest = head()
    state = "up to date" if revision == newest else f"behind: run `amc db upgrade` to reach {newest}"
    click.echo(f"{redact_url(url)}: {_describe(revision)} ({state})")


@db.command()
@click.option(
    "--format",
    "url_format",
    type=click.Choice(["sqlalchemy", "psycopg2", "libpq"]),
    default="sqlalchemy",
    show_default=True,
    help="sqlalchemy: postgresql+psycopg:// (our code); psycopg2: for dagster-postgres; libpq: for psql/dbt.",
)
def url(url_format: str) -> None:
    """Print the database URL (password redacted); starts the embedded server if it is used."""
    from amc_pipelines.db import libpq_url, psycopg2_url, redact_url

    resolved = resolve_url(load_settings())
    converted = {"sqlalchemy": resolved, "psycopg2": psycopg2_url(resolved), "libpq": libpq_url(resolved)}
    click.echo(redact_url(converted[url_format]))


@db.command()
def status() -> None:
    """Show whether the embedded PostgreSQL under AMC_HOME is running."""
    from amc_pipelines.db.embedded import embedded_status

    settings = load_settings()
    state = embedded_status(settings.home)
    if state.running:
        click.echo(f"embedded PostgreSQL running: pid {state.pid}, data {state.data_dir}, socket in {state.socket_dir}")
    else:
        click.echo(f"embedded PostgreSQL not running (data directory {state.data_dir})")
    if settings.database_url is not None:
        click.echo("AMC_DATABASE_URL is set: the project uses that database, not the embedded one.")


@db.command()
def stop() -> None:
    """Stop the embedded PostgreSQL under AMC_HOME (it keeps running between commands otherwise).

    Open sessions are disconnected; the next command that needs the database starts it again.
    """
    from amc_pipelines.db.embedded import data_dir, stop_embedded_server

    settings = load_settings()
    if stop_embedded_server(settings.home):
        click.echo(f"stopped the embedded PostgreSQL on {data_dir(settings.home)}")
    else:
        click.echo(f"no embedded PostgreSQL is running on {data_dir(settings.home)}")
