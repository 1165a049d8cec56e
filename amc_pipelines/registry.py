"""The registry of AMC instances (table ``amc.instances``): validation and storage.

Domain logic only (no Dagster, no click). Every error a user can cause is a
:class:`RegistryError` whose message names the field and the fix; a failed call changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlalchemy import Engine, case, delete, func, literal_column, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert

from amc_pipelines.db.models import MAX_DATA_LAG_HOURS, REGIONS, WEEK_STARTS, instances
from amc_pipelines.params import check_time_zone

INSTANCE_ID_PATTERN = re.compile(r"^amc[a-z0-9]{8,16}$")
ACCOUNT_ID_PATTERN = re.compile(r"^ENTITY[A-Z0-9]{8,20}$")
MARKETPLACE_ID_PATTERN = re.compile(r"^[A-Z0-9]{10,14}$")

UpsertOutcome = Literal["created", "updated", "unchanged"]


class RegistryError(ValueError):
    """Bad input or an unknown/duplicate instance; the message says what to fix."""


class InstanceSpec(BaseModel):
    """What an operator (or discovery) says about an instance."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    instance_id: str
    name: str
    account_id: str
    marketplace_id: str
    region: str
    timezone: str
    week_start: str = "monday"
    data_lag_hours: int | None = None

    @field_validator("instance_id")
    @classmethod
    def _instance_id(cls, value: str) -> str:
        if not INSTANCE_ID_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not an AMC instance id: use 'amc' followed by 8-16 lowercase letters or digits, "
                "e.g. amc1a2b3c4d5"
            )
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value:
            raise ValueError("the name is empty: give the instance a readable name")
        if len(value) > 200:
            raise ValueError("the name is longer than 200 characters: shorten it")
        return value

    @field_validator("account_id")
    @classmethod
    def _account_id(cls, value: str) -> str:
        if not ACCOUNT_ID_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not an AMC advertiser entity id: use 'ENTITY' followed by 8-20 uppercase "
                "letters or digits, e.g. ENTITY1A2B3C4D5E6F"
            )
        return value

    @field_validator("marketplace_id")
    @classmethod
    def _marketplace_id(cls, value: str) -> str:
        if not MARKETPLACE_ID_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not a marketplace id: use 10-14 uppercase letters or digits, e.g. ATVPDKIKX0DER"
            )
        return value

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, value: Any) -> str:
        region = str(value).strip().upper()
        if region not in REGIONS:
            raise ValueError(f"unknown region {value!r}: use one of {', '.join(REGIONS)}")
        return region

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return check_time_zone(value)  # the project's one time-zone check (params)

    @field_validator("week_start", mode="before")
    @classmethod
    def _week_start(cls, value: Any) -> str:
        week_start = str(value).strip().lower()
        if week_start not in WEEK_STARTS:
            raise ValueError(f"{value!r} is not a week start: use monday or sunday")
        return week_start

    @field_validator("data_lag_hours", mode="before")
    @classmethod
    def _data_lag_hours(cls, value: Any) -> int | None:
        if value is None:
            return None
        try:
            hours = int(str(value).strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number of hours: use 0 to {MAX_DATA_LAG_HOURS}") from None
        if not 0 <= hours <= MAX_DATA_LAG_HOURS:
            raise ValueError(f"{hours} is out of range: use 0 to {MAX_DATA_LAG_HOURS} hours (omit it for the default)")
        return hours

    @classmethod
    def parse(cls, values: Mapping[str, Any] | None = None, /, **fields: Any) -> InstanceSpec:
        """Validate user input into a spec, raising :class:`RegistryError` (never ValidationError)."""
        data = {**(values or {}), **fields}
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise RegistryError(_describe(err)) from None


class Instance(InstanceSpec):
    """A registered instance: the spec plus its state."""

    enabled: bool
    source: Literal["manual", "discovered"]
    created_at: datetime
    updated_at: datetime


def _describe(err: ValidationError) -> str:
    messages = []
    for error in err.errors():
        field = ".".join(str(part) for part in error["loc"]) or "input"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "missing: it is required"
        elif error["type"] == "extra_forbidden":
            message = "is not a field of an instance: remove it"
        messages.append(f"{field}: {message}")
    return "; ".join(messages)


def _unknown(instance_id: str) -> RegistryError:
    return RegistryError(
        f"instance_id: no instance {instance_id!r} is registered: check the id with `amc instances list`"
    )


def add_instance(engine: Engine, spec: InstanceSpec, *, source: Literal["manual", "discovered"] = "manual") -> Instance:
    """Register a new instance; an existing id is an error (use :func:`upsert_discovered` to merge)."""
    statement = (
        insert(instances)
        .values(**spec.model_dump(), source=source)
        .on_conflict_do_nothing(index_elements=["instance_id"])
        .returning(*instances.c)
    )
    with engine.begin() as connection:
        row = connection.execute(statement).mappings().first()
    if row is None:
        raise RegistryError(
            f"instance_id: {spec.instance_id!r} is already registered: pick another id, or "
            f"`amc instances remove {spec.instance_id}` first"
        )
    return Instance.model_validate(dict(row))


def list_instances(engine: Engine, *, enabled_only: bool = False) -> list[Instance]:
    statement = select(instances).order_by(instances.c.instance_id)
    if enabled_only:
        statement = statement.where(instances.c.enabled)
    with engine.connect() as connection:
        return [Instance.model_validate(dict(row)) for row in connection.execute(statement).mappings()]


def get_instance(engine: Engine, instance_id: str) -> Instance:
    with engine.connect() as connection:
        row = connection.execute(select(instances).where(instances.c.instance_id == instance_id)).mappings().first()
    if row is None:
        raise _unknown(instance_id)
    return Instance.model_validate(dict(row))


def remove_instance(engine: Engine, instance_id: str) -> None:
    with engine.begin() as connection:
        removed = connection.execute(delete(instances).where(instances.c.instance_id == instance_id)).rowcount
    if not removed:
        raise _unknown(instance_id)


def enable_instance(engine: Engine, instance_id: str) -> Instance:
    return _set_enabled(engine, instance_id, True)


def disable_instance(engine: Engine, instance_id: str) -> Instance:
    return _set_enabled(engine, instance_id, False)


def _set_enabled(engine: Engine, instance_id: str, enabled: bool) -> Instance:
    statement = (
        update(instances)
        .where(instances.c.instance_id == instance_id)
        .values(
            enabled=enabled,
            # updated_at moves only when the flag actually changes
            updated_at=case((instances.c.enabled.is_distinct_from(enabled), func.now()), else_=instances.c.updated_at),
        )
        .returning(*instances.c)
    )
    with engine.begin() as connection:
        row = connection.execute(statement).mappings().first()
    if row is None:
        raise _unknown(instance_id)
    return Instance.model_validate(dict(row))


# Fields discovery refreshes from AMC; timezone, week start, data lag and enabled stay as the
# operator set them.
_DISCOVERED_FIELDS = ("name", "account_id", "marketplace_id", "region")


def upsert_discovered(engine: Engine, spec: InstanceSpec, *, enabled: bool = True) -> tuple[Instance, UpsertOutcome]:
    """Insert an instance found in the AMC account, or refresh its AMC-side fields.

    A new row gets ``source='discovered'`` and ``enabled``; an existing row (manual or discovered)
    keeps its source, enabled flag and operator choices (timezone, week start, data lag).
    """
    statement = insert(instances).values(**spec.model_dump(), source="discovered", enabled=enabled)
    changed = tuple_(*(instances.c[name] for name in _DISCOVERED_FIELDS)).is_distinct_from(
        tuple_(*(statement.excluded[name] for name in _DISCOVERED_FIELDS))
    )
    statement = statement.on_conflict_do_update(
        index_elements=["instance_id"],
        set_={**{name: statement.excluded[name] for name in _DISCOVERED_FIELDS}, "updated_at": func.now()},
        where=changed,
    ).returning(*instances.c, (literal_column("xmax") == 0).label("inserted"))
    with engine.begin() as connection:
        row = connection.execute(statement).mappings().first()
    if row is None:  # the conflict's WHERE was false: nothing differed
        return get_instance(engine, spec.instance_id), "unchanged"
    values = dict(row)
    outcome: UpsertOutcome = "created" if values.pop("inserted") else "updated"
    return Instance.model_validate(values), outcome


def amc_region(found: Mapping[str, Any]) -> str:
    """AMC's region of a listed instance: its own field, else the Amazon Ads host of its endpoint."""
    if found.get("region"):
        return str(found["region"])
    endpoint = str(found.get("apiEndpoint") or "")
    return "EU" if "-eu." in endpoint else "FE" if "-fe." in endpoint else "NA"


def spec_from_amc(found: Mapping[str, Any], *, account_id: str | None, marketplace_id: str, week_start: str,
                  default_timezone: str | None = None) -> InstanceSpec:
    """The registry spec of one ``GET /amc/instances`` entry (discovery: CLI and sensor alike).

    AMC's own time zone wins; ``default_timezone`` covers answers without one. RegistryError names
    the instance and what to fix.
    """
    instance_id = str(found.get("instanceId") or "?")
    zone = found.get("timeZone") or found.get("timezone") or default_timezone
    if not zone:
        raise RegistryError(f"instance {instance_id}: AMC's answer has no time zone; give one with "
                            "`amc instances discover --add --timezone ZONE`, e.g. America/New_York")
    try:
        return InstanceSpec.parse(
            instance_id=instance_id,
            name=found.get("instanceName") or found.get("customerCanonicalName") or instance_id,
            account_id=found.get("accountId") or account_id,
            marketplace_id=found.get("marketplaceId") or marketplace_id,
            region=amc_region(found), timezone=zone, week_start=week_start,
        )
    except RegistryError as err:
        raise RegistryError(f"instance {instance_id}: {err}") from None


def register_sandbox_instances(engine: Engine, instances: Iterable[Any], *, week_start: str) -> list[tuple[str, str, str]]:
    """Register the AMC sandbox's synthetic instances as discovery would register a real account's
    (an upsert that keeps the operator's choices); (instance id, upsert outcome, advertiser) each."""
    registered = []
    for inst in instances:
        _, outcome = upsert_discovered(engine, InstanceSpec.parse(
            instance_id=inst.instance_id, name=inst.advertiser, account_id=inst.account_id,
            marketplace_id=inst.marketplace_id, region=inst.region, timezone=inst.timezone, week_start=week_start))
        registered.append((inst.instance_id, outcome, inst.advertiser))
    return registered
