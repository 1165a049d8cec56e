"""What the database needs before dbt runs: input checks, result tables, definitions, currencies."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from amc_pipelines.marts.dbt import DBT_PROJECT_DIR

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from amc_pipelines.catalog import ReportSpec
    from amc_pipelines.catalog.definitions import ReportDefinition

SEED_PATH = DBT_PROJECT_DIR / "seeds" / "marketplaces.csv"
_LOCK_KEY = "amc:marts:dbt"


class MartsError(ValueError):
    """The marts cannot be built from this catalog or registry; the message names what to fix."""


@dataclass(frozen=True)
class MartInput:
    """A template the marts read: the metric roles and the dimension columns its staging model selects.

    The staging model reads each role from the column named like the role (``spend`` holds role
    ``spend``), so a spec that moves a role to another column fails here, not with a SQL error.
    ``metrics`` are the metric columns it reads by name whatever their role (distinct-user counts).
    ``nulls_mean_zero``: the staging model reads a NULL measure as zero, true only when AMC drops the
    rows under its aggregation threshold (privacy REMOVE_ROWS, no discriminator column), so a spec that
    makes AMC withhold values as NULL instead fails.
    ``currency_column``: the dimension in which AMC says which currency a row's money is in; every
    row's must be its instance's currency (:func:`check_currencies`).
    """

    template: str
    roles: tuple[str, ...]
    dimensions: tuple[str, ...]
    model: str  # the staging model that reads it, for the messages
    metrics: tuple[str, ...] = ()
    nulls_mean_zero: bool = False
    currency_column: str | None = None


MART_INPUTS: tuple[MartInput, ...] = (
    MartInput(
        "campaign_performance",
        roles=("impressions", "clicks", "spend", "purchases", "sales", "ntb_purchases", "ntb_sales"),
        # event_date: the daily grain weeks and months are summed from; privacy_filtered: the
        # discriminator flagging campaign-days whose measures AMC withheld (privacy_withheld_days).
        dimensions=("ad_product", "campaign_id", "campaign", "event_date", "privacy_filtered", "currency"),
        model="dbt_project/models/staging/stg_campaign_performance.sql",
        currency_column="currency",
    ),
    MartInput(
        "new_to_brand",
        roles=("purchases", "ntb_purchases", "sales", "ntb_sales", "units"),
        metrics=("purchasers", "ntb_purchasers"),
        dimensions=("ad_product",),
        model="dbt_project/models/staging/stg_new_to_brand.sql",
        nulls_mean_zero=True,
    ),
    MartInput(
        "reach_frequency",
        roles=("reach", "impressions", "spend"),
        dimensions=("ad_product", "campaign_id", "campaign"),
        model="dbt_project/models/staging/stg_reach_frequency.sql",
        nulls_mean_zero=True,
    ),
    MartInput(
        "path_to_conversion",
        roles=("purchases", "sales"),
        metrics=("users", "purchasers"),
        dimensions=("path", "path_length"),
        model="dbt_project/models/staging/stg_path_to_conversion.sql",
        nulls_mean_zero=True,
    ),
    MartInput(
        "sp_dsp_overlap",
        roles=("purchases", "sales"),
        metrics=("users", "purchasers"),
        dimensions=("exposure_group",),
        model="dbt_project/models/staging/stg_sp_dsp_overlap.sql",
        nulls_mean_zero=True,
    ),
    MartInput(
        "time_to_conversion",
        roles=("purchases", "sales"),
        metrics=("purchasers",),
        dimensions=("ad_product", "time_to_conversion"),
        model="dbt_project/models/staging/stg_time_to_conversion.sql",
        nulls_mean_zero=True,
    ),
    MartInput(
        "asin_performance",
        roles=("purchases", "units", "sales", "ntb_purchases", "ntb_sales"),
        metrics=("brand_halo_purchases", "purchasers"),
        dimensions=("asin",),
        model="dbt_project/models/staging/stg_asin_performance.sql",
        nulls_mean_zero=True,
    ),
)


def check_mart_inputs(catalog: Mapping[str, ReportSpec], inputs: Iterable[MartInput] = MART_INPUTS) -> None:
    """Refuse a catalog whose templates lack a column or metric role the marts read (names report and column)."""
    problems = []
    for need in inputs:
        spec = catalog.get(need.template)
        if spec is None:
            problems.append(f"report '{need.template}': the marts read it ({need.model}) but the catalog has no such report")
            continue
        by_name = {c.name: c for c in spec.output_columns}
        by_role = {c.role: c for c in spec.output_columns if c.role is not None}
        for role in need.roles:
            holder = by_role.get(role)
            if holder is None:
                column = by_name.get(role)
                where = (f"column '{role}' has no role" if column is not None and column.kind == "metric"
                         else f"no output column '{role}'" if column is None else f"column '{role}' is a {column.kind}")
                problems.append(f"report '{need.template}', column '{role}': the marts need a metric column with "
                                f"role '{role}' ({where}); declare it in the report's output_columns with role: {role}")
            elif holder.name != role:
                problems.append(f"report '{need.template}', column '{holder.name}': it holds role '{role}', but "
                                f"{need.model} reads that role from a column named '{role}'; rename the column "
                                f"(or the staging model's select)")
        for dimension in need.dimensions:
            if dimension not in by_name:
                problems.append(f"report '{need.template}', column '{dimension}': the marts group by this dimension "
                                f"and the report has no such output column")
        for metric in need.metrics:
            column = by_name.get(metric)
            if column is None or column.kind != "metric":
                problems.append(f"report '{need.template}', column '{metric}': {need.model} reads this metric and the "
                                f"report has {'no such output column' if column is None else 'it as a ' + column.kind}")
        privacy = spec.privacy
        if need.nulls_mean_zero and (privacy.behavior != "REMOVE_ROWS" or privacy.discriminator_column is not None):
            column = (f"column '{privacy.discriminator_column}'" if privacy.discriminator_column
                      else "privacy.behavior")
            problems.append(f"report '{need.template}', {column}: privacy {privacy.behavior}"
                            f"{' with a discriminator column' if privacy.discriminator_column else ''} keeps rows "
                            f"under AMC's aggregation threshold with NULL values, but {need.model} reads a NULL "
                            f"as zero; the marts need privacy REMOVE_ROWS without a discriminator column")
    if problems:
        raise MartsError("the marts cannot read the catalog:\n  " + "\n  ".join(problems))


def marketplace_currencies() -> dict[str, str]:
    """marketplace_id -> currency, from the dbt seed."""
    with SEED_PATH.open(newline="") as handle:
        return {row["marketplace_id"]: row["currency"] for row in csv.DictReader(handle)}


def check_currencies(engine: Engine, inputs: Iterable[MartInput] = MART_INPUTS) -> None:
    """Every instance with a loaded week of these templates has a marketplace the seed gives a
    currency, and every result row that says its currency (``currency_column``) is in that currency:
    the marts label money with the instance's currency and never mix two."""
    from sqlalchemy import text

    inputs = tuple(inputs)
    known = marketplace_currencies()
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT DISTINCT e.instance_id, i.marketplace_id
            FROM amc.executions e LEFT JOIN amc.instances i USING (instance_id)
            WHERE e.status = 'LOADED' AND e.report_name = ANY(:templates)
            ORDER BY 1
        """), {"templates": [need.template for need in inputs]}).all()
        marketplaces = dict(conn.execute(text("SELECT instance_id, marketplace_id FROM amc.instances")).all())
        stated = []  # (need, instance, currency, first week, last week, rows), currencies AMC stated
        for need in inputs:
            if need.currency_column is None or conn.execute(
                    text("SELECT to_regclass(:t)"), {"t": f"amc_results.{need.template}"}).scalar() is None:
                continue
            # Catalog identifiers (checked at load), not user input. NULL: rows loaded before the column existed.
            stated += [(need, *row) for row in conn.execute(text(f"""
                SELECT instance_id, {need.currency_column}, min(week_start), max(week_start), count(*)
                FROM amc_results.{need.template}
                WHERE {need.currency_column} IS NOT NULL
                GROUP BY 1, 2 ORDER BY 1, 2
            """)).all()]
    problems = []
    for instance_id, marketplace_id in rows:
        if marketplace_id is None:
            problems.append(f"instance {instance_id} has loaded weeks but is not in the instance registry, so its "
                            f"currency is unknown; register it again (amc instances add) or delete its results")
        elif marketplace_id not in known:
            problems.append(f"instance {instance_id}: marketplace {marketplace_id} is not in "
                            f"dbt_project/seeds/marketplaces.csv, so the marts cannot tell its currency; add the "
                            f"marketplace with its country and currency to the seed")
    for need, instance_id, currency, first, last, count in stated:
        expected = known.get(marketplaces.get(instance_id, ""))
        if expected is not None and currency != expected:
            problems.append(
                f"report '{need.template}', column '{need.currency_column}': instance {instance_id} has {count} "
                f"rows in {currency} (weeks {first} to {last}), but its marketplace {marketplaces[instance_id]} "
                f"trades in {expected}; the marts never mix currencies: correct the instance's marketplace "
                f"(amc instances) or re-collect those weeks from the right instance")
    if problems:
        raise MartsError("\n".join(problems))


def sync_report_definitions(engine: Engine, definitions: Mapping[str, ReportDefinition]) -> int:
    """Replace ``amc.report_definitions`` with these definitions (one transaction); returns how many."""
    from sqlalchemy import delete, insert

    from amc_pipelines.db.models import report_definitions

    rows = [{"name": d.name, "template": d.template.name, "parameters_hash": d.parameters_hash,
             "implicit": d.implicit, "parameters": d.parameters} for d in definitions.values()]
    with engine.begin() as conn:
        conn.execute(delete(report_definitions))
        if rows:
            conn.execute(insert(report_definitions), rows)
    return len(rows)


def prepare_database(engine: Engine, catalog: Mapping[str, ReportSpec],
                     definitions: Mapping[str, ReportDefinition]) -> None:
    """Everything dbt needs in the database, in order (see the package docstring)."""
    from amc_pipelines.results import ensure_result_table

    check_mart_inputs(catalog)
    for need in MART_INPUTS:
        ensure_result_table(engine, catalog[need.template])
    sync_report_definitions(engine, definitions)
    check_currencies(engine)


@contextlib.contextmanager
def build_lock(engine: Engine) -> Iterator[None]:
    """One dbt build at a time on a database: concurrent builds would race on replacing the staging
    views and on the same incremental tables. A session advisory lock, released when the block ends."""
    from sqlalchemy import text

    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(hashtextextended(:key, 0))"), {"key": _LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))"), {"key": _LOCK_KEY})
            conn.commit()
