"""``amc insights``: findings from statistics over the weekly marts (anomalies, trends, changes, opportunities)."""

from __future__ import annotations

import json
from datetime import date

import click

from amc_pipelines.commands.db import CommandError, migrated_url


def _week(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: give the week's first day as YYYY-MM-DD") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def insights() -> None:
    """Findings over an instance's weekly marts: anomalies, trends, notable changes, opportunities."""


@insights.command()
@click.option("--instance", "instance_id", required=True, metavar="ID", help="The AMC instance.")
@click.option("--from", "first_week", callback=_week, metavar="YYYY-MM-DD",
              help="First week reported (default: 51 weeks before --to). Earlier weeks are read as baseline.")
@click.option("--to", "last_week", callback=_week, metavar="YYYY-MM-DD",
              help="Last week reported (default: the instance's last loaded week).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per finding, one per line.")
def detect(instance_id: str, first_week: date | None, last_week: date | None, as_json: bool) -> None:
    """Detect findings for one instance over a week range (no LLM)."""
    from amc_pipelines.db import get_engine
    from amc_pipelines.insights.detect import detect_findings
    from amc_pipelines.insights.reader import InsightsInputError, load_marts

    if first_week and last_week and first_week > last_week:
        raise CommandError(f"--from {first_week.isoformat()} is after --to {last_week.isoformat()}")
    try:  # the instance and the weeks' start day are checked before the marts are read
        marts = load_marts(get_engine(migrated_url()), instance_id, first_week, last_week)
    except InsightsInputError as error:
        raise CommandError(str(error)) from None
    findings = detect_findings(marts.campaign_weeks, first_week=marts.first_week, last_week=marts.last_week)
    if as_json:
        for finding in findings:
            click.echo(json.dumps(finding.to_json(), ensure_ascii=False))
        return
    click.echo(f"{len(findings)} findings for {instance_id}, weeks {marts.first_week} to {marts.last_week}")
    for f in findings:
        where = f.campaign or f.ad_product or "all campaigns"
        flag = " (provisional)" if f.provisional else ""
        click.echo(f"{f.kind:<11} {f.week_start}  {f.metric:<18} {f.direction:<4} {f.magnitude:+.1%}  "
                   f"conf {f.confidence:.2f}  {where}{flag}")
