"""The BigQuery side of a copy: the source's schema, the read query, the query job and its pages.

Everything goes through the real ``google.cloud.bigquery.Client`` with its own retry policies
(``retry`` for each API call: 5xx, ``rateLimitExceeded``, dropped connections; ``job_retry`` for a
failed query job, which the client restarts as a new job). Pages are read from the job's
destination table with ``client.list_rows(..., page_size, page_token)``, so a copy can resume from a
stored page token. A page's rows are taken from the raw ``tabledata.list`` response
(``Page.raw_page``): BigQuery sends every value as a string, which is what COPY wants, so the client
does not convert each cell to a Python object only for COPY to turn it back into text.

Every value in a query is a query parameter; column and table names come from the source's own
schema and the validated config, quoted with backticks.
"""

from __future__ import annotations

import base64
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from amc_pipelines.catalog.loader import show_path
from amc_pipelines.refresh.models import TableConfig

if TYPE_CHECKING:
    from google.cloud import bigquery

# BigQuery's legacy type names (what tables.get reports) and the standard ones, to one spelling.
CANONICAL_TYPES = {
    "INTEGER": "INT64", "INT64": "INT64", "FLOAT": "FLOAT64", "FLOAT64": "FLOAT64", "NUMERIC": "NUMERIC",
    "BIGNUMERIC": "BIGNUMERIC", "STRING": "STRING", "DATE": "DATE", "TIMESTAMP": "TIMESTAMP",
    "DATETIME": "DATETIME", "BOOLEAN": "BOOL", "BOOL": "BOOL", "BYTES": "BYTES", "TIME": "TIME",
}
WATERMARK_TYPES = ("TIMESTAMP", "DATETIME", "DATE")
SOURCE_ALIAS = "_refresh_source"  # the CTE a query source is wrapped in
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RefreshError(Exception):
    """A table cannot be refreshed; the message says what and how to fix it. Recorded, never raised
    out of ``copy_table``. ``retryable``: whether running again soon may succeed (not for a config or
    schema problem)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ResultsExpired(Exception):
    """The job's results are gone (404 on a page): the copy restarts the table with a new job."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # canonical (CANONICAL_TYPES values)

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type}


def fields_from_json(items: list[dict[str, str]]) -> list[Field]:
    return [Field(item["name"], item["type"]) for item in items]


def where(config: TableConfig) -> str:
    """The source as messages name it: the table, or the table's file for a query."""
    return config.source.table or f"the query of {show_path(config.source_path)}"


def _fields(schema: list[Any], config: TableConfig) -> list[Field]:
    fields = []
    for field in schema:
        kind = CANONICAL_TYPES.get(field.field_type.upper())
        if field.mode == "REPEATED" or kind is None:
            what = f"REPEATED {field.field_type}" if field.mode == "REPEATED" else field.field_type
            raise RefreshError(
                f"{show_path(config.source_path)}: column '{field.name}' of {where(config)} is {what}, which has no "
                f"Postgres column type here; select it as a scalar (e.g. TO_JSON_STRING({field.name})) in a query: source")
        fields.append(Field(field.name, kind))
    return fields


def source_fields(client: bigquery.Client, config: TableConfig, *, retry: Any) -> list[Field]:
    """The source's columns: tables.get for a table, a dry-run query job for a query (no bytes billed)."""
    from google.cloud import bigquery

    if config.source.table is not None:
        table = client.get_table(table_path(client, config), retry=retry)
        fields = _fields(list(table.schema), config)
    else:
        job = client.query(config.source.query, job_config=bigquery.QueryJobConfig(dry_run=True, use_query_cache=False),
                           retry=retry)
        fields = _fields(list(job.schema or []), config)
    check_fields(config, fields)
    return fields


def table_path(client: bigquery.Client, config: TableConfig) -> str:
    project, dataset, table = config.source.dataset_table
    return f"{project or client.project}.{dataset}.{table}"


def check_fields(config: TableConfig, fields: list[Field]) -> None:
    """The columns the config names exist at the source, and the watermark has a time type."""
    file = show_path(config.source_path)
    types = {field.name: field.type for field in fields}
    problems = []
    named = [("key_columns", column) for column in config.key_columns]
    if config.partition_column:
        named.append(("partition_column", config.partition_column))
    if config.watermark is not None:
        named.append(("watermark.column", config.watermark.column))
    named += [("columns", column) for column in config.columns or []]
    for field_name, column in named:
        if column not in types:
            problems.append(f"{file}: {field_name}: '{column}' is not a column of {where(config)} "
                            f"(it has {', '.join(types)}); fix the name")
    if config.watermark is not None and types.get(config.watermark.column, "TIMESTAMP") not in WATERMARK_TYPES:
        column = config.watermark.column
        problems.append(f"{file}: watermark.column: '{column}' is {types[column]} in {where(config)}; a watermark "
                        f"must be a {', '.join(WATERMARK_TYPES[:-1])} or {WATERMARK_TYPES[-1]} column (when the row "
                        "last changed)")
    if problems:
        raise RefreshError("\n".join(problems))


def read_query(client: bigquery.Client, config: TableConfig, fields: list[Field],
               since: datetime | None) -> tuple[str, list[Any]]:
    """The GoogleSQL that reads what this run needs, and its parameters.

    ``since`` None: every row. Otherwise rows whose watermark is >= since; with a partition column,
    every row of each week holding such a row, so that a row deleted at the source within a week
    is seen missing.
    """
    from google.cloud import bigquery

    columns = ", ".join(f"`{field.name}`" for field in fields)
    if config.source.table is not None:
        prefix, source = "", f"`{table_path(client, config)}`"
    else:
        query = config.source.query.strip().rstrip(";")
        prefix, source = f"WITH {SOURCE_ALIAS} AS (\n{query}\n)\n", SOURCE_ALIAS
    if since is None:
        return f"{prefix}SELECT {columns} FROM {source}", []
    watermark = config.watermark.column
    kind = {field.name: field.type for field in fields}[watermark]
    value: Any = since
    if kind == "DATETIME":
        value = since.astimezone(UTC).replace(tzinfo=None)
    elif kind == "DATE":
        value = since.astimezone(UTC).date()
    parameters = [bigquery.ScalarQueryParameter("since", kind, value)]
    changed = f"`{watermark}` >= @since"
    if config.partition_column:
        week = f"`{config.partition_column}`"
        condition = f"{week} IN (SELECT DISTINCT {week} FROM {source} WHERE {changed})"
    else:
        condition = changed
    return f"{prefix}SELECT {columns} FROM {source} WHERE {condition}", parameters


def as_timestamp(value: Any) -> datetime | None:
    """A watermark value (TIMESTAMP, DATETIME taken as UTC, or DATE at midnight UTC) as an aware time."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise TypeError(f"not a watermark value: {value!r}")


@dataclass
class Job:
    job_id: str
    location: str | None
    destination: dict[str, str]  # projectId, datasetId, tableId
    fields: list[Field]
    bytes_processed: int | None


def run_query(client: bigquery.Client, sql: str, parameters: list[Any], config: TableConfig, *,
              retry: Any, job_retry: Any) -> Job:
    """Run the read query and wait for it (a failed job is restarted by ``job_retry``), reading no rows."""
    from google.cloud import bigquery

    job_config = bigquery.QueryJobConfig(query_parameters=parameters, use_legacy_sql=False)
    job = client.query(sql, job_config=job_config, retry=retry, job_retry=job_retry)
    # maxResults=0 while waiting: the rows are read from the destination table, page by page.
    job.result(retry=retry, job_retry=job_retry, max_results=0)
    destination = job.destination
    return Job(job.job_id, job.location,
               {"projectId": destination.project, "datasetId": destination.dataset_id, "tableId": destination.table_id},
               _fields(list(job.schema or []), config), job.total_bytes_processed)


def pages(client: bigquery.Client, job: Job, *, page_size: int, page_token: str | None,
          retry: Any) -> Iterator[tuple[list[list[Any]], str | None]]:
    """The job's rows from ``page_token`` on (None: the first page): per page, its rows as COPY-ready
    values (strings as BigQuery sent them; TIMESTAMPs and BYTES converted) and the token of the
    page after it (None after the last). A 404 (results expired) raises ResultsExpired."""
    from google.api_core.exceptions import NotFound
    from google.cloud import bigquery

    reference = bigquery.TableReference(
        bigquery.DatasetReference(job.destination["projectId"], job.destination["datasetId"]), job.destination["tableId"])
    schema = [bigquery.SchemaField(field.name, field.type) for field in job.fields]
    # A Table with its schema: list_rows then needs no tables.get before the first page.
    iterator = client.list_rows(bigquery.Table(reference, schema=schema), page_size=page_size,
                                page_token=page_token, retry=retry)
    converters = [(index, _CONVERTERS[field.type]) for index, field in enumerate(job.fields)
                  if field.type in _CONVERTERS]
    try:
        for page in iterator.pages:
            raw = (page.raw_page or {}).get("rows") or []
            rows = [list(map(_CELL_VALUE, row["f"])) for row in raw]  # map runs in C, per cell
            raw.clear()  # the page's JSON holds a dict per cell: free it before the COPY, not after
            for index, convert in converters:
                for row in rows:
                    if row[index] is not None:
                        row[index] = convert(row[index])
            yield rows, iterator.next_page_token
    except NotFound as error:
        raise ResultsExpired(str(error)) from error


def _timestamp(value: str) -> datetime:
    # The client asks for formatOptions.useInt64Timestamp: microseconds since the epoch.
    return _EPOCH + timedelta(microseconds=int(value))


_CONVERTERS = {"TIMESTAMP": _timestamp, "BYTES": base64.b64decode}
_CELL_VALUE = operator.itemgetter("v")
