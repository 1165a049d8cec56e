"""ISO-8601 durations in weeks, days, hours, minutes and seconds: AMC's EXTEND_TIME_WINDOW
arguments and the refresh registry's overlap windows are written this way."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


def iso_duration(text: str) -> timedelta:
    """``P14D``, ``PT12H``, ``P1W``, ``P2DT6H`` as a timedelta; ValueError for anything else
    (years and months have no fixed length, so they are refused)."""
    normalised = text.strip().upper()
    match = _DURATION.match(normalised)
    if not match or normalised in ("P", "PT") or normalised.endswith("T"):
        raise ValueError(f"'{text}' is not an ISO-8601 duration such as 'P3D', 'PT12H' or 'P1W'")
    return timedelta(**{key: int(value) for key, value in match.groupdict().items() if value})


def format_iso_duration(duration: timedelta) -> str:
    """``duration`` as iso_duration reads it: days and hours/minutes/seconds (``P3D``, ``P2DT6H``, ``PT0S``)."""
    days, seconds = duration.days, duration.seconds
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{value}{unit}" for value, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if value)
    if not days and not time:
        return "PT0S"
    return f"P{f'{days}D' if days else ''}{f'T{time}' if time else ''}"
