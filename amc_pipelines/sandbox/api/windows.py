"""AMC execution time windows: EXPLICIT values and the relative window types, in an IANA zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .responses import ApiError

WINDOW_TYPES = ("EXPLICIT", "MOST_RECENT_DAY", "MOST_RECENT_WEEK", "CURRENT_MONTH", "PREVIOUS_MONTH")
# AMC takes local wall-clock times with no zone suffix; a "Z" or a bare date is a 400.
_WINDOW_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
# Relative windows end where the instance "is likely to have data": AMC's documented 48 h lag.
DATA_LAG = timedelta(hours=48)


@dataclass(frozen=True)
class TimeWindow:
    start: datetime  # naive, local to time_zone (the *Original values)
    end: datetime
    time_zone: str

    @property
    def start_utc(self) -> datetime:
        return self.start.replace(tzinfo=ZoneInfo(self.time_zone)).astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        return self.end.replace(tzinfo=ZoneInfo(self.time_zone)).astimezone(UTC)


def parse_time_zone(value: object) -> str:
    if value is None or value == "":
        return "UTC"
    if not isinstance(value, str):
        raise ApiError(400, f"timeWindowTimeZone must be an IANA time zone name such as America/New_York, not {value!r}.")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError(400, f"timeWindowTimeZone {value!r} is not a valid IANA time zone (e.g. America/New_York).") from None
    return value


def parse_window_value(name: str, value: object) -> datetime:
    if not isinstance(value, str) or not _WINDOW_VALUE.match(value):
        hint = ""
        if isinstance(value, str) and (value.endswith("Z") or re.search(r"[+-]\d{2}:?\d{2}$", value)):
            hint = " Remove the time zone suffix and give the zone in timeWindowTimeZone."
        elif isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", value):
            hint = " A date alone is not accepted; add the time, e.g. T00:00:00."
        raise ApiError(400, f"Invalid {name} {value!r}: expected format yyyy-MM-dd'T'HH:mm:ss.{hint}")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise ApiError(400, f"Invalid {name} {value!r}: not a valid date and time.") from None


def resolve_window(body: dict, now: datetime | None = None) -> tuple[str, TimeWindow]:
    """(timeWindowType, window) from an execution request body; raises ApiError(400) when malformed."""
    window_type = body.get("timeWindowType") or "MOST_RECENT_DAY"
    if window_type not in WINDOW_TYPES:
        raise ApiError(400, f"timeWindowType {window_type!r} is not valid; use one of {', '.join(WINDOW_TYPES)}.")
    time_zone = parse_time_zone(body.get("timeWindowTimeZone"))
    if window_type == "EXPLICIT":
        for name in ("timeWindowStart", "timeWindowEnd"):
            if body.get(name) in (None, ""):
                raise ApiError(400, f"{name} is required when timeWindowType is EXPLICIT.")
        start = parse_window_value("timeWindowStart", body["timeWindowStart"])
        end = parse_window_value("timeWindowEnd", body["timeWindowEnd"])
        if end <= start:
            raise ApiError(400, f"timeWindowEnd {body['timeWindowEnd']} must be after timeWindowStart {body['timeWindowStart']}.")
        return window_type, TimeWindow(start, end, time_zone)
    local_now = (now or datetime.now(UTC)).astimezone(ZoneInfo(time_zone)).replace(tzinfo=None)
    data_until = (local_now - DATA_LAG).replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = local_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if window_type == "MOST_RECENT_DAY":
        return window_type, TimeWindow(data_until - timedelta(days=1), data_until, time_zone)
    if window_type == "MOST_RECENT_WEEK":
        return window_type, TimeWindow(data_until - timedelta(days=7), data_until, time_zone)
    if window_type == "CURRENT_MONTH":
        # Early in a month the lagged end can precede the month start: keep at least one day.
        end = max(data_until, month_start + timedelta(days=1))
        return window_type, TimeWindow(month_start, end, time_zone)
    previous_start = (month_start - timedelta(days=1)).replace(day=1)
    return window_type, TimeWindow(previous_start, month_start, time_zone)
