"""``amc backfill``: launch, watch, pause, resume, cancel and retry report backfills in a running Dagster."""

from __future__ import annotations

import click

from amc_pipelines.commands.db import CommandError, load_settings, migrated_url

_URL_OPTION = click.option(
    "--dagster-url", default=None, metavar="URL",
    help="The Dagster webserver (default: AMC_DAGSTER_UI_URL, else the UI of the deployment running on "
         "AMC_HOME/dagster (make dev, make demo), else http://127.0.0.1:3000).",
)


def _api(dagster_url: str | None):
    from amc_pipelines.backfill_api import DagsterGraphQL

    return DagsterGraphQL(dagster_url or _webserver_url())


def _webserver_url() -> str:
    """AMC_DAGSTER_UI_URL; else the webserver of the deployment holding this AMC_HOME's Dagster home,
    whatever its port; else Dagster's default address."""
    from amc_pipelines.backfill import DEFAULT_DAGSTER_URL
    from amc_pipelines.dagster_home import dagster_home
    from amc_pipelines.deployment.lock import find_running

    settings = load_settings()
    if settings.dagster_ui_url:
        return settings.dagster_ui_url
    running = find_running(dagster_home(settings))
    return running.url if running is not None and running.url else DEFAULT_DAGSTER_URL


def _engine():
    from amc_pipelines.db import get_engine

    return get_engine(migrated_url())


class _Errors:
    """Input errors exit 2 (nothing was sent); webserver errors exit 1 with Dagster's message."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, err, traceback) -> bool:
        from amc_pipelines.backfill import BackfillInputError
        from amc_pipelines.backfill_api import DagsterApiError

        if isinstance(err, BackfillInputError):
            raise CommandError(str(err)) from None
        if isinstance(err, DagsterApiError):
            raise click.ClickException(str(err)) from None
        return False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def backfill() -> None:
    """Report backfills (Dagster partition backfills, week x instance): start, status, pause, resume, cancel, retry."""


@backfill.command()
@click.argument("report")
@click.option("--instances", default=None, metavar="ID,...", help="Instances to backfill (default: every enabled one).")
@click.option("--from", "from_week", default=None, metavar="WEEK", help="First week (its first day, YYYY-MM-DD).")
@click.option("--to", "to_week", default=None, metavar="WEEK", help="Last week, inclusive (its first day).")
@click.option("--weeks", type=int, default=None, metavar="N", help="The N newest collectable weeks of each instance.")
@_URL_OPTION
def start(report: str, instances: str | None, from_week: str | None, to_week: str | None, weeks: int | None,
          dagster_url: str | None) -> None:
    """Launch a backfill of REPORT: one run per week x instance, throttled by Dagster's run queue.

    Every week is checked first (week start day, data lag, retention, instance enabled); nothing is
    launched when one fails.
    """
    from amc_pipelines.backfill import check_partitions_known, plan_backfill

    instance_ids = [i.strip() for i in instances.split(",") if i.strip()] if instances is not None else None
    if instance_ids == []:
        raise CommandError("--instances is empty: give instance ids separated by commas, or leave it out for all")
    with _Errors():
        plan = plan_backfill(_engine(), load_settings(), report=report, instance_ids=instance_ids,
                             from_week=from_week, to_week=to_week, weeks=weeks)
        with _api(dagster_url) as api:
            check_partitions_known(api, plan)
            backfill_id = api.launch([plan.report], plan.partition_keys, title=plan.title)
    click.echo(f"backfill {backfill_id} launched: {plan.title}, {len(plan.partition_keys)} partitions")
    click.echo(f"watch it with `amc backfill status {backfill_id}` or in the Dagster UI: "
               f"{api.url}/runs/b/{backfill_id}")


@backfill.command()
@click.argument("backfill_id", required=False)
@click.option("--limit", default=10, show_default=True, help="Backfills listed without an ID.")
@_URL_OPTION
def status(backfill_id: str | None, limit: int, dagster_url: str | None) -> None:
    """Progress of backfill ID per report and instance; without ID, the newest backfills."""
    with _Errors(), _api(dagster_url) as api:
        engine = _engine()
        if backfill_id is None:
            _list(api, engine, limit)
        else:
            _detail(api, engine, backfill_id)


def _list(api, engine, limit: int) -> None:
    from amc_pipelines.backfill import pause_record

    found = api.backfills(limit)
    if not found:
        click.echo("no backfills yet: start one with `amc backfill start REPORT --weeks N`")
    for info in found:
        record = pause_record(engine, info.backfill_id)
        state = "PAUSED" if record and record.active and not info.has_ended else info.status
        targeted = sum(c[0] for c in info.asset_counts.values())
        done = sum(c[2] for c in info.asset_counts.values())
        failed = sum(c[3] for c in info.asset_counts.values())
        created = info.created.strftime("%Y-%m-%d %H:%M") if info.created else "?"
        click.echo(f"{info.backfill_id}  {state:<17} {created} UTC  {done}/{targeted} done, {failed} failed  "
                   f"{info.title or ', '.join(info.reports)}")


def _detail(api, engine, backfill_id: str) -> None:
    from amc_pipelines.backfill import STATES, backfill_progress, pause_record, progress_bar

    info = api.backfill(backfill_id)
    record = pause_record(engine, backfill_id)
    rows = backfill_progress(info, set(record.refused) if record else set())
    created = info.created.strftime("%Y-%m-%d %H:%M:%S") if info.created else "?"
    click.echo(f"backfill {info.backfill_id}: {info.status}  {info.title or ''}  (created {created} UTC)")
    if record and record.active:
        click.echo(f"PAUSED since {record.paused_at:%Y-%m-%d %H:%M:%S %Z}: no new AMC executions; "
                   f"`amc backfill resume {backfill_id}` continues")
    elif record and record.resumed_as:
        click.echo(f"resumed: the weeks refused while paused run again in backfill {', '.join(record.resumed_as)}")
    if info.error:
        click.echo(f"error: {info.error}")
    width = max([len(r.report) for r in rows] + [6])
    iwidth = max([len(r.instance_id) for r in rows] + [8])
    click.echo(f"{'report':<{width}}  {'instance':<{iwidth}}  " + "  ".join(f"{s:>8}" for s in STATES) + "  progress")
    totals = dict.fromkeys(STATES, 0)
    for row in rows:
        for state in STATES:
            totals[state] += row.counts[state]
        click.echo(f"{row.report:<{width}}  {row.instance_id:<{iwidth}}  "
                   + "  ".join(f"{row.counts[s]:>8}" for s in STATES) + f"  {progress_bar(row.counts)}")
    click.echo(f"{'total':<{width}}  {'':<{iwidth}}  " + "  ".join(f"{totals[s]:>8}" for s in STATES)
               + f"  {progress_bar(totals)}")


@backfill.command()
@click.argument("backfill_id")
@_URL_OPTION
def pause(backfill_id: str, dagster_url: str | None) -> None:
    """Stop backfill ID from submitting new AMC executions; executions in flight finish and load.

    Runs of the backfill that start while it is paused fail at once with "backfill paused" instead
    of submitting; `amc backfill resume ID` runs those weeks again.
    """
    from amc_pipelines.backfill import BackfillInputError, pause_backfill

    with _Errors(), _api(dagster_url) as api:
        info = api.backfill(backfill_id)
        if info.has_ended or info.status == "CANCELING":
            raise BackfillInputError(f"backfill {backfill_id} is {info.status}: nothing to pause")
        pause_backfill(_engine(), backfill_id)
    click.echo(f"backfill {backfill_id} paused: no new AMC executions; runs already waiting on AMC go on. "
               f"Continue with `amc backfill resume {backfill_id}`.")


@backfill.command()
@click.argument("backfill_id")
@_URL_OPTION
def resume(backfill_id: str, dagster_url: str | None) -> None:
    """Lift the pause of backfill ID and launch the weeks it refused again (as a new backfill)."""
    from amc_pipelines.backfill import resume_backfill

    with _Errors(), _api(dagster_url) as api:
        outcome = resume_backfill(_engine(), api, backfill_id)
    if outcome.launched:
        click.echo(f"backfill {backfill_id} resumed: the {len(outcome.refused)} week(s) refused while paused run "
                   f"again in backfill {', '.join(outcome.launched)}")
    else:
        click.echo(f"backfill {backfill_id} resumed: no week was refused while it was paused")


@backfill.command()
@click.argument("backfill_id")
@_URL_OPTION
def cancel(backfill_id: str, dagster_url: str | None) -> None:
    """Cancel backfill ID: no new runs; runs in progress are terminated by Dagster."""
    with _Errors(), _api(dagster_url) as api:
        api.cancel(backfill_id)
    click.echo(f"backfill {backfill_id} is being cancelled")


@backfill.command("retry-failed")
@click.argument("backfill_id")
@_URL_OPTION
def retry_failed(backfill_id: str, dagster_url: str | None) -> None:
    """Run the weeks of backfill ID that did not materialize again, as a new backfill (once it has ended)."""
    from amc_pipelines.backfill import BackfillInputError

    with _Errors(), _api(dagster_url) as api:
        info = api.backfill(backfill_id)
        if not info.has_ended:
            raise BackfillInputError(f"backfill {backfill_id} is still {info.status}: retry its failed weeks once it "
                                     f"has ended, or cancel it first with `amc backfill cancel {backfill_id}`")
        new_id = api.reexecute_failed(backfill_id)
    click.echo(f"backfill {new_id} launched: the weeks of {backfill_id} that did not materialize")
