"""The report spec: what one YAML file plus its SQL file declare, as pydantic models.

Shape rules (types, allowed keys, names, cron, time zone) and the rules that relate fields to each
other (unique names and roles, the discriminator column) live here, so a ReportSpec is consistent
however it is built; each ParameterSpec checks its own default, pattern and limits (params.py).
Rules that need the SQL parsed live in ``sql_checks.py``.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from amc_pipelines.params import ParameterSpec

REPORT_NAME_PATTERN = r"^[a-z][a-z0-9_]{1,62}$"
# Output columns become Postgres columns of amc_results.<report>: plain lower-case identifiers.
COLUMN_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
# Columns the loader adds to every result row; a report must not output them itself.
LOADER_COLUMNS = ("definition", "parameters_hash", "instance_id", "week_start", "window_end", "amc_execution_id", "loaded_at")
# Dagster's cron aliases; anything else must be a classic 5-field expression.
CRON_ALIASES = ("@hourly", "@daily", "@weekly", "@monthly")

ColumnType = Literal["string", "integer", "decimal", "double", "boolean", "date", "timestamp"]
ColumnKind = Literal["dimension", "metric"]
MetricRole = Literal["impressions", "clicks", "spend", "purchases", "sales", "ntb_purchases", "ntb_sales", "units", "reach"]
_NUMERIC_TYPES = ("integer", "decimal", "double")


class CatalogError(ValueError):
    """One or more problems in report specs; each line names the file and the field."""

    def __init__(self, *problems: str) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_identifier(value: str, pattern: str, what: str) -> str:
    if not re.fullmatch(pattern, value):
        raise ValueError(
            f"'{value}' is not a valid {what}: use lower-case letters, digits and underscores, "
            f"starting with a letter, at most 63 characters"
        )
    return value


def check_cron(cron: str) -> str:
    """``cron`` with its whitespace normalised, if Dagster's schedules accept it; else ValueError saying why."""
    from croniter import croniter

    cron = " ".join(cron.split())
    if cron in CRON_ALIASES:
        return cron
    if len(cron.split()) != 5:
        raise ValueError(
            f"'{cron}' is not a 5-field cron expression (minute hour day-of-month month day-of-week), "
            f"e.g. '0 6 * * 2'; aliases: {', '.join(CRON_ALIASES)}"
        )
    if not croniter.is_valid(cron):
        try:
            croniter(cron)
        except Exception as error:  # croniter's errors say which field is out of range
            raise ValueError(f"'{cron}' is not a valid cron expression: {error}") from None
        raise ValueError(f"'{cron}' is not a valid cron expression")
    return cron


class OutputColumn(_Strict):
    name: str
    type: ColumnType
    kind: ColumnKind
    role: MetricRole | None = None  # the canonical metric this column holds, for marts and insights
    description: str = ""

    @field_validator("name")
    @classmethod
    def _column_name(cls, name: str) -> str:
        check_identifier(name, COLUMN_NAME_PATTERN, "column name")
        if name in LOADER_COLUMNS:
            raise ValueError(
                f"'{name}' is added to every result row by the loader ({', '.join(LOADER_COLUMNS)}); "
                "remove it from the select list and from output_columns"
            )
        return name

    @model_validator(mode="after")
    def _role_on_numeric_metric(self) -> OutputColumn:
        if self.role is not None and (self.kind != "metric" or self.type not in _NUMERIC_TYPES):
            raise ValueError(
                f"role '{self.role}' needs a metric column of a numeric type "
                f"({', '.join(_NUMERIC_TYPES)}), not a {self.type} {self.kind}"
            )
        return self


class PrivacySpec(_Strict):
    # REMOVE_ROWS drops rows under their aggregation threshold; REMOVE_VALUES keeps them with NULL values.
    behavior: Literal["REMOVE_ROWS", "REMOVE_VALUES"] = "REMOVE_ROWS"
    # AMC appends this boolean column (true = the row's values were filtered) after the select list.
    discriminator_column: str | None = None

    @field_validator("discriminator_column")
    @classmethod
    def _column_name(cls, name: str | None) -> str | None:
        return None if name is None else check_identifier(name, COLUMN_NAME_PATTERN, "column name")


class ScheduleSpec(_Strict):
    cron: str = "0 6 * * 2"  # Tuesdays 06:00: the previous week is past the default 48 h data lag
    timezone: str | None = None  # None: the instance's time zone

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, cron: str) -> str:
        return check_cron(cron)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, timezone: str | None) -> str | None:
        if timezone is None:
            return None
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{timezone}': use an IANA name such as 'America/New_York' or 'UTC', "
                "or leave it out to use the instance's time zone"
            ) from None
        return timezone


class ReportSpec(_Strict):
    """One report: its YAML fields, its SQL and where they came from."""

    name: str
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    parameters: list[ParameterSpec] = Field(default_factory=list)
    output_columns: list[OutputColumn] = Field(min_length=1)
    privacy: PrivacySpec = Field(default_factory=PrivacySpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    data_lag_hours: int | None = Field(default=None, ge=0, le=24 * 30)
    settle_days: int | None = Field(default=None, ge=0, le=90)
    # Filled by the loader, never written in the YAML.
    sql: str = Field(min_length=1)
    source_path: Path
    sql_path: Path | None = None

    @field_validator("name")
    @classmethod
    def _report_name(cls, name: str) -> str:
        return check_identifier(name, REPORT_NAME_PATTERN, "report name (it names the result table and the AMC workflow)")

    @model_validator(mode="after")
    def _consistent(self) -> ReportSpec:
        problems = [*_parameter_problems(self.parameters), *_column_problems(self)]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def sql_hash(self) -> str:
        """sha256 (hex) of the SQL as sent to AMC: comments and layout do not change it."""
        return hashlib.sha256(self.amc_sql().encode()).hexdigest()

    @property
    def workflow_id(self) -> str:
        return f"{self.name}-{self.sql_hash[:12]}"

    @property
    def dimension_columns(self) -> list[OutputColumn]:
        return [c for c in self.output_columns if c.kind == "dimension"]

    @property
    def metric_columns(self) -> list[OutputColumn]:
        return [c for c in self.output_columns if c.kind == "metric"]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.output_columns]

    def amc_sql(self) -> str:
        """The SQL as sent to AMC: one line, no comments, no trailing semicolon."""
        return one_line_sql(self.sql)


def _parameter_problems(parameters: list[ParameterSpec]) -> list[str]:
    """Each parameter checks itself (type, pattern, default...); names must also be unique."""
    problems: list[str] = []
    first_index: dict[str, int] = {}
    for index, parameter in enumerate(parameters):
        if parameter.name in first_index:
            problems.append(
                f"parameters[{index}].name: '{parameter.name}' is already declared as parameters[{first_index[parameter.name]}]"
            )
        first_index.setdefault(parameter.name, index)
    return problems


def _column_problems(spec: ReportSpec) -> list[str]:
    problems: list[str] = []
    first_index: dict[str, int] = {}
    role_index: dict[str, int] = {}
    for index, column in enumerate(spec.output_columns):
        if column.name in first_index:
            problems.append(f"output_columns[{index}].name: '{column.name}' is already output_columns[{first_index[column.name]}]")
        first_index.setdefault(column.name, index)
        if column.role is not None:
            if column.role in role_index:
                problems.append(
                    f"output_columns[{index}].role: '{column.role}' is already the role of "
                    f"output_columns[{role_index[column.role]}] ({spec.output_columns[role_index[column.role]].name})"
                )
            role_index.setdefault(column.role, index)
    discriminator = spec.privacy.discriminator_column
    if discriminator is not None:
        last = spec.output_columns[-1]
        if discriminator not in first_index:
            problems.append(
                f"privacy.discriminator_column: '{discriminator}' is not one of the output columns; AMC appends it "
                f"after the select list, so declare it last in output_columns (type: boolean, kind: dimension)"
            )
        elif last.name != discriminator or last.type != "boolean":
            problems.append(
                f"privacy.discriminator_column: '{discriminator}' must be the last output column, of type boolean "
                "(AMC appends it after the select list)"
            )
    return problems


@lru_cache(maxsize=256)
def one_line_sql(sql: str) -> str:
    """``sql`` on one line: comments dropped, each run of whitespace or comments between two tokens
    becomes one space, string literals untouched, trailing semicolons removed."""
    import sqlglot

    tokens = sqlglot.Dialect.get_or_raise("spark").tokenize(sql)
    while tokens and tokens[-1].token_type == sqlglot.TokenType.SEMICOLON:
        tokens.pop()
    pieces: list[str] = []
    previous_end = None
    for token in tokens:
        if previous_end is not None and token.start > previous_end + 1:
            pieces.append(" ")
        pieces.append(sql[token.start : token.end + 1])
        previous_end = token.end
    return "".join(pieces)

