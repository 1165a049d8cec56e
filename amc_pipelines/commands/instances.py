"""``amc instances``: register and manage the AMC instances whose reports are collected."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import click

from amc_pipelines.commands.db import CommandError, load_settings, migrated_url


@contextmanager
def _registry() -> Iterator[object]:
    """The engine of a migrated database; RegistryError becomes exit code 2 with its message."""
    from amc_pipelines.db import get_engine
    from amc_pipelines.registry import RegistryError

    engine = get_engine(migrated_url())
    try:
        yield engine
    except RegistryError as err:
        raise CommandError(str(err)) from None


def _lag(hours: int | None, default: int) -> str:
    return f"{hours}" if hours is not None else f"default ({default})"


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [headers, ["-" * width for width in widths], *rows]]
    return "\n".join(lines)


def _show(instance, default_lag: int) -> str:
    fields = [
        ("instance id", instance.instance_id),
        ("name", instance.name),
        ("account (entity id)", instance.account_id),
        ("marketplace", instance.marketplace_id),
        ("region", instance.region),
        ("time zone", instance.timezone),
        ("week start", instance.week_start),
        ("data lag hours", _lag(instance.data_lag_hours, default_lag)),
        ("enabled", "yes" if instance.enabled else "no"),
        ("source", instance.source),
        ("created", instance.created_at.isoformat(timespec="seconds")),
        ("updated", instance.updated_at.isoformat(timespec="seconds")),
    ]
    return "\n".join(f"{label + ':':<21}{value}" for label, value in fields)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def instances() -> None:
    """Register and manage AMC instances (each is a partition of every report)."""


@instances.command()
@click.argument("instance_id")
@click.option("--name", required=True, help="Readable name, e.g. the advertiser and country.")
@click.option("--account", "account_id", required=True, metavar="ENTITY_ID", help="AMC advertiser entity id, e.g. ENTITY1A2B3C4D5E6F.")
@click.option("--marketplace", "marketplace_id", required=True, metavar="MARKETPLACE_ID", help="e.g. ATVPDKIKX0DER (US).")
@click.option("--region", required=True, metavar="NA|EU|FE", help="AMC region of the instance.")
@click.option("--timezone", required=True, metavar="TZ", help="Advertiser IANA time zone, e.g. America/New_York.")
@click.option("--week-start", default=None, metavar="monday|sunday", help="First day of a reporting week [default: AMC_WEEK_START].")
@click.option("--data-lag-hours", default=None, metavar="N", help="Hours before a week's data counts as complete [default: AMC_DATA_LAG_HOURS].")
def add(instance_id: str, week_start: str | None, **fields: str) -> None:
    """Register instance INSTANCE_ID (e.g. amc1a2b3c4d5)."""
    from amc_pipelines.registry import InstanceSpec, add_instance

    settings = load_settings()
    with _registry() as engine:
        spec = InstanceSpec.parse(fields, instance_id=instance_id, week_start=week_start or settings.week_start)
        instance = add_instance(engine, spec)
    click.echo(f"added {instance.instance_id} ({instance.name})")


@instances.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--enabled-only", is_flag=True, help="Only instances that are enabled.")
def list_(as_json: bool, enabled_only: bool) -> None:
    """List registered instances."""
    from amc_pipelines.registry import list_instances

    settings = load_settings()
    with _registry() as engine:
        found = list_instances(engine, enabled_only=enabled_only)
    if as_json:
        click.echo(json.dumps([instance.model_dump(mode="json") for instance in found], indent=2))
        return
    if not found:
        click.echo("no instances registered: add one with `amc instances add`")
        return
    headers = ["ID", "NAME", "REGION", "MARKETPLACE", "TIME ZONE", "WEEK START", "LAG H", "ENABLED", "SOURCE"]
    rows = [
        [i.instance_id, i.name, i.region, i.marketplace_id, i.timezone, i.week_start,
         _lag(i.data_lag_hours, settings.data_lag_hours), "yes" if i.enabled else "no", i.source]
        for i in found
    ]
    click.echo(_table(rows, headers))


@instances.command()
@click.argument("instance_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(instance_id: str, as_json: bool) -> None:
    """Show one instance."""
    from amc_pipelines.registry import get_instance

    settings = load_settings()
    with _registry() as engine:
        instance = get_instance(engine, instance_id)
    click.echo(json.dumps(instance.model_dump(mode="json"), indent=2) if as_json else _show(instance, settings.data_lag_hours))


@instances.command()
@click.argument("instance_id")
def remove(instance_id: str) -> None:
    """Remove an instance from the registry (its loaded results stay)."""
    from amc_pipelines.registry import remove_instance

    with _registry() as engine:
        remove_instance(engine, instance_id)
    click.echo(f"removed {instance_id}")


@instances.command()
@click.argument("instance_id")
def enable(instance_id: str) -> None:
    """Enable an instance: its partitions are collected again."""
    from amc_pipelines.registry import enable_instance

    with _registry() as engine:
        enable_instance(engine, instance_id)
    click.echo(f"enabled {instance_id}")


@instances.command()
@click.argument("instance_id")
def disable(instance_id: str) -> None:
    """Disable an instance: no new runs for it; its loaded results stay."""
    from amc_pipelines.registry import disable_instance

    with _registry() as engine:
        disable_instance(engine, instance_id)
    click.echo(f"disabled {instance_id}")


@instances.command()
@click.option("--add", is_flag=True, help="Register the listed instances (new ones enabled; existing ones refreshed).")
@click.option("--timezone", default=None, metavar="TZ",
              help="Time zone for instances whose AMC answer has none, e.g. America/New_York.")
@click.option("--account", "account_id", default=None, metavar="ENTITY_ID", help="AMC account [default: AMC_ACCOUNT_ID].")
def discover(add: bool, timezone: str | None, account_id: str | None) -> None:
    """List the instances of the AMC account (GET /amc/instances); with --add, register them."""
    from amc_pipelines.amc.client import AmcClient
    from amc_pipelines.amc.errors import AmcConfigurationError, AmcError
    from amc_pipelines.registry import RegistryError, get_instance, spec_from_amc, upsert_discovered

    settings = load_settings()
    account_id = account_id or settings.account_id
    try:
        with AmcClient(settings) as client:
            found = client.list_instances(account_id=account_id)
    except AmcConfigurationError as err:
        raise CommandError(str(err)) from None
    except AmcError as err:
        raise click.ClickException(f"AMC did not list the instances: {err}") from None
    specs = []  # (spec, whether AMC gave its time zone); all validated before anything is registered
    for item in found:
        try:
            spec = spec_from_amc(item, account_id=account_id, marketplace_id=settings.marketplace_id,
                                 week_start=settings.week_start, default_timezone=timezone or (None if add else "UTC"))
        except RegistryError as err:
            raise CommandError(str(err)) from None
        specs.append((spec, bool(item.get("timeZone") or item.get("timezone"))))
    if not specs:
        click.echo(f"no instances in AMC account {account_id}")
        return
    with _registry() as engine:
        rows = []
        for spec, zone_from_amc in specs:
            if add:
                _, state = upsert_discovered(engine, spec)
            else:
                try:
                    get_instance(engine, spec.instance_id)
                    state = "registered"
                except RegistryError:
                    state = "not registered"
            zone = spec.timezone if zone_from_amc else f"{spec.timezone} (--timezone)" if timezone else "unknown"
            rows.append([spec.instance_id, spec.name, spec.region, spec.marketplace_id, zone, state])
    click.echo(_table(rows, ["ID", "NAME", "REGION", "MARKETPLACE", "TIME ZONE", "STATE"]))
    if not add:
        click.echo("register them with `amc instances discover --add`")
