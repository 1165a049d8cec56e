"""Date expressions for ad hoc runs (``--window last_week``), evaluated in the instance's zone.

Every expression resolves to whole local days, end exclusive. "To date" forms (mtd, qtd, ytd) and
``last_n_days(n)`` end at the start of today, because today's data is never complete.
"""

from __future__ import annotations

import difflib
import re
from datetime import date, datetime, timedelta

from amc_pipelines.params.windows import (
    TimeWindow,
    WindowError,
    add_months,
    check_week_start,
    day_window,
    local_now,
    week_start_of,
)

EXPRESSION_FORMS = (
    "today", "today(-n)", "yesterday", "last_n_days(n)", "this_week", "last_week", "week(-n)",
    "this_month", "last_month", "month(-n)", "mtd", "qtd", "ytd",
)
_BARE = ("today", "yesterday", "this_week", "last_week", "this_month", "last_month", "mtd", "qtd", "ytd")
_CALLS = ("today", "last_n_days", "week", "month")
_CALL = re.compile(r"^(?P<name>[a-z_]+)\((?P<arg>[+-]?\d+)\)$")


def window_from_expression(expr: str, *, now: datetime, timezone: str, week_start: str) -> TimeWindow:
    """The window an expression names at ``now`` (aware), in ``timezone`` with weeks starting on ``week_start``."""
    text = re.sub(r"\s+", "", expr).lower() if isinstance(expr, str) else ""
    week_start = check_week_start(week_start)
    today = local_now(now, timezone).date()
    call = _CALL.match(text)
    if call and call["name"] in _CALLS:
        first, end = _call_days(call["name"], int(call["arg"]), today, week_start, expr)
    elif text in _BARE:
        first, end = _bare_days(text, today, week_start)
    else:
        raise WindowError(_unknown(expr, text, call))
    return day_window(first, end, timezone=timezone)


def _call_days(name: str, offset: int, today: date, week_start: str, expr: str) -> tuple[date, date]:
    if name == "last_n_days":
        if offset < 1:
            raise WindowError(f"window expression {expr!r}: n must be 1 or more, e.g. last_n_days(7)")
        return today - timedelta(days=offset), today
    if offset > 0:
        unit = "day" if name == "today" else name
        raise WindowError(f"window expression {expr!r} points to the future: use {name}(-{offset}) "
                          f"for {offset} {unit}{'s' if offset != 1 else ''} ago")
    if name == "today":
        day = today + timedelta(days=offset)
        return day, day + timedelta(days=1)
    if name == "week":
        first = week_start_of(today, week_start) + timedelta(weeks=offset)
        return first, first + timedelta(days=7)
    first = add_months(today.replace(day=1), offset)
    return first, add_months(first, 1)


def _bare_days(name: str, today: date, week_start: str) -> tuple[date, date]:
    if name == "yesterday":
        return today - timedelta(days=1), today
    if name == "today":
        return today, today + timedelta(days=1)
    if name in ("this_week", "last_week"):
        first = week_start_of(today, week_start) - timedelta(days=7 if name == "last_week" else 0)
        return first, first + timedelta(days=7)
    month = today.replace(day=1)
    if name == "this_month":
        return month, add_months(month, 1)
    if name == "last_month":
        return add_months(month, -1), month
    period = {"mtd": ("month", month),
              "qtd": ("quarter", date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)),
              "ytd": ("year", date(today.year, 1, 1))}
    unit, first = period[name]
    if first == today:
        previous = {"month": "last_month", "quarter": "month(-3) to month(-1)", "year": "last_month"}[unit]
        raise WindowError(f"window expression {name!r} is empty today ({today.isoformat()} is the first day of the "
                          f"{unit}; the window ends at the start of today): use yesterday or {previous}")
    return first, today


def _unknown(expr: str, text: str, call: re.Match | None) -> str:
    if call:
        close = difflib.get_close_matches(call["name"], _CALLS, n=1)
        guess = f"{close[0]}({call['arg']})" if close else None
    else:
        candidates = {form: form for form in _BARE}
        candidates.update({f"{name}()": f"{name}(-1)" for name in _CALLS})
        bare = re.sub(r"\(.*$", "()", text)
        close = difflib.get_close_matches(bare, list(candidates), n=1)
        guess = candidates[close[0]] if close else None
    hint = f" did you mean {guess!r}?" if guess else ""
    return f"unknown window expression {expr!r}:{hint} use one of {', '.join(EXPRESSION_FORMS)}"
