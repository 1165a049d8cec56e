"""The documented AMC table schemas (``amc_tables.json``) as typed metadata.

Shared by the synthetic data generator (which creates these tables), the SQL engine (which limits
each table to the execution window by its event time and applies privacy thresholds by column
class) and the ``dataSources`` endpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from functools import cache
from importlib import resources


class Threshold(IntEnum):
    """AMC aggregation-threshold classes, ordered by strictness."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    VERY_HIGH = 4
    INTERNAL = 5  # not exposed to queries at all

    @property
    def min_users(self) -> int:
        """Distinct users an output row needs when a dimension of this class is in it."""
        return {Threshold.NONE: 0, Threshold.LOW: 2, Threshold.MEDIUM: 100, Threshold.HIGH: 100}.get(self, 100)


@dataclass(frozen=True)
class Column:
    name: str
    amc_type: str  # as documented: STRING, LONG, DECIMAL(38,4), Array[LONG], ...
    duckdb_type: str
    kind: str  # DIMENSION or METRIC
    threshold: Threshold


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    event_time_column: str  # UTC timestamp the execution window filters on
    user_column: str | None  # the pseudonymous user id, for privacy thresholds

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


# The tables the sandbox generates, with the event-time column that bounds them to a window.
EVENT_TIME_COLUMNS: dict[str, str] = {
    "dsp_impressions": "impression_dt_utc",
    "dsp_clicks": "click_dt_utc",
    "dsp_views": "event_dt_utc",
    "sponsored_ads_traffic": "event_dt_utc",
    "amazon_attributed_events_by_conversion_time": "conversion_event_dt_utc",
    "amazon_attributed_events_by_traffic_time": "traffic_event_dt_utc",
    "conversions": "event_dt_utc",
    "conversions_with_relevance": "event_dt_utc",
    "conversions_all": "event_dt_utc",
}

_SCALAR_TYPES = {
    "STRING": "VARCHAR",
    "LONG": "BIGINT",
    "INTEGER": "INTEGER",
    "DOUBLE": "DOUBLE",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
    "DECIMAL": "DECIMAL(38,4)",
    "DECIMAL(38,4)": "DECIMAL(38,4)",
    "DecimalDataType": "DECIMAL(38,4)",
    "Array[LONG]": "BIGINT[]",
    "Array[INTEGER]": "INTEGER[]",
    "ARRAY": "VARCHAR[]",
}


def _threshold(raw: str | None) -> Threshold:
    if raw in (None, ""):
        return Threshold.LOW  # undocumented class on a dimension: treat as campaign-level
    return Threshold[raw.replace(" ", "_")]


@cache
def amc_tables() -> dict[str, Table]:
    """Every documented table, keyed by name."""
    raw = json.loads(resources.files("amc_pipelines.sandbox").joinpath("amc_tables.json").read_text())
    tables: dict[str, Table] = {}
    for name, cols in raw["tables"].items():
        columns = tuple(
            Column(
                name=c["name"],
                amc_type=c["type"],
                duckdb_type=_SCALAR_TYPES[c["type"]],
                kind=c["kind"],
                threshold=_threshold(c["threshold"]) if c["kind"] == "DIMENSION" else _metric_threshold(c["threshold"]),
            )
            for c in cols
        )
        names = {c.name for c in columns}
        tables[name] = Table(
            name=name,
            columns=columns,
            event_time_column=EVENT_TIME_COLUMNS.get(name, ""),
            user_column="user_id" if "user_id" in names else None,
        )
    return tables


def _metric_threshold(raw: str | None) -> Threshold:
    # Metrics are aggregated, so NONE unless documented otherwise (e.g. bid_price MEDIUM).
    return Threshold.NONE if raw in (None, "") else _threshold(raw)


def sandbox_tables() -> dict[str, Table]:
    """The tables the sandbox generates and queries (those with an event-time column)."""
    return {name: t for name, t in amc_tables().items() if name in EVENT_TIME_COLUMNS}
