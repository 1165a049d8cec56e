"""``amc dagster``: the one Dagster deployment of an AMC_HOME (``make dev``, ``make demo``) and its instance file.

Every subcommand works on ``AMC_HOME/dagster`` (:func:`amc_pipelines.dagster_home.dagster_home`):
``dev`` and ``demo`` run the same code server, webserver and daemon on it with Postgres storage
(:mod:`amc_pipelines.deployment.local`), ``status`` and ``stop`` find what runs there, ``init``
writes its ``dagster.yaml`` for running ``dagster`` commands by hand.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from amc_pipelines.commands.db import load_settings, resolve_url

_LATENCY = click.option("--sandbox-latency", default=None, metavar="SECONDS|MIN-MAX",
                        help="How long each sandbox execution runs (default: 5-20 for dev, 1-3 for the demo).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def dagster() -> None:
    """The Dagster deployment of AMC_HOME (AMC_HOME/dagster, Postgres storage): dev, demo, status, stop, init."""


def _local(purpose: str, **options):
    from amc_pipelines.deployment.local import LocalDeployment

    load_settings()  # a bad AMC_* value stops here with the variable named
    env = {name: value for name, value in os.environ.items() if name.startswith("AMC_")}
    return LocalDeployment(env, purpose=purpose, out=lambda line: click.echo(line, err=True), **options)


class _Errors:
    """A taken home or port, or a deployment that did not come up: the message, exit status 1."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, err, traceback) -> bool:
        from amc_pipelines.deployment.lock import HomeInUse
        from amc_pipelines.deployment.processes import DeploymentError

        if isinstance(err, HomeInUse | DeploymentError):
            raise click.ClickException(str(err)) from None
        return False


@dagster.command()
@click.option("--port", type=int, default=3000, show_default=True, help="Port of the Dagster UI on 127.0.0.1.")
@_LATENCY
def dev(port: int, sandbox_latency: str | None) -> None:
    """Run the deployment until Ctrl-C: the AMC sandbox (unless AMC_API_URL names another AMC),
    the code server, the Dagster UI on http://127.0.0.1:PORT and the daemon, on AMC_HOME/dagster.

    The same processes, storage and limits as `make demo` and a production deployment, so the UI
    shows everything the demo did. One deployment per AMC_HOME: a second one says what runs.
    """
    from amc_pipelines.deployment.local import DEV_SANDBOX_LATENCY

    with _Errors(), _local("make dev", port=port, sandbox_latency=sandbox_latency or DEV_SANDBOX_LATENCY) as local:
        _print_automation(local)
        click.echo(f"Dagster UI: {local.url}   (Ctrl-C stops; `amc dagster stop` from another terminal)", err=True)
        try:
            local.wait()
        except KeyboardInterrupt:
            click.echo("stopping the deployment...", err=True)


def _print_automation(local) -> None:
    from amc_pipelines.deployment.processes import DeploymentError

    try:
        automation = local.automation()
    except DeploymentError as err:  # informative only
        click.echo(f"(could not read the sensors and schedules: {err})", err=True)
        return
    for kind in ("sensors", "schedules"):
        running = sorted(name for name, status in automation[kind].items() if status == "RUNNING")
        stopped = sorted(name for name, status in automation[kind].items() if status != "RUNNING")
        click.echo(f"{kind} running: {', '.join(running) or 'none'}", err=True)
        if stopped:
            click.echo(f"{kind} stopped: {', '.join(stopped)}", err=True)
    if any(status != "RUNNING" for status in automation["schedules"].values()):
        click.echo("   schedules start stopped, so no AMC work starts on its own: turn one on under "
                   "Automation in the UI", err=True)


@dagster.command()
@click.option("--weeks", type=int, default=8, show_default=True, help="Newest collectable weeks per instance.")
@click.option("--instances", type=int, default=2, show_default=True, help="Sandbox instances to backfill.")
@click.option("--port", type=int, default=3000, show_default=True,
              help="Port of the Dagster UI while the demo runs (a free one when it is taken).")
@click.option("--timeout", type=float, default=1800, show_default=True, help="Seconds to wait for the backfills.")
@_LATENCY
def demo(weeks: int, instances: int, port: int, timeout: float, sandbox_latency: str | None) -> None:
    """Backfill campaign_performance and new_to_brand x the newest WEEKS weeks x INSTANCES sandbox
    instances through the deployment of AMC_HOME, then stop it. `make dev` afterwards shows the runs,
    partitions, backfills and checks. Run again: every week is reused (0 new AMC executions).
    Exit status 1 when a partition failed."""
    from amc_pipelines.deployment.demo import DEMO_SANDBOX_LATENCY, run_demo

    local = _local("make demo", port=port, any_port=True, sandbox_latency=sandbox_latency or DEMO_SANDBOX_LATENCY)
    with _Errors(), local:
        result = run_demo(local, weeks=weeks, instances=instances, timeout=timeout,
                          out=lambda line: click.echo(line, err=True))
    click.echo("== stopped. `make dev` opens the same Dagster home: the demo's runs, partitions and backfills",
               err=True)
    sys.exit(1 if result.failed else 0)


@dagster.command()
def status() -> None:
    """What runs on AMC_HOME/dagster (make dev, make demo...), its UI and processes; exit 1 when nothing."""
    from amc_pipelines.dagster_home import dagster_home
    from amc_pipelines.deployment.lock import find_running

    home = dagster_home(load_settings())
    running = find_running(home)
    if running is None:
        click.echo(f"nothing runs on DAGSTER_HOME={home}: start it with `make dev`")
        sys.exit(1)
    click.echo(f"{running.purpose} runs on DAGSTER_HOME={home}")
    click.echo(f"  UI: {running.url or '(starting)'}")
    click.echo(f"  started {running.started} by pid {running.pid}"
               f"{'' if running.owner_alive else ' (gone: its processes outlived it)'}")
    for name, pid in running.processes.items():
        click.echo(f"  {name}: pid {pid}")


@dagster.command()
@click.option("--timeout", type=float, default=60, show_default=True,
              help="Seconds to wait for a clean stop before killing the processes.")
def stop(timeout: float) -> None:
    """Stop the deployment running on AMC_HOME/dagster (as Ctrl-C in its terminal would)."""
    from amc_pipelines.dagster_home import dagster_home
    from amc_pipelines.deployment.lock import stop_deployment

    home = dagster_home(load_settings())
    try:
        stopped = stop_deployment(home, timeout=timeout)
    except RuntimeError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"stopped {stopped.purpose} on DAGSTER_HOME={home}" if stopped
               else f"nothing runs on DAGSTER_HOME={home}")


@dagster.command()
@click.option(
    "--dagster-home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory to write dagster.yaml into (default: AMC_HOME/dagster, the one make dev and make demo use).",
)
def init(dagster_home: Path | None) -> None:
    """Write dagster.yaml with Postgres storage in the project database, 20 runs per AMC instance,
    the amc pool, run monitoring and retries: the file `make dev` and `make demo` write.

    For `dagster` commands run by hand (e.g. `dagster instance concurrency set amc 12`) with
    DAGSTER_HOME pointing at the directory. The file is rewritten when the limits change.
    """
    from amc_pipelines.dagster_home import DAGSTER_PG_URL_ENV, url_has_password, write_dagster_yaml
    from amc_pipelines.dagster_home import dagster_home as default_home
    from amc_pipelines.db import psycopg2_url, redact_url

    settings = load_settings()
    home = (dagster_home or default_home(settings)).expanduser().resolve()
    postgres_url = psycopg2_url(resolve_url(settings))
    changed = write_dagster_yaml(home, postgres_url=postgres_url)
    click.echo(f"{home / 'dagster.yaml'}: {'written' if changed else 'already up to date'} "
               f"(Postgres at {redact_url(postgres_url)}).")
    if url_has_password(postgres_url):
        click.echo(
            f"The URL has a password, which is not written to disk: the file reads the URL from "
            f"{DAGSTER_PG_URL_ENV}. Set it where Dagster runs to {redact_url(postgres_url)} with the real password."
        )
    click.echo(f"Use it with: export DAGSTER_HOME={home}")

