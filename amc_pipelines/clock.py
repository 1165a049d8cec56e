"""The one clock of the project: every "now" in production code comes from :func:`now`.

Weeks become collectable, provisional or out of retention by the calendar, so what a run may do
depends on the day. Reading the time in one place lets the test suite move it (the ``clock``
fixture replaces this function, and Dagster's own clock with it) and prove the pipeline behaves
the same on every day of the week and at any hour.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
