"""Date expressions for ad hoc runs, evaluated at an aware 'now' in the instance's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from amc_pipelines.params import EXPRESSION_FORMS, WindowError, window_from_expression

NY = "America/New_York"
# Tuesday 2026-03-10, 08:00 in New York.
NOW = datetime(2026, 3, 10, 8, tzinfo=ZoneInfo(NY))


def days(expr: str, *, now: datetime = NOW, zone: str = NY, week_start: str = "monday") -> tuple[date, date]:
    window = window_from_expression(expr, now=now, timezone=zone, week_start=week_start)
    assert window.timezone == zone
    assert window.start.time() == window.end.time() == datetime.min.time()
    return window.start.date(), window.end.date()


D = date.fromisoformat

EXPRESSIONS = [
    ("today", "monday", "2026-03-10", "2026-03-11"),
    ("today(0)", "monday", "2026-03-10", "2026-03-11"),
    ("today(-1)", "monday", "2026-03-09", "2026-03-10"),
    ("today(-10)", "monday", "2026-02-28", "2026-03-01"),
    ("yesterday", "monday", "2026-03-09", "2026-03-10"),
    ("last_n_days(1)", "monday", "2026-03-09", "2026-03-10"),
    ("last_n_days(7)", "monday", "2026-03-03", "2026-03-10"),
    ("last_n_days(30)", "monday", "2026-02-08", "2026-03-10"),
    ("this_week", "monday", "2026-03-09", "2026-03-16"),
    ("this_week", "sunday", "2026-03-08", "2026-03-15"),
    ("last_week", "monday", "2026-03-02", "2026-03-09"),
    ("last_week", "sunday", "2026-03-01", "2026-03-08"),
    ("week(0)", "monday", "2026-03-09", "2026-03-16"),
    ("week(-1)", "sunday", "2026-03-01", "2026-03-08"),
    ("week(-3)", "monday", "2026-02-16", "2026-02-23"),
    ("this_month", "monday", "2026-03-01", "2026-04-01"),
    ("last_month", "monday", "2026-02-01", "2026-03-01"),
    ("month(0)", "monday", "2026-03-01", "2026-04-01"),
    ("month(-1)", "monday", "2026-02-01", "2026-03-01"),
    ("month(-3)", "monday", "2025-12-01", "2026-01-01"),
    ("month(-14)", "monday", "2025-01-01", "2025-02-01"),
    ("mtd", "monday", "2026-03-01", "2026-03-10"),
    ("qtd", "monday", "2026-01-01", "2026-03-10"),
    ("ytd", "monday", "2026-01-01", "2026-03-10"),
]


@pytest.mark.parametrize(("expr", "week_start", "first", "end"), EXPRESSIONS)
def test_every_expression(expr, week_start, first, end):
    assert days(expr, week_start=week_start) == (D(first), D(end))


def test_every_documented_form_is_covered():
    covered = {expr.split("(")[0] for expr, *_ in EXPRESSIONS}
    assert covered == {form.split("(")[0] for form in EXPRESSION_FORMS}


@pytest.mark.parametrize("written", [" Last_Week ", "LAST_WEEK", "last_week\n", "week( -1 )", "WEEK(-1)"])
def test_case_and_spaces_do_not_matter(written):
    assert days(written) == (D("2026-03-02"), D("2026-03-09"))


def test_today_is_the_instance_zone_day_not_the_utc_day():
    late_evening = datetime(2026, 3, 10, 3, tzinfo=UTC)  # 23:00 on 2026-03-09 in New York
    assert days("today", now=late_evening) == (D("2026-03-09"), D("2026-03-10"))
    assert days("today", now=late_evening, zone="Asia/Tokyo") == (D("2026-03-10"), D("2026-03-11"))
    sunday_evening = datetime(2026, 3, 9, 3, tzinfo=UTC)  # Sunday 23:00 in New York, Monday noon in Tokyo
    assert days("this_week", now=sunday_evening, week_start="sunday") == (D("2026-03-08"), D("2026-03-15"))
    assert days("this_week", now=sunday_evening, zone="Asia/Tokyo", week_start="sunday") == (D("2026-03-08"), D("2026-03-15"))
    assert days("this_week", now=sunday_evening, week_start="monday") == (D("2026-03-02"), D("2026-03-09"))
    assert days("this_week", now=sunday_evening, zone="Asia/Tokyo", week_start="monday") == (D("2026-03-09"), D("2026-03-16"))


def test_a_dst_day_is_23_hours_and_a_dst_week_167():
    sunday = datetime(2026, 3, 9, 12, tzinfo=ZoneInfo(NY))
    assert window_from_expression("yesterday", now=sunday, timezone=NY, week_start="monday").duration == timedelta(hours=23)
    assert window_from_expression("last_week", now=sunday, timezone=NY, week_start="monday").duration == timedelta(hours=167)


YEAR_BOUNDARY = [
    # Friday 2027-01-01.
    ("yesterday", "monday", "2026-12-31", "2027-01-01"),
    ("this_week", "monday", "2026-12-28", "2027-01-04"),
    ("this_week", "sunday", "2026-12-27", "2027-01-03"),
    ("last_week", "monday", "2026-12-21", "2026-12-28"),
    ("last_month", "monday", "2026-12-01", "2027-01-01"),
    ("month(-12)", "monday", "2026-01-01", "2026-02-01"),
    ("last_n_days(3)", "monday", "2026-12-29", "2027-01-01"),
]


@pytest.mark.parametrize(("expr", "week_start", "first", "end"), YEAR_BOUNDARY)
def test_year_boundary(expr, week_start, first, end):
    new_year = datetime(2027, 1, 1, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    assert days(expr, now=new_year, zone="Europe/Berlin", week_start=week_start) == (D(first), D(end))


@pytest.mark.parametrize(
    ("expr", "first", "end"),
    [("yesterday", "2028-02-29", "2028-03-01"), ("last_month", "2028-02-01", "2028-03-01"),
     ("week(-1)", "2028-02-21", "2028-02-28"), ("this_week", "2028-02-28", "2028-03-06"),
     ("last_n_days(2)", "2028-02-28", "2028-03-01")],
)
def test_leap_day(expr, first, end):
    assert days(expr, now=datetime(2028, 3, 1, 12, tzinfo=UTC), zone="UTC") == (D(first), D(end))


@pytest.mark.parametrize(
    ("expr", "now", "message"),
    [
        ("mtd", datetime(2026, 3, 1, 12, tzinfo=UTC),
         "window expression 'mtd' is empty today (2026-03-01 is the first day of the month; the window ends at the "
         "start of today): use yesterday or last_month"),
        ("qtd", datetime(2026, 4, 1, 12, tzinfo=UTC), "'qtd' is empty today (2026-04-01 is the first day of the quarter"),
        ("ytd", datetime(2027, 1, 1, 12, tzinfo=UTC), "'ytd' is empty today (2027-01-01 is the first day of the year"),
    ],
)
def test_to_date_forms_are_empty_on_the_first_day(expr, now, message):
    with pytest.raises(WindowError) as caught:
        days(expr, now=now, zone="UTC")
    assert message in str(caught.value)
    assert days(expr, now=now + timedelta(days=1), zone="UTC")[1] == now.date() + timedelta(days=1)


VALID_FORMS = ("use one of today, today(-n), yesterday, last_n_days(n), this_week, last_week, week(-n), "
               "this_month, last_month, month(-n), mtd, qtd, ytd")


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("lastweek", f"unknown window expression 'lastweek': did you mean 'last_week'? {VALID_FORMS}"),
        ("weeks(-2)", "unknown window expression 'weeks(-2)': did you mean 'week(-2)'?"),
        ("last_n_day(3)", "did you mean 'last_n_days(3)'?"),
        ("months", "did you mean 'month(-1)'?"),
        ("todya", "did you mean 'today'?"),
        ("last 7 days", "unknown window expression 'last 7 days'"),
        ("week(-1.5)", "unknown window expression 'week(-1.5)'"),
        ("", f"unknown window expression '': {VALID_FORMS}"),
        ("2026-01-05", f"unknown window expression '2026-01-05': {VALID_FORMS}"),
        ("week(2)", "window expression 'week(2)' points to the future: use week(-2) for 2 weeks ago"),
        ("today(3)", "use today(-3) for 3 days ago"),
        ("today(+1)", "window expression 'today(+1)' points to the future: use today(-1) for 1 day ago"),
        ("month(1)", "points to the future: use month(-1) for 1 month ago"),
        ("last_n_days(0)", "window expression 'last_n_days(0)': n must be 1 or more, e.g. last_n_days(7)"),
        ("last_n_days(-3)", "n must be 1 or more"),
    ],
)
def test_bad_expressions(expr, message):
    with pytest.raises(WindowError) as caught:
        days(expr)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"now": datetime(2026, 3, 10, 8)}, "'now' must be a time-zone-aware datetime"),
        ({"zone": "America/NewYork"}, "unknown time zone 'America/NewYork': did you mean 'America/New_York'?"),
        ({"week_start": "saturday"}, "week start 'saturday' is not valid: use 'monday' or 'sunday'"),
    ],
)
def test_bad_context(kwargs, message):
    with pytest.raises(WindowError) as caught:
        days("last_week", **kwargs)
    assert message in str(caught.value)
