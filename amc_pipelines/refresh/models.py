"""One refreshed table as its YAML file declares it (``amc_pipelines/refresh/tables/*.yaml``).

Rules about one file live here (shapes, names, cron, durations, bounds, fields that must agree with
each other); rules across files (unknown or cyclic dependencies, duplicate names and targets) live in
``registry.py``. ``example_table.yaml`` documents every field.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from amc_pipelines.catalog.models import (
    COLUMN_NAME_PATTERN,
    REPORT_NAME_PATTERN,
    check_cron,
    check_identifier,
)
from amc_pipelines.params.durations import iso_duration

TARGET_SCHEMA = "sqp"  # every refreshed table lands here; control, audit and shadow tables never do
MODES = ("disabled", "dry_run", "shadow", "live")
Mode = Literal["disabled", "dry_run", "shadow", "live"]
DEFAULT_SCHEDULE = "0 2 * * *"  # daily 02:00 UTC
# A page is held decoded while it is loaded: the client's JSON makes a dict per cell, about 1 KB a row
# of the SQP table's 46 columns, so 5,000 rows keep a refresh near 300 MB (docs/benchmarks.md).
MIN_PAGE_SIZE, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE = 100, 100_000, 5_000
MIN_PRIORITY, MAX_PRIORITY = -100, 100
MAX_OVERLAP = timedelta(days=90)
# BigQuery names: a dataset is letters, digits and underscores; a table may also hold hyphens
# (connectors write e.g. `seller-search_query_performance`); a project id is lower-case with hyphens.
SOURCE_TABLE_PATTERN = r"^(?:(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9])\.)?(?P<dataset>[A-Za-z0-9_]{1,1024})\.(?P<table>[A-Za-z0-9_-]{1,1024})$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _column(name: str) -> str:
    return check_identifier(name, COLUMN_NAME_PATTERN, "column name")


def _unique_columns(names: list[str], what: str) -> list[str]:
    for name in names:
        _column(name)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{', '.join(repeated)} listed twice in {what}: list each column once")
    return names


class Source(_Strict):
    """Where the rows come from: a BigQuery table or a GoogleSQL query, exactly one."""

    table: str | None = None
    query: str | None = None

    @field_validator("table")
    @classmethod
    def _table(cls, table: str | None) -> str | None:
        if table is not None and not re.fullmatch(SOURCE_TABLE_PATTERN, table):
            raise ValueError(
                f"'{table}' is not a BigQuery table: write dataset.table (or project.dataset.table), "
                "e.g. brand_analytics.search_query_performance, without backticks"
            )
        return table

    @field_validator("query")
    @classmethod
    def _query(cls, query: str | None) -> str | None:
        if query is None:
            return None
        import sqlglot
        from sqlglot import exp
        from sqlglot.errors import ParseError

        try:
            statements = [s for s in sqlglot.parse(query, read="bigquery") if s is not None]
        except ParseError as error:
            first = error.errors[0] if error.errors else {}
            where = f" at line {first.get('line')}, column {first.get('col')}" if first else ""
            raise ValueError(f"the query is not valid GoogleSQL{where}: {first.get('description') or error}") from None
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            raise ValueError("the query must be one SELECT statement (no DML, DDL or scripts)")
        return query

    @model_validator(mode="after")
    def _exactly_one(self) -> Source:
        if (self.table is None) == (self.query is None):
            both = "both" if self.table is not None else "neither"
            raise ValueError(
                f"{both} table: and query: given: set exactly one, table: dataset.table to copy a table, "
                "or query: to copy the result of a GoogleSQL query"
            )
        return self

    @property
    def dataset_table(self) -> tuple[str | None, str, str] | None:
        """(project or None, dataset, table) of a table source; None for a query."""
        if self.table is None:
            return None
        match = re.fullmatch(SOURCE_TABLE_PATTERN, self.table)
        assert match is not None  # checked by the validator
        return match["project"], match["dataset"], match["table"]

    def referenced_tables(self) -> set[tuple[str, str]]:
        """(dataset, table) pairs this source reads (for a query, every table it names but CTEs)."""
        if self.table is not None:
            _, dataset, table = self.dataset_table
            return {(dataset, table)}
        import sqlglot
        from sqlglot import exp

        tree = sqlglot.parse_one(self.query, read="bigquery")
        ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        return {(t.db, t.name) for t in tree.find_all(exp.Table) if t.db and t.name not in ctes}


class Watermark(_Strict):
    """Rows changed since the last run: ``column`` > last seen value minus ``overlap`` (late data)."""

    column: str
    overlap: timedelta = timedelta(0)

    @field_validator("column")
    @classmethod
    def _name(cls, column: str) -> str:
        return _column(column)

    @field_validator("overlap", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        if isinstance(value, timedelta):
            return value
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a duration: write an ISO-8601 duration such as P3D (3 days) or PT12H")
        overlap = iso_duration(value)
        if overlap > MAX_OVERLAP:
            raise ValueError(f"'{value}' is longer than {MAX_OVERLAP.days} days: re-reading that much every run is a full refresh")
        return overlap


class Dependencies(_Strict):
    """Names of other refreshed tables. A failed hard dependency skips this table; a soft one only warns."""

    hard: list[str] = Field(default_factory=list)
    soft: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _disjoint(self) -> Dependencies:
        both = sorted(set(self.hard) & set(self.soft))
        if both:
            raise ValueError(f"{', '.join(both)} is both a hard and a soft dependency: keep it in one list")
        return self

    @property
    def all(self) -> list[str]:
        return [*self.hard, *self.soft]


class MetricSum(_Strict):
    column: str
    # Allowed |shadow - live| / |live| of the column's sum per week; 0 (the default) means exact,
    # right for integer and NUMERIC columns; FLOAT sums depend on summation order and need one.
    tolerance: float = Field(default=0.0, ge=0.0, le=1.0)

    @field_validator("column")
    @classmethod
    def _name(cls, column: str) -> str:
        return _column(column)


class Validation(_Strict):
    """How a shadow table is compared with the live one after each shadow run."""

    row_counts_by_week: bool = True
    key_differences: bool = True
    checksum_columns: Literal["all"] | list[str] = "all"
    metric_sums: list[MetricSum] = Field(default_factory=list)
    passes_for_cutover: int = Field(default=3, ge=1, le=100)

    @field_validator("checksum_columns")
    @classmethod
    def _checksum_columns(cls, columns: str | list[str]) -> str | list[str]:
        return columns if columns == "all" else _unique_columns(columns, "checksum_columns")

    @model_validator(mode="after")
    def _unique_sums(self) -> Validation:
        _unique_columns([metric.column for metric in self.metric_sums], "metric_sums")
        return self


class TableConfig(_Strict):
    """One refreshed table: its YAML fields and the file they came from."""

    name: str
    description: str = Field(min_length=1)
    source: Source
    target: str = ""  # "sqp.<table>" or "<table>"; empty: sqp.<name>
    columns: list[str] | None = None  # the source's columns, when declared: keys and rules are checked against them
    key_columns: list[str] = Field(min_length=1)
    watermark: Watermark | None = None  # None: every run reads the whole source
    partition_column: str | None = None  # the week column; rows are replaced and validated by it
    priority: int = Field(default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    dependencies: Dependencies = Field(default_factory=Dependencies)
    schedule: str = DEFAULT_SCHEDULE
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=MIN_PAGE_SIZE, le=MAX_PAGE_SIZE)
    mode: Mode = "dry_run"
    on_source_delete: Literal["ignore", "delete"] = "ignore"
    on_schema_drift: Literal["stop", "add_columns"] = "stop"
    validation: Validation = Field(default_factory=Validation)
    source_path: Path  # filled by the loader

    @field_validator("name")
    @classmethod
    def _table_name(cls, name: str) -> str:
        return check_identifier(name, REPORT_NAME_PATTERN, "table name (it names the Dagster asset sqp/<name>)")

    @field_validator("target")
    @classmethod
    def _target(cls, target: str) -> str:
        schema, _, table = target.rpartition(".")
        if schema and schema != TARGET_SCHEMA:
            raise ValueError(
                f"schema '{schema}' is not allowed: refreshed tables live in the Postgres schema {TARGET_SCHEMA} "
                f"(audit, checkpoints, settings and shadow tables have their own); write {TARGET_SCHEMA}.{table} or {table}"
            )
        if table:
            check_identifier(table, COLUMN_NAME_PATTERN, "Postgres table name")
        return table

    @field_validator("schedule")
    @classmethod
    def _cron(cls, schedule: str) -> str:
        return check_cron(schedule)

    @field_validator("columns")
    @classmethod
    def _columns(cls, columns: list[str] | None) -> list[str] | None:
        return None if columns is None else _unique_columns(columns, "columns")

    @field_validator("key_columns")
    @classmethod
    def _keys(cls, columns: list[str]) -> list[str]:
        return _unique_columns(columns, "key_columns")

    @field_validator("partition_column")
    @classmethod
    def _partition(cls, column: str | None) -> str | None:
        return None if column is None else _column(column)

    @model_validator(mode="after")
    def _consistent(self) -> TableConfig:
        problems = _column_problems(self)
        if self.name in self.dependencies.all:
            field = "hard" if self.name in self.dependencies.hard else "soft"
            problems.append(f"dependencies.{field}: '{self.name}' depends on itself: remove it from the list")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def target_table(self) -> str:
        return self.target or self.name

    @property
    def qualified_target(self) -> str:
        return f"{TARGET_SCHEMA}.{self.target_table}"


def _column_problems(config: TableConfig) -> list[str]:
    """Each line starts with the field it is about (the loader prefixes the file)."""
    problems = []
    declared = config.columns
    where = "not among columns: declare it there or fix the name"
    if declared is not None:
        problems += [f"key_columns: '{c}' is {where}" for c in config.key_columns if c not in declared]
        if config.watermark is not None and config.watermark.column not in declared:
            problems.append(f"watermark.column: '{config.watermark.column}' is {where}")
        if isinstance(config.validation.checksum_columns, list):
            problems += [f"validation.checksum_columns: '{c}' is {where}"
                         for c in config.validation.checksum_columns if c not in declared]
        problems += [f"validation.metric_sums: '{m.column}' is {where}"
                     for m in config.validation.metric_sums if m.column not in declared]
    if config.watermark is not None and config.watermark.column in config.key_columns:
        problems.append(
            f"watermark.column: '{config.watermark.column}' is a key column; the watermark is the time a row last "
            "changed (e.g. updated_at), which must not identify the row"
        )
    if config.partition_column is not None and config.partition_column not in config.key_columns:
        problems.append(
            f"partition_column: '{config.partition_column}' is not one of key_columns; the week column must be part "
            "of every row's key, since a week's rows are replaced and validated together: add it to key_columns"
        )
    metric_keys = sorted({m.column for m in config.validation.metric_sums} & set(config.key_columns))
    if metric_keys:
        problems.append(f"validation.metric_sums: {', '.join(metric_keys)} is a key column: sum metrics, not keys")
    return problems
