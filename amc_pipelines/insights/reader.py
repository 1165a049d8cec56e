"""Load the weekly marts of one instance for detection: bound parameters only, never spliced SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Engine, text

from amc_pipelines.registry import get_instance

COLUMNS = ("instance_id", "week_start", "ad_product", "campaign_id", "campaign", "impressions", "clicks", "spend",
           "purchases", "sales", "ntb_purchases", "ntb_sales", "privacy_withheld_days", "provisional")
HISTORY_WEEKS = 12  # baseline weeks read before the requested range (DetectionConfig.baseline_weeks)

CAMPAIGN_WEEKS = text(f"""
    select {", ".join(COLUMNS)}
    from marts.fct_campaign_week
    where instance_id = :instance_id and week_start between :read_from and :read_to
    order by week_start, ad_product, campaign_id
""")
LOADED_WEEKS = text("""
    select min(week_start) as first_week, max(week_start) as last_week
    from marts.fct_instance_week where instance_id = :instance_id and has_rows
""")


class InsightsInputError(ValueError):
    """A request that cannot be answered (unknown instance, bad weeks, no marts): the message says why."""


@dataclass(frozen=True)
class MartsSlice:
    instance_id: str
    first_week: date   # the range findings are reported for
    last_week: date
    campaign_weeks: object  # pandas.DataFrame of fct_campaign_week rows, history included


def check_weeks(first_week: date | None, last_week: date | None, *, week_start: str = "monday") -> None:
    """Weeks must start on the instance's week start day and be in order (before any query runs)."""
    weekday = 0 if week_start == "monday" else 6
    for label, value in (("--from", first_week), ("--to", last_week)):
        if value is not None and value.weekday() != weekday:
            raise InsightsInputError(
                f"{label} {value.isoformat()} is a {value:%A}: weeks of this instance start on {week_start.title()}, "
                f"e.g. {(value - timedelta(days=(value.weekday() - weekday) % 7)).isoformat()}")
    if first_week and last_week and first_week > last_week:
        raise InsightsInputError(f"--from {first_week.isoformat()} is after --to {last_week.isoformat()}")


def load_marts(engine: Engine, instance_id: str, first_week: date | None = None, last_week: date | None = None,
               *, history_weeks: int = HISTORY_WEEKS) -> MartsSlice:
    """fct_campaign_week rows of the instance for first_week..last_week plus history before it and
    the week a year before the last (year-over-year). Defaults: the 52 weeks up to the last loaded week."""
    import pandas as pd

    from amc_pipelines.registry import RegistryError

    try:
        instance = get_instance(engine, instance_id)
    except RegistryError as error:
        raise InsightsInputError(str(error)) from None
    check_weeks(first_week, last_week, week_start=instance.week_start)
    with engine.connect() as connection:
        loaded = connection.execute(LOADED_WEEKS, {"instance_id": instance_id}).mappings().first()
        if loaded is None or loaded["last_week"] is None:
            raise InsightsInputError(
                f"instance {instance_id!r} has no weekly marts yet: load campaign_performance and build the marts first")
        last = last_week or loaded["last_week"]
        first = first_week or max(loaded["first_week"], last - timedelta(weeks=51))
        read_from = min(first - timedelta(weeks=history_weeks), last - timedelta(weeks=52))
        frame = pd.read_sql_query(CAMPAIGN_WEEKS, connection,
                                  params={"instance_id": instance_id, "read_from": read_from, "read_to": last})
    return MartsSlice(instance_id, first, last, frame)
