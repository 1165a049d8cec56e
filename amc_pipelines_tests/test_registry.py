"""The instance registry against a real database: validation, errors, and that bad input changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from amc_pipelines.registry import (
    InstanceSpec,
    RegistryError,
    add_instance,
    disable_instance,
    enable_instance,
    get_instance,
    list_instances,
    remove_instance,
    upsert_discovered,
)

VALID = {
    "instance_id": "amc1a2b3c4d5",
    "name": "Acme US",
    "account_id": "ENTITY1A2B3C4D5E6F",
    "marketplace_id": "ATVPDKIKX0DER",
    "region": "NA",
    "timezone": "America/New_York",
}


@pytest.fixture
def engine(db_engine: Engine) -> Engine:
    with db_engine.begin() as connection:
        connection.execute(text("TRUNCATE amc.instances"))
    return db_engine


def _rows(engine: Engine) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text("SELECT * FROM amc.instances ORDER BY instance_id"))]


def test_add_get_list(engine: Engine) -> None:
    added = add_instance(engine, InstanceSpec.parse(VALID, region="eu", week_start="Sunday", data_lag_hours="72"))
    assert (added.region, added.week_start, added.data_lag_hours) == ("EU", "sunday", 72)
    assert (added.enabled, added.source) == (True, "manual")
    assert added.created_at.tzinfo is not None
    assert get_instance(engine, "amc1a2b3c4d5") == added
    add_instance(engine, InstanceSpec.parse(VALID, instance_id="amc0000000001", data_lag_hours=None))
    assert [i.instance_id for i in list_instances(engine)] == ["amc0000000001", "amc1a2b3c4d5"]
    assert get_instance(engine, "amc0000000001").data_lag_hours is None


def test_enable_disable_and_enabled_only_listing(engine: Engine) -> None:
    add_instance(engine, InstanceSpec.parse(VALID))
    add_instance(engine, InstanceSpec.parse(VALID, instance_id="amc0000000001"))
    disabled = disable_instance(engine, "amc1a2b3c4d5")
    assert disabled.enabled is False and disabled.updated_at >= disabled.created_at
    assert [i.instance_id for i in list_instances(engine, enabled_only=True)] == ["amc0000000001"]
    again = disable_instance(engine, "amc1a2b3c4d5")
    assert again.updated_at == disabled.updated_at  # no change, no new timestamp
    assert enable_instance(engine, "amc1a2b3c4d5").enabled is True
    assert len(list_instances(engine, enabled_only=True)) == 2


def test_remove(engine: Engine) -> None:
    add_instance(engine, InstanceSpec.parse(VALID))
    remove_instance(engine, "amc1a2b3c4d5")
    assert list_instances(engine) == []


BAD_INPUT = [
    ({"instance_id": "AMC1A2B3C4D5"}, "instance_id: 'AMC1A2B3C4D5' is not an AMC instance id: use 'amc' followed by 8-16"),
    ({"instance_id": "amc123"}, "instance_id: 'amc123' is not an AMC instance id"),
    ({"account_id": "1234567890"}, "account_id: '1234567890' is not an AMC advertiser entity id: use 'ENTITY' followed by"),
    ({"marketplace_id": "us"}, "marketplace_id: 'us' is not a marketplace id: use 10-14 uppercase letters or digits, e.g. ATVPDKIKX0DER"),
    ({"region": "APAC"}, "region: unknown region 'APAC': use one of NA, EU, FE"),
    ({"timezone": "America/NewYork"}, "timezone: unknown time zone 'America/NewYork': did you mean 'America/New_York'?"),
    ({"timezone": "europe/berlin"}, "timezone: unknown time zone 'europe/berlin': did you mean 'Europe/Berlin'?"),
    ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone 'Mars/Olympus':"),
    ({"week_start": "friday"}, "week_start: 'friday' is not a week start: use monday or sunday"),
    ({"data_lag_hours": -1}, "data_lag_hours: -1 is out of range: use 0 to 720 hours"),
    ({"data_lag_hours": 721}, "data_lag_hours: 721 is out of range"),
    ({"data_lag_hours": "two days"}, "data_lag_hours: 'two days' is not a whole number of hours: use 0 to 720"),
    ({"name": "  "}, "name: the name is empty"),
    ({"colour": "blue"}, "colour: is not a field of an instance: remove it"),
]


@pytest.mark.parametrize(("change", "message"), BAD_INPUT, ids=[next(iter(c)) + "-" + str(next(iter(c.values()))) for c, _ in BAD_INPUT])
def test_bad_input_is_refused_with_a_fix_and_changes_nothing(engine: Engine, change: dict, message: str) -> None:
    add_instance(engine, InstanceSpec.parse(VALID, instance_id="amc0000000001"))
    before = _rows(engine)
    with pytest.raises(RegistryError) as caught:
        add_instance(engine, InstanceSpec.parse(VALID, **change))
    assert str(caught.value).startswith(message)
    assert _rows(engine) == before


def test_missing_field_is_named() -> None:
    values = dict(VALID)
    del values["timezone"]
    with pytest.raises(RegistryError, match="^timezone: missing: it is required$"):
        InstanceSpec.parse(values)


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(RegistryError) as caught:
        InstanceSpec.parse(VALID, region="x", week_start="y")
    assert "region: unknown region 'x'" in str(caught.value)
    assert "week_start: 'y' is not a week start" in str(caught.value)


def test_duplicate_id_is_refused_and_changes_nothing(engine: Engine) -> None:
    add_instance(engine, InstanceSpec.parse(VALID))
    before = _rows(engine)
    with pytest.raises(RegistryError, match=r"^instance_id: 'amc1a2b3c4d5' is already registered: pick another id"):
        add_instance(engine, InstanceSpec.parse(VALID, name="Other"))
    assert _rows(engine) == before


@pytest.mark.parametrize("operation", [get_instance, remove_instance, enable_instance, disable_instance])
def test_unknown_id_is_refused_and_changes_nothing(engine: Engine, operation) -> None:
    add_instance(engine, InstanceSpec.parse(VALID))
    before = _rows(engine)
    with pytest.raises(RegistryError, match=r"^instance_id: no instance 'amc9999999999' is registered: check the id"):
        operation(engine, "amc9999999999")
    assert _rows(engine) == before


def test_upsert_discovered_creates_refreshes_and_keeps_operator_choices(engine: Engine) -> None:
    found = InstanceSpec.parse(VALID, name="Acme (AMC)")
    created, outcome = upsert_discovered(engine, found)
    assert outcome == "created" and created.source == "discovered" and created.enabled

    disable_instance(engine, found.instance_id)
    with engine.begin() as connection:  # the operator corrects the time zone
        connection.execute(text("UPDATE amc.instances SET timezone = 'America/Chicago', data_lag_hours = 24"))
    unchanged, outcome = upsert_discovered(engine, found)
    assert outcome == "unchanged"

    renamed, outcome = upsert_discovered(engine, InstanceSpec.parse(VALID, name="Acme Renamed", region="eu"))
    assert outcome == "updated"
    assert (renamed.name, renamed.region) == ("Acme Renamed", "EU")
    assert (renamed.timezone, renamed.data_lag_hours, renamed.enabled) == ("America/Chicago", 24, False)
    assert renamed.updated_at >= unchanged.updated_at


def test_upsert_keeps_a_manual_source(engine: Engine) -> None:
    add_instance(engine, InstanceSpec.parse(VALID))
    instance, outcome = upsert_discovered(engine, InstanceSpec.parse(VALID, name="From AMC"))
    assert outcome == "updated" and instance.source == "manual" and instance.name == "From AMC"


def test_upsert_can_add_new_instances_disabled(engine: Engine) -> None:
    instance, _ = upsert_discovered(engine, InstanceSpec.parse(VALID), enabled=False)
    assert instance.enabled is False
