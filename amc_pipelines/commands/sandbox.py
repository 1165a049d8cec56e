"""``amc sandbox``: the local AMC stand-in (and the BigQuery and OpenAI stand-ins, served on the same port).

``serve`` runs the AMC Reporting API on loopback over synthetic data; ``run-sql`` runs one AMC SQL
file exactly as an execution would (same translation, window, parameters, rules and privacy
thresholds) and prints the result CSV, so analysts can try a query before spending AMC time on it.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from amc_pipelines.settings import get_settings

AMC_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
SIZES = ("small", "demo", "large")


@click.group()
def sandbox() -> None:
    """The local AMC stand-in: serve the API, run AMC SQL, list its instances."""


@sandbox.command()
@click.option("--host", default=None, help="Address to bind (default AMC_SANDBOX_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default AMC_SANDBOX_PORT or 8765).")
@click.option("--latency", default=None, metavar="SECONDS|MIN-MAX",
              help="How long each execution runs, fixed or uniform in a range, e.g. 5 or 2-20.")
@click.option("--faults", default=None, metavar="KIND=RATE,...",
              help='Fault rates, e.g. "5xx=0.2,429=0.05,timeout=0.02,failed=0.05,truncate=0.05".')
@click.option("--seed", type=int, default=None, help="Seed of the synthetic data (default AMC_SANDBOX_SEED or 7).")
@click.option("--size", type=click.Choice(SIZES), default=None, help="Synthetic data size (default AMC_SANDBOX_SIZE or demo).")
@click.option("--bigquery-size", type=click.Choice(SIZES), default=None,
              help="Data size of the BigQuery stand-in (default AMC_BIGQUERY_SANDBOX_SIZE; large: 5 million SQP rows).")
@click.option("--bigquery-faults", default=None, metavar="KIND=RATE,...",
              help='BigQuery stand-in fault rates, e.g. "5xx=0.1,429=0.1,quota=0,slow=0.05,drop=0.02,failed=0.05,expire=0.05".')
@click.option("--openai-faults", default=None, metavar="KIND=RATE,...",
              help='OpenAI stand-in fault rates (under /v1), e.g. "5xx=0.1,429=0.2,slow=0.05".')
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info")
def serve(host: str | None, port: int | None, latency: str | None, faults: str | None,
          seed: int | None, size: str | None, bigquery_size: str | None, bigquery_faults: str | None,
          openai_faults: str | None, log_level: str) -> None:
    """Serve the AMC Reporting API (and the LwA token endpoint), the BigQuery and the OpenAI stand-ins until interrupted."""
    from amc_pipelines.sandbox.api.config import ConfigError
    from amc_pipelines.sandbox.api.server import serve_options

    settings = get_settings()
    options = dict(
        host=host or settings.sandbox_host,
        port=port or settings.sandbox_port,
        latency=latency,
        faults=faults,
        seed=settings.sandbox_seed if seed is None else seed,
        size=size or settings.sandbox_size,
        data_dir=settings.sandbox_dir,
        bigquery_size=bigquery_size or settings.bigquery_sandbox_size,
        bigquery_faults=bigquery_faults,
        bigquery_project=settings.bigquery_project,
        bigquery_dataset=settings.bigquery_dataset,
        bigquery_location=settings.bigquery_location,
        openai_faults=openai_faults,
        log_level=log_level,
    )
    click.echo(f"AMC sandbox on http://{options['host']}:{options['port']} "
               f"(size {options['size']}, seed {options['seed']}; data in {settings.sandbox_dir})", err=True)
    try:
        serve_options(**options)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None


def _dataset(size: str | None, seed: int | None):
    from amc_pipelines.sandbox.datagen import ensure_dataset

    settings = get_settings()
    return ensure_dataset(settings.sandbox_dir, size=size or settings.sandbox_size,
                          seed=settings.sandbox_seed if seed is None else seed)


@sandbox.command()
@click.option("--size", type=click.Choice(SIZES), default=None, help="Synthetic data size (default AMC_SANDBOX_SIZE).")
@click.option("--seed", type=int, default=None, help="Seed of the synthetic data (default AMC_SANDBOX_SEED).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def instances(size: str | None, seed: int | None, as_json: bool) -> None:
    """List the sandbox's AMC instances (one per synthetic advertiser)."""
    dataset = _dataset(size, seed)
    rows = [
        {"instance_id": i.instance_id, "account_id": i.account_id, "advertiser": i.advertiser,
         "marketplace_id": i.marketplace_id, "region": i.region, "timezone": i.timezone}
        for i in dataset.instances
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"Data {dataset.start_date} .. {dataset.end_date} (size {dataset.size}, seed {dataset.seed})")
    for row in rows:
        click.echo("  ".join(f"{row[k]:<{w}}" for k, w in
                             [("instance_id", 16), ("account_id", 22), ("marketplace_id", 15), ("region", 3),
                              ("timezone", 20), ("advertiser", 0)]).rstrip())


@sandbox.command()
@click.option("--size", type=click.Choice(SIZES), default=None, help="Synthetic data size (default AMC_SANDBOX_SIZE).")
@click.option("--seed", type=int, default=None, help="Seed of the synthetic data (default AMC_SANDBOX_SEED).")
def register(size: str | None, seed: int | None) -> None:
    """Register the sandbox's instances in the instance registry (idempotent).

    Like discovery against real AMC: an instance already registered keeps the operator's choices.
    """
    from amc_pipelines.db import database_url, get_engine, upgrade
    from amc_pipelines.registry import register_sandbox_instances

    dataset = _dataset(size, seed)
    url = database_url(get_settings())
    upgrade(url)
    for instance_id, outcome, advertiser in register_sandbox_instances(
            get_engine(url), dataset.instances, week_start=get_settings().week_start):
        click.echo(f"{instance_id}  {outcome:<9}  {advertiser}")


def _parse_param(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise click.BadParameter(f"{text!r}: write NAME=JSON, e.g. campaign_ids='[\"123\",\"456\"]' or min_impressions=100",
                                 param_hint="--param")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare word is a string: --param asin=B0ABCDEFGH
    return name.strip(), value


@sandbox.command("run-sql")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--start", required=True, type=click.DateTime([AMC_TIME_FORMAT]),
              help="Window start, local time in --timezone: YYYY-MM-DDTHH:MM:SS (no zone suffix).")
@click.option("--end", required=True, type=click.DateTime([AMC_TIME_FORMAT]),
              help="Window end (exclusive), same format.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone of the window, as timeWindowTimeZone.")
@click.option("--param", "params", multiple=True, metavar="NAME=JSON",
              help="A parameter value (repeatable); given parameters count as declared, typed by their JSON value.")
@click.option("--instance", "instance_id", default=None, help="Sandbox instance to query (default: the first; see `amc sandbox instances`).")
@click.option("--size", type=click.Choice(SIZES), default=None, help="Synthetic data size (default AMC_SANDBOX_SIZE).")
@click.option("--seed", type=int, default=None, help="Seed of the synthetic data (default AMC_SANDBOX_SEED).")
def run_sql(file: Path, start: datetime, end: datetime, timezone: str, params: tuple[str, ...],
            instance_id: str | None, size: str | None, seed: int | None) -> None:
    """Run an AMC SQL FILE in the sandbox exactly as an execution would; print the result CSV.

    A query AMC would reject exits with status 2 and AMC's reason on stderr.
    """
    from amc_pipelines.sandbox.sql import QueryFailed, QueryRejected, SqlEngine, run_sql_text
    from amc_pipelines.sandbox.sql.results import render_value

    values = dict(_parse_param(p) for p in params)
    dataset = _dataset(size, seed)
    if instance_id is None:
        instance_id = dataset.instances[0].instance_id
    else:
        try:
            dataset.instance(instance_id)
        except KeyError as err:
            raise click.BadParameter(str(err.args[0] if err.args else err), param_hint="--instance") from None
    try:
        result = run_sql_text(SqlEngine(dataset), file.read_text(), start, end, timezone, values, instance_id)
    except QueryRejected as err:
        click.echo(f"REJECTED: {err.reason}", err=True)
        sys.exit(2)
    except QueryFailed as err:
        click.echo(f"FAILED: {err.reason}", err=True)
        sys.exit(1)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([render_value(v) for v in row])
    if result.rows_removed:
        click.echo(f"{result.rows_removed} row(s) under AMC's aggregation thresholds were filtered.", err=True)
