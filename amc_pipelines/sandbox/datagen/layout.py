"""Lay generated frames out as the documented AMC tables, column by column, in DuckDB.

Each instance schema stores compact base tables (``_base_*``: keys, times, metrics) and lookup tables
(``_lookup_*``); each documented table is a view over them. Each documented column resolves, in
order, to: a table-specific expression, a base column, a time part derived from a ``*_dt_utc`` /
``*_dt`` base (date, hour, day, dt_hour), a lookup column, an instance constant, or NULL; always cast
to its documented DuckDB type.
"""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd

from ..tables import Table
from .entities import to_local

# Lookup alias -> (frame name, join key in the event frame, key in the lookup).
LOOKUPS = {
    "u": ("users", "user_idx", "user_idx"),
    "c": ("campaigns", "campaign_key", "campaign_key"),
    "l": ("units", "unit_key", "unit_key"),
    "cr": ("creatives", "creative_key", "creative_key"),
    "s": ("supply", "supply_key", "supply_key"),
    "p": ("placements", "placement_key", "placement_key"),
    "a": ("asins", "asin_idx", "asin_idx"),
    "et": ("event_types", "event_code", "event_code"),
}
_TIME_PART = re.compile(r"^(?P<prefix>.+?)_(?P<part>dt_hour|dt|date|hour|day)(?P<utc>_utc)?$")
_PARTS = {
    "dt": "{b}",
    "date": "CAST({b} AS DATE)",
    "hour": "EXTRACT(hour FROM {b})",
    "day": "EXTRACT(day FROM {b})",
    "dt_hour": "date_trunc('hour', {b})",
}


def write_lookups(con: duckdb.DuckDBPyConnection, schema: str, lookups: dict[str, pd.DataFrame]) -> dict[str, set[str]]:
    """Store the instance's lookup frames as ``_lookup_<name>``; returns alias -> its column names."""
    columns = {}
    for alias, (name, _, key) in LOOKUPS.items():
        write_base(con, schema, f"_lookup_{name}", lookups[name])
        columns[alias] = set(lookups[name].columns) - {key}
    return columns


def write_base(con: duckdb.DuckDBPyConnection, schema: str, name: str, frame: pd.DataFrame) -> set[str]:
    """Store an event or lookup frame as a physical table (in the frame's row order)."""
    con.register("frame_to_store", frame)
    try:
        con.execute(f'CREATE TABLE "{schema}"."{name}" AS SELECT * FROM frame_to_store')
    finally:
        con.unregister("frame_to_store")
    return set(frame.columns)


def add_local_times(frame: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Add ``<p>_dt`` (advertiser-local) beside every ``<p>_dt_utc`` event column."""
    for column in [c for c in frame.columns if c.endswith("_dt_utc")]:
        local = column[: -len("_utc")]
        if local not in frame.columns:
            frame[local] = to_local(frame[column].to_numpy(), timezone)
    return frame


def create_view(con: duckdb.DuckDBPyConnection, *, schema: str, table: Table, base: str, base_columns: set[str],
                lookup_columns: dict[str, set[str]], overrides: dict[str, str], constants: dict[str, object],
                where: str | None = None) -> None:
    """The documented table as a view over its base table and the lookups.

    Only event-level values are stored; names, constants and NULL columns come from the view, which
    keeps generation fast and the file small while queries see every documented column and type.
    """
    aliases = [alias for alias, (_, key, _) in LOOKUPS.items() if key in base_columns]
    available = {alias: lookup_columns[alias] for alias in aliases}

    def source(name: str) -> str | None:
        if name in base_columns:
            return f'ev."{name}"'
        for alias, names in available.items():
            if name in names:
                return f'{alias}."{name}"'
        return None

    select = []
    for column in table.columns:
        expression = overrides.get(column.name)
        if expression is None:
            expression = source(column.name)
        if expression is None and (match := _TIME_PART.match(column.name)):
            base_time = source(f"{match['prefix']}_dt{match['utc'] or ''}")
            if base_time is not None:
                expression = _PARTS[match["part"]].format(b=base_time)
        if expression is None and column.name in constants:
            expression = _literal(constants[column.name])
        select.append(f'CAST({expression or "NULL"} AS {column.duckdb_type}) AS "{column.name}"')
    joins = " ".join(
        f'LEFT JOIN "{schema}"."_lookup_{LOOKUPS[alias][0]}" {alias} '
        f'ON {alias}."{LOOKUPS[alias][2]}" = ev."{LOOKUPS[alias][1]}"'
        for alias in aliases
    )
    con.execute(f'CREATE VIEW "{schema}"."{table.name}" AS SELECT {", ".join(select)} '
                f'FROM "{schema}"."{base}" ev {joins}' + (f" WHERE {where}" if where else ""))


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float | np.integer | np.floating):
        return repr(value.item() if hasattr(value, "item") else value)
    return "'" + str(value).replace("'", "''") + "'"


def event_id(instance_id: str, kind: str, number: str) -> str:
    """Pseudonymous, stable id of a traffic or conversion event from its per-instance number."""
    return f"md5(concat('{instance_id}:{kind}:', {number}))"


def attributed_overrides(instance_id: str, table: Table) -> dict[str, str]:
    """Expressions for the attributed-events tables (one row per conversion and its touch)."""
    is_click = "(ev.kind IN (1, 3))"
    is_dsp = "(ev.kind IN (0, 1))"
    traffic_id = (f"CASE WHEN {is_dsp} THEN {event_id(instance_id, 'dsp', 'ev.event_no')} "
                  f"ELSE {event_id(instance_id, 'sa', 'ev.event_no')} END")
    kinds = {
        "purchases": ("ev.event_code = 0", "1"),
        "product_sales": ("ev.event_code = 0", "ev.sales"),
        "units_sold": ("ev.event_code = 0", "ev.units"),
        "detail_page_view": ("ev.event_code = 1", "1"),
        "add_to_cart": ("ev.event_code = 2", "1"),
    }
    overrides = {
        "traffic_event_id": traffic_id,
        "request_tag": f"CASE WHEN {is_dsp} THEN {traffic_id} END",
        "traffic_event_subtype": f"CASE WHEN {is_click} THEN 'AD_CLICK' ELSE 'AD_IMP' END",
        "traffic_event_type": "'TRAFFIC'",
        "conversions": "1",
        "impressions": f"CASE WHEN {is_click} THEN 0 ELSE 1 END",
        "clicks": f"CASE WHEN {is_click} THEN 1 ELSE 0 END",
        "advertiser_id": f"CASE WHEN {is_dsp} THEN c.advertiser_id END",
        "line_item": "l.line_item",
        "new_to_brand": "ev.event_code = 0 AND ev.new_to_brand",
        "conversion_event_category": "et.event_category",
        "conversion_event_subtype": "et.event_subtype",
        "conversion_event_type": "'CONVERSION'",
        "conversion_event_type_class": "et.event_type_class",
        "conversion_event_type_description": "et.event_type_description",
        "tracked_asin": "CASE WHEN ev.event_code = 0 THEN a.asin END",
        "tracked_item": "a.asin",
        "purchase_unit_price": "ev.unit_price",
        "combined_sales": "CASE WHEN ev.event_code = 0 THEN ev.sales ELSE 0 END",
        "off_amazon_product_sales": "0",
        "off_amazon_conversion_value": "0",
    }
    for name, (condition, value) in kinds.items():
        variants = {
            name: f"{condition} AND ev.promoted",
            f"brand_halo_{name}": f"{condition} AND NOT ev.promoted",
            f"total_{name}": condition,
        }
        if name in ("purchases", "product_sales", "units_sold"):
            ntb = {f"new_to_brand_{k}": f"{v} AND ev.new_to_brand" for k, v in variants.items()}
            variants.update(ntb)
        for metric, predicate in variants.items():
            overrides[metric] = f"CASE WHEN {predicate} THEN {value} ELSE 0 END"
            overrides[f"{metric}_clicks"] = f"CASE WHEN {predicate} AND {is_click} THEN {value} ELSE 0 END"
            overrides[f"{metric}_views"] = f"CASE WHEN {predicate} AND NOT {is_click} THEN {value} ELSE 0 END"
    for name in table.column_names:
        if name.startswith("digital_"):
            overrides[name] = "0"  # no subscription products in this synthetic catalogue
    return overrides


def conversion_overrides(instance_id: str) -> dict[str, str]:
    """Expressions shared by conversions, conversions_with_relevance and conversions_all."""
    purchase = "ev.event_code = 0"
    return {
        "conversion_id": event_id(instance_id, "conv", "ev.conversion_no"),
        "conversions": "1",
        "event_type": "'CONVERSION'",
        "event_category": "et.event_category",
        "event_subtype": "et.event_subtype",
        "event_type_class": "et.event_type_class",
        "event_type_description": "et.event_type_description",
        "new_to_brand": f"{purchase} AND ev.new_to_brand",
        "purchase_unit_price": "ev.unit_price",
        "purchase_retail_program": f"CASE WHEN {purchase} THEN 'Amazon.com' END",
        "total_product_sales": f"CASE WHEN {purchase} THEN ev.sales ELSE 0 END",
        "total_units_sold": f"CASE WHEN {purchase} THEN ev.units ELSE 0 END",
        "combined_sales": f"CASE WHEN {purchase} THEN ev.sales ELSE 0 END",
        "off_amazon_product_sales": "0",
        "off_amazon_conversion_value": "0",
        "tracked_asin": f"CASE WHEN {purchase} THEN a.asin END",
        "tracked_item": "a.asin",
        "engagement_scope": "CASE WHEN ev.promoted THEN 'PROMOTED' ELSE 'BRAND_HALO' END",
        "halo_code": "CASE WHEN ev.promoted THEN 'TRACKED_ASIN' ELSE 'BRAND_GL_PRODUCT' END",
        "exposure_type": "CASE WHEN ev.exposed THEN 'ad-exposed' ELSE 'non-ad-exposed' END",
        "event_source": "'AMAZON_RETAIL'",
    }
