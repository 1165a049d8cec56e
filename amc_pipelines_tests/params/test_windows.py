"""Calendar weeks, explicit windows, DST, the data-lag, retention and settle rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from amc_pipelines.params import (
    TimeWindow,
    WindowError,
    add_months,
    check_collectable,
    check_time_zone,
    earliest_retained_week,
    explicit_window,
    is_provisional,
    latest_collectable_week,
    week_start_of,
    week_window,
)

NY, BERLIN = "America/New_York", "Europe/Berlin"


def at(text: str, zone: str) -> datetime:
    """An aware instant from local wall time in ``zone``."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


@pytest.mark.parametrize(
    ("day", "week_start", "expected"),
    [
        (date(2026, 1, 5), "monday", date(2026, 1, 5)),  # a Monday
        (date(2026, 1, 11), "monday", date(2026, 1, 5)),  # the Sunday after it
        (date(2026, 1, 11), "sunday", date(2026, 1, 11)),
        (date(2026, 1, 10), "sunday", date(2026, 1, 4)),  # a Saturday
        (date(2026, 1, 7), "Monday", date(2026, 1, 5)),
        # Year boundaries: 2027-01-01 is a Friday, 2026-01-01 a Thursday.
        (date(2027, 1, 1), "monday", date(2026, 12, 28)),
        (date(2027, 1, 1), "sunday", date(2026, 12, 27)),
        (date(2026, 1, 1), "monday", date(2025, 12, 29)),
        (date(2026, 1, 1), "sunday", date(2025, 12, 28)),
        (date(2027, 1, 3), "sunday", date(2027, 1, 3)),
        (date(2027, 1, 3), "monday", date(2026, 12, 28)),
        # Leap day 2028-02-29 is a Tuesday.
        (date(2028, 2, 29), "monday", date(2028, 2, 28)),
        (date(2028, 2, 29), "sunday", date(2028, 2, 27)),
    ],
)
def test_week_start_of(day, week_start, expected):
    assert week_start_of(day, week_start) == expected


def test_every_day_of_a_week_maps_to_its_first_day():
    for offset in range(7):
        assert week_start_of(date(2026, 3, 2) + timedelta(days=offset), "monday") == date(2026, 3, 2)
        assert week_start_of(date(2026, 3, 1) + timedelta(days=offset), "sunday") == date(2026, 3, 1)


@pytest.mark.parametrize(
    ("week", "week_start", "zone", "amc_start", "amc_end", "hours"),
    [
        ("2026-01-05", "monday", NY, "2026-01-05T00:00:00", "2026-01-12T00:00:00", 168),
        ("2026-01-04", "sunday", NY, "2026-01-04T00:00:00", "2026-01-11T00:00:00", 168),
        # New York springs forward on Sunday 2026-03-08 and falls back on Sunday 2026-11-01.
        ("2026-03-02", "monday", NY, "2026-03-02T00:00:00", "2026-03-09T00:00:00", 167),
        ("2026-03-08", "sunday", NY, "2026-03-08T00:00:00", "2026-03-15T00:00:00", 167),
        ("2026-03-09", "monday", NY, "2026-03-09T00:00:00", "2026-03-16T00:00:00", 168),
        ("2026-10-26", "monday", NY, "2026-10-26T00:00:00", "2026-11-02T00:00:00", 169),
        ("2026-11-01", "sunday", NY, "2026-11-01T00:00:00", "2026-11-08T00:00:00", 169),
        ("2026-10-25", "sunday", NY, "2026-10-25T00:00:00", "2026-11-01T00:00:00", 168),
        # Berlin: Sunday 2026-03-29 and Sunday 2026-10-25.
        ("2026-03-23", "monday", BERLIN, "2026-03-23T00:00:00", "2026-03-30T00:00:00", 167),
        ("2026-03-29", "sunday", BERLIN, "2026-03-29T00:00:00", "2026-04-05T00:00:00", 167),
        ("2026-10-19", "monday", BERLIN, "2026-10-19T00:00:00", "2026-10-26T00:00:00", 169),
        ("2026-10-25", "sunday", BERLIN, "2026-10-25T00:00:00", "2026-11-01T00:00:00", 169),
        ("2026-03-22", "sunday", BERLIN, "2026-03-22T00:00:00", "2026-03-29T00:00:00", 168),
        ("2026-03-02", "monday", "UTC", "2026-03-02T00:00:00", "2026-03-09T00:00:00", 168),
        # Across the year boundary.
        ("2026-12-28", "monday", NY, "2026-12-28T00:00:00", "2027-01-04T00:00:00", 168),
        ("2026-12-27", "sunday", NY, "2026-12-27T00:00:00", "2027-01-03T00:00:00", 168),
        ("2028-02-28", "monday", "UTC", "2028-02-28T00:00:00", "2028-03-06T00:00:00", 168),
    ],
)
def test_week_windows_in_local_wall_time(week, week_start, zone, amc_start, amc_end, hours):
    window = week_window(date.fromisoformat(week), timezone=zone, week_start=week_start)
    assert (window.amc_start(), window.amc_end()) == (amc_start, amc_end)
    assert window.duration == timedelta(hours=hours)
    assert window.end_utc - window.start_utc == timedelta(hours=hours)
    assert window.week_start == date.fromisoformat(week)
    assert window == week_window(week, timezone=zone, week_start=week_start)  # a 'YYYY-MM-DD' string works too


def test_utc_bounds_follow_the_zone_offset_on_each_side_of_dst():
    window = week_window(date(2026, 3, 2), timezone=NY, week_start="monday")
    assert window.start_utc == datetime(2026, 3, 2, 5, tzinfo=UTC)  # EST, UTC-5
    assert window.end_utc == datetime(2026, 3, 9, 4, tzinfo=UTC)  # EDT, UTC-4
    assert window.start_utc.tzinfo is not None and window.start.tzinfo is None
    assert str(window) == "2026-03-02T00:00:00 to 2026-03-09T00:00:00 (America/New_York)"


@pytest.mark.parametrize(
    ("week", "week_start", "message"),
    [
        (date(2026, 1, 7), "monday",
         "2026-01-07 is a Wednesday, but weeks start on monday here: use 2026-01-05 (the week holding it) or 2026-01-12"),
        (date(2026, 1, 5), "sunday",
         "2026-01-05 is a Monday, but weeks start on sunday here: use 2026-01-04 (the week holding it) or 2026-01-11"),
        (date(2027, 1, 1), "monday", "use 2026-12-28 (the week holding it) or 2027-01-04"),
        ("2026/01/05", "monday", "week '2026/01/05' is not a date: use YYYY-MM-DD"),
        ("2026-02-30", "monday", "week '2026-02-30' is not a real calendar date"),
        (datetime(2026, 1, 5, 0, 0), "monday", "week must be a date, not a datetime (2026-01-05T00:00:00): use 2026-01-05"),
        (date(2026, 1, 5), "tuesday", "week start 'tuesday' is not valid: use 'monday' or 'sunday'"),
    ],
)
def test_bad_weeks(week, week_start, message):
    with pytest.raises(WindowError) as caught:
        week_window(week, timezone=NY, week_start=week_start)
    assert str(caught.value) == message or message in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "window",
    [
        TimeWindow(datetime(2026, 1, 5), datetime(2026, 1, 13), "UTC"),  # 8 days
        TimeWindow(datetime(2026, 1, 7), datetime(2026, 1, 14), "UTC"),  # starts on a Wednesday
        TimeWindow(datetime(2026, 1, 5, 6), datetime(2026, 1, 12, 6), "UTC"),  # not at midnight
        TimeWindow(datetime(2026, 1, 5), datetime(2026, 1, 6), "UTC"),  # one day
    ],
)
def test_week_start_is_none_for_other_windows(window):
    assert window.week_start is None


def test_week_start_is_set_for_a_window_built_explicitly_over_a_week():
    assert explicit_window("2026-01-04", "2026-01-11", timezone=NY).week_start == date(2026, 1, 4)


@pytest.mark.parametrize(
    ("start", "end", "amc_start", "amc_end"),
    [
        ("2026-01-05", "2026-01-12", "2026-01-05T00:00:00", "2026-01-12T00:00:00"),
        ("2026-01-05T06:30:00", "2026-01-05T18:00:00", "2026-01-05T06:30:00", "2026-01-05T18:00:00"),
        ("2026-01-05", "2026-01-05T00:00:01", "2026-01-05T00:00:00", "2026-01-05T00:00:01"),
        (date(2028, 2, 29), date(2028, 3, 1), "2028-02-29T00:00:00", "2028-03-01T00:00:00"),
        (" 2026-12-31 ", "2027-01-01", "2026-12-31T00:00:00", "2027-01-01T00:00:00"),
    ],
)
def test_explicit_windows(start, end, amc_start, amc_end):
    window = explicit_window(start, end, timezone=BERLIN)
    assert (window.amc_start(), window.amc_end(), window.timezone) == (amc_start, amc_end, BERLIN)


@pytest.mark.parametrize(
    ("start", "end", "zone", "message"),
    [
        ("2026-01-12", "2026-01-05", NY,
         "end 2026-01-05T00:00:00 is not after start 2026-01-12T00:00:00: give an end later than the start"),
        ("2026-01-05", "2026-01-05", NY, "end 2026-01-05T00:00:00 is not after start 2026-01-05T00:00:00"),
        ("2026-01-05T00:00:00Z", "2026-01-12", NY,
         "start '2026-01-05T00:00:00Z' has a time zone suffix: give local wall time, e.g. 2026-01-05T00:00:00"),
        ("2026-01-05", "2026-01-12T00:00:00+01:00", NY, "end '2026-01-12T00:00:00+01:00' has a time zone suffix"),
        ("2026/01/05", "2026-01-12", NY, "start '2026/01/05' is not a date or time: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"),
        ("2026-01-05 00:00", "2026-01-12", NY, "start '2026-01-05 00:00' is not a date or time"),
        ("2026-01-05", "2026-02-30", NY, "end '2026-02-30' is not a real calendar date and time"),
        ("2026-01-05", "2026-01-12", "America/New_Yrok",
         "unknown time zone 'America/New_Yrok': did you mean 'America/New_York'? use an IANA name"),
        ("2026-01-05", "2026-01-12", "EST5", "unknown time zone 'EST5'"),
    ],
)
def test_bad_explicit_windows(start, end, zone, message):
    with pytest.raises(WindowError) as caught:
        explicit_window(start, end, timezone=zone)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": datetime(2026, 1, 5, tzinfo=UTC), "end": datetime(2026, 1, 6)}, "carries a time zone"),
        ({"start": datetime(2026, 1, 5), "end": datetime(2026, 1, 6, 0, 0, 0, 1)}, "has fractions of a second"),
        ({"start": "2026-01-05", "end": datetime(2026, 1, 6)}, "window start must be a datetime"),
        ({"start": datetime(2026, 1, 6), "end": datetime(2026, 1, 5)}, "is not after its start"),
        ({"start": datetime(2026, 1, 5), "end": datetime(2026, 1, 6), "timezone": "Mars/Olympus"},
         "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_time_window_refuses_bad_bounds(kwargs, message):
    with pytest.raises(WindowError, match=message):
        TimeWindow(**{"timezone": "UTC", **kwargs})


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("europe/berlin", "did you mean 'Europe/Berlin'?"),
        ("Europe/Berlim", "did you mean 'Europe/Berlin'?"),
        ("US/Eastern ", "unknown time zone 'US/Eastern '"),
        ("", "unknown time zone ''"),
    ],
)
def test_unknown_time_zones_are_named_with_a_suggestion(name, message):
    with pytest.raises(WindowError, match=message.replace("?", r"\?")):
        check_time_zone(name)
    assert check_time_zone("Asia/Kolkata") == "Asia/Kolkata"


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2028, 3, 31), -1, date(2028, 2, 29)),
        (date(2029, 3, 29), -13, date(2028, 2, 29)),
        (date(2029, 2, 28), -12, date(2028, 2, 28)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2026, 1, 15), -13, date(2024, 12, 15)),
        (date(2026, 12, 1), 1, date(2027, 1, 1)),
        (date(2026, 5, 31), 0, date(2026, 5, 31)),
    ],
)
def test_add_months_clamps_to_the_month_length(day, months, expected):
    assert add_months(day, months) == expected


# The lag is elapsed time: the Sunday week of 2026-03-01 ends 2026-03-08 00:00 EST (05:00 UTC), and
# 48 hours later the clocks have sprung forward, so it is complete at 01:00 EDT.
DATA_LAG_CASES = [
    ("2026-03-01", "2026-03-10T01:00:00", 48),
    ("2026-03-08", "2026-03-17T00:00:00", 48),
    ("2026-03-08", "2026-03-15T00:00:00", 0),
    ("2026-10-25", "2026-11-01T23:00:00", 24),  # the 24 lag hours include the repeated 01:00-02:00
]


@pytest.mark.parametrize(("week", "ready_local", "lag"), DATA_LAG_CASES)
def test_data_lag_boundary_is_exact(week, ready_local, lag):
    window = week_window(week, timezone=NY, week_start="sunday")
    ready = at(ready_local, NY)
    check_collectable(window, now=ready, data_lag_hours=lag)
    check_collectable(window, now=ready.astimezone(UTC), data_lag_hours=lag)  # any zone for 'now'
    with pytest.raises(WindowError) as caught:
        check_collectable(window, now=ready - timedelta(seconds=1), data_lag_hours=lag)
    assert str(caught.value) == (
        f"window {window} is inside the {lag}-hour data lag: AMC's data for it is complete at {ready_local} "
        "America/New_York, 1 minute from now; choose an earlier window or run it then"
    )


def test_data_lag_message_counts_days_and_hours():
    window = week_window("2026-01-05", timezone=BERLIN, week_start="monday")
    with pytest.raises(WindowError, match="complete at 2026-01-14T00:00:00 Europe/Berlin, 2 days 3 hours from now"):
        check_collectable(window, now=at("2026-01-11T21:00:00", BERLIN), data_lag_hours=48)


NOW = at("2026-03-10T08:00:00", NY)  # 13 months back is 2025-02-10T08:00:00


def test_retention_boundary_is_exact():
    inside = explicit_window("2025-02-10T08:00:00", "2025-02-11", timezone=NY)
    check_collectable(inside, now=NOW, data_lag_hours=48)
    outside = explicit_window("2025-02-10T07:59:59", "2025-02-11", timezone=NY)
    with pytest.raises(WindowError) as caught:
        check_collectable(outside, now=NOW, data_lag_hours=48)
    assert str(caught.value) == (
        f"window {outside} starts beyond AMC's 13-month retention: the earliest start allowed now is 2025-02-10T08:00:00"
    )


@pytest.mark.parametrize(
    ("week", "week_start", "earliest_week"),
    [("2025-02-09", "sunday", "2025-02-16"), ("2025-02-03", "monday", "2025-02-17"), ("2025-02-10", "monday", "2025-02-17")],
)
def test_retention_message_names_the_earliest_allowed_week(week, week_start, earliest_week):
    window = week_window(week, timezone=NY, week_start=week_start)
    with pytest.raises(WindowError) as caught:
        check_collectable(window, now=NOW, data_lag_hours=48)
    assert f"13-month retention: the earliest start allowed now is 2025-02-10T08:00:00; the earliest full week is the " \
           f"week of {earliest_week}" in str(caught.value)
    check_collectable(week_window(earliest_week, timezone=NY, week_start=week_start), now=NOW, data_lag_hours=48)


def test_retention_months_and_explicit_week_start_are_honoured():
    window = explicit_window("2025-12-01", "2025-12-03", timezone=NY)
    check_collectable(window, now=NOW, data_lag_hours=48)
    with pytest.raises(WindowError, match="3-month retention: .* the earliest full week is the week of 2025-12-14"):
        check_collectable(window, now=NOW, data_lag_hours=48, retention_months=3, week_start="sunday")


@pytest.mark.parametrize(
    ("now", "week_start", "expected"),
    [
        (at("2026-03-10T08:00:00", NY), "monday", date(2025, 2, 17)),
        (at("2026-03-10T08:00:00", NY), "sunday", date(2025, 2, 16)),
        (at("2026-02-17T00:00:00", NY), "monday", date(2025, 1, 20)),  # 2025-01-17 is a Friday
        (at("2029-03-29T00:00:00", "UTC"), "monday", date(2028, 3, 6)),  # 13 months back is leap day 2028-02-29
    ],
)
def test_earliest_retained_week(now, week_start, expected):
    zone = str(now.tzinfo)
    assert earliest_retained_week(now=now, timezone=zone, week_start=week_start) == expected


def test_provisional_boundary_is_exact():
    window = week_window("2026-01-05", timezone=NY, week_start="monday")  # ends 2026-01-12 05:00 UTC
    settled = datetime(2026, 2, 11, 5, tzinfo=UTC)
    assert is_provisional(window, now=settled - timedelta(seconds=1)) is True
    assert is_provisional(window, now=settled) is False
    assert is_provisional(window, now=settled, settle_days=31) is True
    assert is_provisional(window, now=window.end_utc, settle_days=0) is False


@pytest.mark.parametrize(
    ("now", "zone", "week_start", "lag", "expected"),
    [
        # Monday weeks: the week of 2026-01-05 ends 2026-01-12 00:00 and is complete 48 h later.
        ("2026-01-14T00:00:00", NY, "monday", 48, date(2026, 1, 5)),
        ("2026-01-13T23:59:59", NY, "monday", 48, date(2025, 12, 29)),
        ("2026-01-14T00:00:00", NY, "sunday", 48, date(2026, 1, 4)),
        ("2026-01-12T00:00:00", NY, "monday", 0, date(2026, 1, 5)),
        ("2026-01-11T23:59:59", NY, "monday", 0, date(2025, 12, 29)),
        ("2026-01-14T00:00:00", NY, "monday", 720, date(2025, 12, 8)),
        # Across the year boundary and a DST change.
        ("2027-01-06T00:00:00", BERLIN, "monday", 48, date(2026, 12, 28)),
        ("2027-01-05T00:00:00", BERLIN, "sunday", 48, date(2026, 12, 27)),
        ("2026-03-11T00:00:00", NY, "sunday", 48, date(2026, 3, 1)),
        ("2026-03-11T00:00:00", NY, "monday", 48, date(2026, 3, 2)),
        ("2026-03-10T23:59:59", NY, "monday", 48, date(2026, 2, 23)),
    ],
)
def test_latest_collectable_week(now, zone, week_start, lag, expected):
    moment = at(now, zone)
    latest = latest_collectable_week(now=moment, timezone=zone, week_start=week_start, data_lag_hours=lag)
    assert latest == expected
    check_collectable(week_window(latest, timezone=zone, week_start=week_start), now=moment, data_lag_hours=lag)
    following = week_window(latest + timedelta(days=7), timezone=zone, week_start=week_start)
    with pytest.raises(WindowError, match="data lag"):
        check_collectable(following, now=moment, data_lag_hours=lag)


@pytest.mark.parametrize(
    "call",
    [
        lambda: check_collectable(week_window("2026-01-05", timezone=NY, week_start="monday"),
                                  now=datetime(2026, 3, 1), data_lag_hours=48),
        lambda: is_provisional(week_window("2026-01-05", timezone=NY, week_start="monday"), now=datetime(2026, 3, 1)),
        lambda: latest_collectable_week(now=datetime(2026, 3, 1), timezone=NY, week_start="monday", data_lag_hours=48),
    ],
)
def test_now_must_be_aware(call):
    with pytest.raises(WindowError, match="'now' must be a time-zone-aware datetime"):
        call()


def test_negative_lag_and_retention_are_refused():
    window = week_window("2026-01-05", timezone=NY, week_start="monday")
    with pytest.raises(WindowError, match="data_lag_hours must be 0 or more, not -1"):
        check_collectable(window, now=NOW, data_lag_hours=-1)
    with pytest.raises(WindowError, match="retention_months must be 1 or more, not 0"):
        check_collectable(window, now=NOW, data_lag_hours=48, retention_months=0)


def test_unknown_zone_in_latest_collectable_week():
    with pytest.raises(WindowError, match="unknown time zone 'Europe/Berln': did you mean 'Europe/Berlin'"):
        latest_collectable_week(now=NOW, timezone="Europe/Berln", week_start="monday", data_lag_hours=48)
