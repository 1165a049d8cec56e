"""AMC time windows: calendar weeks, explicit windows, the data-lag, retention and settle rules.

This is the one time-window function of the project. A window is naive local wall time in the
instance's IANA zone, end exclusive, sent to AMC as ``yyyy-MM-ddTHH:mm:ss`` with the zone in
``timeWindowTimeZone`` (a ``Z`` suffix or a bare date makes AMC return 400s or empty results).
Rules that compare with "now" work on aware instants, so DST weeks (167 or 169 hours) need no
special case.
"""

from __future__ import annotations

import calendar
import difflib
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

AMC_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
WEEK_STARTS = ("monday", "sunday")
_FIRST_WEEKDAY = {"monday": 0, "sunday": 6}  # date.weekday() of the first day of a week
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
_ZONE_SUFFIX = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


class WindowError(ValueError):
    """A time window, time zone or window rule is wrong; the message says what to fix."""


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_time_zone(name: str) -> str:
    """``name`` if it is an IANA time zone, else WindowError naming it with a suggestion."""
    zones = _time_zones()
    if isinstance(name, str) and name in zones:
        return name
    text = str(name)
    by_case = {zone.lower(): zone for zone in zones}
    close = by_case.get(text.lower()) or next(iter(difflib.get_close_matches(text, zones, n=1)), None)
    guess = f" did you mean {close!r}?" if close else ""
    raise WindowError(f"unknown time zone {text!r}:{guess} use an IANA name such as America/New_York or Europe/Berlin")


@lru_cache(maxsize=256)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(check_time_zone(name))


def check_week_start(value: str) -> str:
    """'monday' or 'sunday' (any case), else WindowError."""
    normalized = value.strip().lower() if isinstance(value, str) else value
    if normalized not in WEEK_STARTS:
        raise WindowError(f"week start {value!r} is not valid: use 'monday' or 'sunday'")
    return normalized


def _check_aware(now: datetime) -> datetime:
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise WindowError(f"'now' must be a time-zone-aware datetime, got {now!r}")
    return now


def _local_text(moment: datetime) -> str:
    return moment.strftime(AMC_TIME_FORMAT)


@dataclass(frozen=True)
class TimeWindow:
    """``[start, end)`` in local wall time of ``timezone``; both naive, whole seconds."""

    start: datetime
    end: datetime
    timezone: str

    def __post_init__(self) -> None:
        check_time_zone(self.timezone)
        for label, moment in (("start", self.start), ("end", self.end)):
            if not isinstance(moment, datetime):
                raise WindowError(f"window {label} must be a datetime, got {moment!r}")
            if moment.tzinfo is not None:
                raise WindowError(f"window {label} {moment.isoformat()} carries a time zone: give local wall time "
                                  f"and the zone separately ({self.timezone})")
            if moment.microsecond:
                raise WindowError(f"window {label} {moment.isoformat()} has fractions of a second: AMC takes whole seconds")
        if self.end <= self.start:
            raise WindowError(f"window end {_local_text(self.end)} is not after its start {_local_text(self.start)}: "
                              "the end must be later (it is exclusive)")

    def amc_start(self) -> str:
        return _local_text(self.start)

    def amc_end(self) -> str:
        return _local_text(self.end)

    @property
    def start_utc(self) -> datetime:
        return self.start.replace(tzinfo=_zone(self.timezone)).astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        return self.end.replace(tzinfo=_zone(self.timezone)).astimezone(UTC)

    @property
    def duration(self) -> timedelta:
        """Elapsed time (a DST week is 167 or 169 hours)."""
        return self.end_utc - self.start_utc

    @property
    def week_start(self) -> date | None:
        """The first day when the window is exactly one Monday- or Sunday-start calendar week."""
        is_week = self.start.time() == time(0) and self.end == self.start + timedelta(days=7)
        return self.start.date() if is_week and self.start.weekday() in _FIRST_WEEKDAY.values() else None

    def __str__(self) -> str:
        return f"{self.amc_start()} to {self.amc_end()} ({self.timezone})"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0))


def day_window(first: date, end: date, *, timezone: str) -> TimeWindow:
    """Whole days ``[first, end)`` at local midnight."""
    return TimeWindow(_midnight(first), _midnight(end), timezone)


def week_start_of(day: date, week_start: str) -> date:
    """The first day of the calendar week holding ``day``."""
    first = _FIRST_WEEKDAY[check_week_start(week_start)]
    return day - timedelta(days=(day.weekday() - first) % 7)


def week_window(week: date | str, *, timezone: str, week_start: str) -> TimeWindow:
    """The calendar week starting on ``week`` (a date or 'YYYY-MM-DD') at local midnight."""
    if isinstance(week, str):
        if not _DATE_TEXT.match(week.strip()):
            raise WindowError(f"week {week!r} is not a date: use YYYY-MM-DD, e.g. 2026-01-05")
        try:
            week = date.fromisoformat(week.strip())
        except ValueError:
            raise WindowError(f"week {week!r} is not a real calendar date") from None
    if isinstance(week, datetime):
        raise WindowError(f"week must be a date, not a datetime ({week.isoformat()}): use {week.date().isoformat()}")
    first = week_start_of(week, week_start)
    if first != week:
        raise WindowError(f"{week.isoformat()} is a {week.strftime('%A')}, but weeks start on {check_week_start(week_start)} "
                          f"here: use {first.isoformat()} (the week holding it) or {(first + timedelta(days=7)).isoformat()}")
    return day_window(week, week + timedelta(days=7), timezone=timezone)


def _parse_bound(label: str, value: str | date) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return _midnight(value)
    text = value.strip() if isinstance(value, str) else ""
    if _ZONE_SUFFIX.search(text) and _TIMESTAMP_TEXT.match(_ZONE_SUFFIX.sub("", text)):
        raise WindowError(f"{label} {value!r} has a time zone suffix: give local wall time, e.g. "
                          f"{_ZONE_SUFFIX.sub('', text)}, and the zone separately")
    if not (_TIMESTAMP_TEXT.match(text) or _DATE_TEXT.match(text)):
        raise WindowError(f"{label} {value!r} is not a date or time: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, "
                          "e.g. 2026-01-05 or 2026-01-05T00:00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise WindowError(f"{label} {value!r} is not a real calendar date and time") from None


def explicit_window(start: str | date, end: str | date, *, timezone: str) -> TimeWindow:
    """A window from 'YYYY-MM-DD' (local midnight) or 'YYYY-MM-DDTHH:MM:SS' bounds; end must be after start."""
    start_at, end_at = _parse_bound("start", start), _parse_bound("end", end)
    if end_at <= start_at:
        raise WindowError(f"end {_local_text(end_at)} is not after start {_local_text(start_at)}: "
                          "give an end later than the start (the end is exclusive)")
    return TimeWindow(start_at, end_at, check_time_zone(timezone))


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the month's length (Mar 31 - 1 month = Feb 28/29)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def local_now(now: datetime, timezone: str) -> datetime:
    """``now`` (aware) as naive wall time in ``timezone``."""
    return _check_aware(now).astimezone(_zone(timezone)).replace(tzinfo=None)


def collectable_at(window: TimeWindow, *, data_lag_hours: int) -> datetime:
    """When AMC's data for the window is complete: its end plus the data lag (aware, UTC)."""
    if data_lag_hours < 0:
        raise WindowError(f"data_lag_hours must be 0 or more, not {data_lag_hours}")
    return window.end_utc + timedelta(hours=data_lag_hours)


def _span(delta: timedelta) -> str:
    minutes = max(1, int(delta.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    return " ".join(f"{count} {unit}{'s' if count != 1 else ''}" for count, unit in parts if count)


def earliest_retained_start(*, now: datetime, timezone: str, retention_months: int = 13) -> datetime:
    """The earliest local start AMC still holds data for: ``retention_months`` before now."""
    if retention_months < 1:
        raise WindowError(f"retention_months must be 1 or more, not {retention_months}")
    here = local_now(now, timezone).replace(microsecond=0)
    return datetime.combine(add_months(here.date(), -retention_months), here.time())


def earliest_retained_week(*, now: datetime, timezone: str, week_start: str, retention_months: int = 13) -> date:
    """The first calendar week that starts inside retention."""
    earliest = earliest_retained_start(now=now, timezone=timezone, retention_months=retention_months)
    first = week_start_of(earliest.date(), week_start)
    return first if _midnight(first) >= earliest else first + timedelta(days=7)


def check_collectable(window: TimeWindow, *, now: datetime, data_lag_hours: int, retention_months: int = 13,
                      week_start: str | None = None) -> None:
    """WindowError unless the window's data is complete (end + lag <= now) and its start is inside retention.

    ``week_start`` only shapes the retention message (the earliest allowed week); by default it is
    taken from the window when the window is a calendar week.
    """
    _check_aware(now)
    ready = collectable_at(window, data_lag_hours=data_lag_hours)
    if ready > now:
        ready_local = _local_text(ready.astimezone(_zone(window.timezone)))
        raise WindowError(f"window {window} is inside the {data_lag_hours}-hour data lag: AMC's data for it is complete "
                          f"at {ready_local} {window.timezone}, {_span(ready - now)} from now; choose an earlier "
                          "window or run it then")
    earliest = earliest_retained_start(now=now, timezone=window.timezone, retention_months=retention_months)
    if window.start < earliest:
        if week_start is None and window.week_start is not None:
            week_start = "monday" if window.week_start.weekday() == 0 else "sunday"
        advice = f"the earliest start allowed now is {_local_text(earliest)}"
        if week_start is not None:
            first_week = earliest_retained_week(now=now, timezone=window.timezone, week_start=week_start,
                                                retention_months=retention_months)
            advice += f"; the earliest full week is the week of {first_week.isoformat()}"
        raise WindowError(f"window {window} starts beyond AMC's {retention_months}-month retention: {advice}")


def is_provisional(window: TimeWindow, *, now: datetime, settle_days: int = 30) -> bool:
    """True while attributed conversions may still arrive: the window ended less than ``settle_days`` ago."""
    return window.end_utc + timedelta(days=settle_days) > _check_aware(now)


def latest_collectable_week(*, now: datetime, timezone: str, week_start: str, data_lag_hours: int) -> date:
    """The first day of the most recent calendar week whose data is complete at ``now``."""
    week = week_start_of(local_now(now, timezone).date(), week_start)
    while collectable_at(week_window(week, timezone=timezone, week_start=week_start),
                         data_lag_hours=data_lag_hours) > now:
        week -= timedelta(days=7)
    return week
