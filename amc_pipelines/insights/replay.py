"""fct_campaign_week rows for a sandbox dataset without the collection path (evaluation, benchmarks).

Runs the catalog's campaign_performance AMC SQL on the sandbox's SQL engine (privacy rules and all)
once per instance over the whole week range in the instance's time zone, then does what the marts do
with its per-day rows: sum each campaign's days into advertiser-local calendar weeks (Monday start),
count privacy-withheld days, and mark weeks provisional while they are within 30 days of "now". The
end-to-end path (runner -> Postgres -> dbt -> reader) is tested separately at small scale.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

REPORT = "campaign_performance"
SETTLE_DAYS = 30


def sandbox_campaign_weeks(dataset, instance_id: str, *, weeks: int = 52, history_weeks: int = 12,
                           now: datetime | None = None) -> tuple[pd.DataFrame, date, date]:
    """(frame, first_week, last_week): ``weeks`` weeks up to the last collectable one, plus history before."""
    from amc_pipelines.catalog import load_catalog
    from amc_pipelines.params import amc_input_parameters, amc_parameter_values, latest_collectable_week
    from amc_pipelines.sandbox.sql import InputParameter, QueryRequest, SqlEngine

    instance = dataset.instance(instance_id)
    now = now or datetime.combine(dataset.end_date + timedelta(days=1), time(), UTC)
    last = latest_collectable_week(now=now, timezone=instance.timezone, week_start="monday", data_lag_hours=48)
    first = last - timedelta(weeks=weeks - 1)
    earliest = first - timedelta(weeks=history_weeks)
    data_start = dataset.start_date + timedelta(days=1)  # a whole local first day in every zone
    earliest = max(earliest, data_start + timedelta(days=(7 - data_start.weekday()) % 7))
    zone = ZoneInfo(instance.timezone)
    spec = load_catalog(None, check_sql=False)[REPORT]
    result = SqlEngine(dataset).run(QueryRequest(
        spec.amc_sql(), time_window_start=datetime.combine(earliest, time()),
        time_window_end=datetime.combine(last + timedelta(days=7), time()), time_zone=instance.timezone,
        parameter_values=amc_parameter_values(spec.parameters, {}),
        input_parameters=tuple(InputParameter.from_api(p) for p in amc_input_parameters(spec.parameters)),
        privacy_filtering_behavior=spec.privacy.behavior,
        filtered_metrics_discriminator_column=spec.privacy.discriminator_column,
    ), instance_id)
    days = pd.DataFrame(result.rows, columns=result.columns)
    measures = ["impressions", "clicks", "spend", "purchases", "sales", "ntb_purchases", "ntb_sales"]
    for column in measures:
        days[column] = pd.to_numeric(days[column], errors="coerce").astype(float).fillna(0.0)
    days["privacy_filtered"] = days["privacy_filtered"].fillna(False).astype(bool)
    event = pd.to_datetime(days["event_date"])
    days["week_start"] = (event - pd.to_timedelta(event.dt.weekday, unit="D")).dt.date
    days["campaign"] = days.groupby(["ad_product", "campaign_id"])["campaign"].transform("last")
    weekly = days.groupby(["week_start", "ad_product", "campaign_id", "campaign"], as_index=False).agg(
        **{m: (m, "sum") for m in measures}, privacy_withheld_days=("privacy_filtered", "sum"))
    weekly.insert(0, "instance_id", instance_id)
    ends = pd.to_datetime(weekly["week_start"]) + pd.Timedelta(days=7)
    end_utc = [datetime.combine(e.date(), time(), zone).astimezone(UTC) for e in ends]
    weekly["provisional"] = [e + timedelta(days=SETTLE_DAYS) > now for e in end_utc]
    return weekly, first, last
