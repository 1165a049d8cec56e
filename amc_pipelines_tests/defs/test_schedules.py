"""Report and settle schedules evaluated tick by tick on a real Dagster instance and registry."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg

from amc_pipelines.definitions import defs
from amc_pipelines.defs.instances import amc_instances_partitions
from amc_pipelines.defs.resources import DatabaseResource

REPORT = "campaign_performance"  # cron "0 6 * * 2": Tuesdays 06:00 in each instance's time zone
LA, BERLIN, SUNDAY, DISABLED = "amclosangeles01", "amcberlin00001", "amcsundayweek01", "amcdisabled0001"


def _tick(schedule: dg.ScheduleDefinition, instance: dg.DagsterInstance, database: DatabaseResource, at: datetime):
    """One tick as the daemon evaluates it (run requests checked against the code location's partitions)."""
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=at, resources={"database": database},
                                        repository_def=defs.get_repository_def())
    return schedule.evaluate_tick(context)


def test_each_instance_gets_each_new_week_once_at_its_local_tuesday_six(registry_db) -> None:
    from amc_pipelines.registry import disable_instance

    registry_db.add(LA, "America/Los_Angeles")
    registry_db.add(BERLIN, "Europe/Berlin")
    registry_db.add(SUNDAY, "America/New_York", week_start="sunday")  # cannot use the Monday week dimension
    registry_db.add(DISABLED, "UTC")
    disable_instance(registry_db.engine, DISABLED)
    schedule = defs.get_repository_def().get_schedule_def(f"{REPORT}_schedule")
    database = DatabaseResource(url=registry_db.url)
    # Every hour of two Tuesdays (UTC); test_scheduling sweeps three whole weeks of ticks in the domain function.
    ticks = [day + timedelta(hours=hour) for day in (datetime(2026, 10, 27, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
             for hour in range(24)]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(amc_instances_partitions.name, [LA, BERLIN, SUNDAY, DISABLED])
        keys_by_tick: dict[datetime, list[str]] = {}
        for at in ticks:
            data = _tick(schedule, instance, database, at)
            keys_by_tick[at] = [request.run_key for request in data.run_requests or []]
            for request in data.run_requests or []:
                report, instance_id, week = request.run_key.split("|")
                assert request.partition_key == dg.MultiPartitionKey({"week": week, "instance": instance_id})
        # A retried tick asks for exactly the same run keys (Dagster launches each key once per tick).
        la_tick = datetime(2026, 11, 3, 14, tzinfo=UTC)  # Tuesday 06:00 PST
        assert [r.run_key for r in _tick(schedule, instance, database, la_tick).run_requests] == keys_by_tick[la_tick]

    fired = {at: keys for at, keys in keys_by_tick.items() if keys}
    every_key = [key for keys in fired.values() for key in keys]
    assert len(every_key) == len(set(every_key)), Counter(every_key).most_common(3)  # no partition twice
    # Tuesday 06:00 local: Berlin 05:00 UTC (CET), Los Angeles 13:00 UTC (PDT), 14:00 after Nov 1 (PST).
    # The newest collectable week then is the one before last: last week's data completes Wednesday 00:00.
    assert fired == {
        datetime(2026, 10, 27, 5, tzinfo=UTC): [f"{REPORT}|{BERLIN}|2026-10-12"],
        datetime(2026, 10, 27, 13, tzinfo=UTC): [f"{REPORT}|{LA}|2026-10-12"],
        datetime(2026, 11, 3, 5, tzinfo=UTC): [f"{REPORT}|{BERLIN}|2026-10-19"],
        datetime(2026, 11, 3, 14, tzinfo=UTC): [f"{REPORT}|{LA}|2026-10-19"],
    }


def test_an_instance_not_yet_in_the_partitions_is_left_for_the_next_week(registry_db) -> None:
    registry_db.add(BERLIN, "Europe/Berlin")
    schedule = defs.get_repository_def().get_schedule_def(f"{REPORT}_schedule")
    with dg.instance_for_test() as instance:  # the instance sync has not added Berlin yet
        data = _tick(schedule, instance, DatabaseResource(url=registry_db.url), datetime(2026, 11, 10, 5, tzinfo=UTC))
    assert not data.run_requests and data.skip_message


def test_the_settle_schedule_recollects_settled_provisional_weeks_once(registry_db, clock) -> None:
    from amc_pipelines.params import latest_collectable_week

    registry_db.add(BERLIN, "Europe/Berlin")
    now = clock.now()
    latest = latest_collectable_week(now=now, timezone="Europe/Berlin", week_start="monday", data_lag_hours=48)
    settled, still_provisional, final = (latest - timedelta(weeks=n) for n in (6, 1, 8))
    loaded = ["SUBMITTED", "SUCCEEDED", "LOADED"]
    registry_db.record(REPORT, BERLIN, settled.isoformat(), loaded, amc_execution_id="exec-settled", provisional=True)
    registry_db.record(REPORT, BERLIN, still_provisional.isoformat(), loaded, amc_execution_id="exec-young",
                       provisional=True)
    registry_db.record(REPORT, BERLIN, final.isoformat(), loaded, amc_execution_id="exec-final")
    schedule = defs.get_repository_def().get_schedule_def("amc_settle_schedule")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(amc_instances_partitions.name, [BERLIN])
        data = _tick(schedule, instance, DatabaseResource(url=registry_db.url), now)
    (request,) = data.run_requests
    assert request.run_key == f"{REPORT}|{BERLIN}|{settled.isoformat()}|settled"
    assert request.partition_key == dg.MultiPartitionKey({"week": settled.isoformat(), "instance": BERLIN})
    assert request.asset_selection == [dg.AssetKey(["amc", REPORT])]
