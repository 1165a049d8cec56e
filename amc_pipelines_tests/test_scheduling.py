"""Which partitions schedules, the settle schedule and the execution sensor pick (Dagster-free)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from amc_pipelines.catalog import load_catalog
from amc_pipelines.catalog.definitions import load_definitions
from amc_pipelines.registry import Instance
from amc_pipelines.scheduling import (
    cron_fire_in,
    discovered_instance_specs,
    partition_weeks_start,
    scheduled_partitions,
    week_day_offset,
    week_start_mismatch,
)
from amc_pipelines.settings import Settings

CATALOG = load_catalog(check_sql=False)
DEFINITIONS = load_definitions(CATALOG)
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
SETTINGS = Settings.from_env({})


def _instance(instance_id: str, timezone: str, *, week_start: str = "monday", enabled: bool = True,
              data_lag_hours: int | None = None) -> Instance:
    return Instance(instance_id=instance_id, name=instance_id, account_id="ENTITY1A2B3C4D5E",
                    marketplace_id="ATVPDKIKX0DER", region="NA", timezone=timezone, week_start=week_start,
                    data_lag_hours=data_lag_hours, enabled=enabled, source="manual", created_at=NOW, updated_at=NOW)


def _sweep(report, instances, *, hours: int, start: datetime = datetime(2026, 10, 26, tzinfo=UTC)):
    requested = []
    for hour in range(hours):
        tick = start + timedelta(hours=hour)
        wanted, _ = scheduled_partitions(report, instances, SETTINGS, tick=tick, previous_tick=tick - timedelta(hours=1),
                                         first_week=date(2025, 1, 6))
        requested += [(tick, p) for p in wanted]
    return requested


def test_a_weekly_cron_fires_once_a_week_in_each_instances_own_zone() -> None:
    instances = [_instance("amctokyo000001", "Asia/Tokyo"), _instance("amcnewyork0001", "America/New_York"),
                 _instance("amcoff00000001", "UTC", enabled=False),
                 _instance("amcslow0000001", "UTC", data_lag_hours=24 * 9)]
    requested = _sweep(DEFINITIONS["campaign_performance"], instances, hours=21 * 24)
    assert Counter(p.run_key for _, p in requested).most_common(1)[0][1] == 1
    tokyo = [(tick, p.week) for tick, p in requested if p.instance_id == "amctokyo000001"]
    # Tuesday 06:00 JST is Monday 21:00 UTC; the newest week complete 48 h after its end is the one before last.
    assert tokyo == [(datetime(2026, 10, 26, 21, tzinfo=UTC), date(2026, 10, 12)),
                     (datetime(2026, 11, 2, 21, tzinfo=UTC), date(2026, 10, 19)),
                     (datetime(2026, 11, 9, 21, tzinfo=UTC), date(2026, 10, 26))]
    assert [p.week for _, p in requested if p.instance_id == "amcnewyork0001"] == [
        date(2026, 10, 12), date(2026, 10, 19), date(2026, 10, 26)]
    assert not [p for _, p in requested if p.instance_id == "amcoff00000001"]
    # A 9-day lag: the Tuesday fire finds a week older by one more.
    assert [p.week for _, p in requested if p.instance_id == "amcslow0000001"] == [
        date(2026, 10, 5), date(2026, 10, 12), date(2026, 10, 19)]


def test_a_daily_cron_asks_for_each_new_week_only_once() -> None:
    report = DEFINITIONS["new_to_brand"].model_copy(update={"schedule": DEFINITIONS["new_to_brand"].schedule.model_copy(
        update={"cron": "30 7 * * *"})})
    requested = _sweep(report, [_instance("amcberlin00001", "Europe/Berlin")], hours=21 * 24)
    weeks = [p.week for _, p in requested]
    assert weeks == sorted(set(weeks)) and len(weeks) == 3
    # Each week is asked for on the first morning it is complete: Wednesday 07:30 CET, seen by the 07:00 UTC tick.
    assert {(tick.weekday(), tick.hour) for tick, _ in requested} == {(2, 7)}


def test_a_retried_tick_asks_for_the_same_partitions() -> None:
    instances = [_instance("amcberlin00001", "Europe/Berlin")]
    tick = datetime(2026, 11, 3, 5, tzinfo=UTC)
    runs = [scheduled_partitions(DEFINITIONS["campaign_performance"], instances, SETTINGS, tick=tick,
                                 previous_tick=tick - timedelta(hours=1), first_week=date(2025, 1, 6))[0]
            for _ in range(2)]
    assert runs[0] == runs[1] and [p.run_key for p in runs[0]] == ["campaign_performance|amcberlin00001|2026-10-19"]
    assert runs[0][0].settled_run_key == "campaign_performance|amcberlin00001|2026-10-19|settled"


def test_an_instance_with_another_week_start_is_skipped_with_the_fix() -> None:
    sunday = _instance("amcsunday00001", "America/Chicago", week_start="sunday")
    tick = datetime(2026, 11, 3, 12, tzinfo=UTC)  # Tuesday 06:00 CST
    wanted, skipped = scheduled_partitions(DEFINITIONS["campaign_performance"], [sunday], SETTINGS, tick=tick,
                                           previous_tick=tick - timedelta(hours=1), first_week=date(2025, 1, 6))
    assert not wanted
    (reason,) = skipped
    assert "AMC_WEEK_START=sunday" in reason.reason and reason.reason == week_start_mismatch(sunday, SETTINGS)


@pytest.mark.parametrize(("until", "fires"), [("2026-11-03T06:00:00+01:00", True), ("2026-11-03T05:59:59+01:00", False),
                                              ("2026-11-03T06:59:59+01:00", True), ("2026-11-03T07:00:00+01:00", False)])
def test_cron_fire_in_counts_the_end_of_the_period_not_its_start(until: str, fires: bool) -> None:
    end = datetime.fromisoformat(until)
    fire = cron_fire_in("0 6 * * 2", "Europe/Berlin", after=end - timedelta(hours=1), until=end)
    assert (fire == datetime(2026, 11, 3, 5, tzinfo=UTC)) if fires else fire is None


def test_the_week_dimension_starts_at_the_oldest_retained_week() -> None:
    first = partition_weeks_start(SETTINGS, now=NOW)
    assert first.weekday() == 0 and date(2025, 10, 23) <= first < date(2025, 10, 30)
    sunday = Settings.from_env({"AMC_WEEK_START": "sunday"})
    assert partition_weeks_start(sunday, now=NOW).weekday() == 6
    assert (week_day_offset("monday"), week_day_offset("sunday")) == (1, 0)


def test_discovered_instances_become_specs_or_say_why_not() -> None:
    found = [
        {"instanceId": "amcfound000001", "instanceName": "Brand (US)", "accountId": "ENTITY1A2B3C4D5E",
         "marketplaceId": "ATVPDKIKX0DER", "apiEndpoint": "https://advertising-api.amazon.com",
         "timeZone": "America/New_York"},
        {"instanceId": "amcnozone00001", "apiEndpoint": "https://advertising-api-eu.amazon.com"},
        {"instanceId": "NOT-AN-ID", "timeZone": "UTC"},
    ]
    specs, skipped = discovered_instance_specs(found, SETTINGS, account_id="ENTITY9Z8Y7X6W5V")
    (spec,) = specs
    assert (spec.instance_id, spec.region, spec.timezone, spec.week_start) == (
        "amcfound000001", "NA", "America/New_York", "monday")
    reasons = {s.instance_id: s.reason for s in skipped}
    assert set(reasons) == {"amcnozone00001", "NOT-AN-ID"}
    assert "AMC's answer has no time zone" in reasons["amcnozone00001"]
    assert "instance_id" in reasons["NOT-AN-ID"]
    specs, _ = discovered_instance_specs(found[1:2], SETTINGS, account_id="ENTITY9Z8Y7X6W5V", default_timezone="UTC")
    assert (specs[0].region, specs[0].account_id) == ("EU", "ENTITY9Z8Y7X6W5V")


def test_a_definitions_own_schedule_and_instances_decide_its_runs(tmp_path) -> None:
    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "acme.yaml").write_text(
        "name: acme_hero_asins\ntemplate: asin_performance\ndescription: Acme.\nparameters: {asins: [B0ABCDEFGH]}\n"
        "instances: [amctokyo000001]\nschedule: {cron: '0 9 * * 3'}\n")
    definitions = load_definitions(CATALOG, tmp_path)
    instances = [_instance("amctokyo000001", "Asia/Tokyo"), _instance("amcnewyork0001", "America/New_York")]
    acme = _sweep(definitions["acme_hero_asins"], instances, hours=14 * 24)
    template = _sweep(definitions["asin_performance"], instances, hours=14 * 24)
    # Its own cron (Wednesdays 09:00 JST = Wednesday 00:00 UTC), its own instance, its own asset's run keys.
    assert [(tick, p.instance_id) for tick, p in acme] == [
        (datetime(2026, 10, 28, 0, tzinfo=UTC), "amctokyo000001"), (datetime(2026, 11, 4, 0, tzinfo=UTC), "amctokyo000001")]
    assert {p.report for _, p in acme} == {"acme_hero_asins"} and {p.report for _, p in template} == {"asin_performance"}
    assert len(template) == 4  # the template's implicit definition still runs on both instances
    # Run keys are unique per (definition, instance, week), also where the template asks for the same week.
    assert {(p.instance_id, p.week) for _, p in acme} & {(p.instance_id, p.week) for _, p in template}
    keys = [p.run_key for _, p in acme + template]
    assert len(keys) == len(set(keys))
