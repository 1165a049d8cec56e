"""Query jobs: run on a worker thread into a results table, read back page by page in BigQuery's
row JSON (``{"f": [{"v": ...}]}``), and expire like BigQuery's anonymous result tables.

Rows are encoded by DuckDB itself (one ``to_json`` of a struct per row), so a page costs one scan of
the results table, not a Python loop over cells. Page tokens are opaque to clients: base64 of the
job (or table) and the offset of the next row.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from .errors import BigQueryError, invalid_query, not_found
from .faults import JOB_BACKEND_MESSAGE, BigQueryFaults, BigQueryStats
from .sql import Translated, bind_parameters, bytes_processed, query_error, translate
from .warehouse import RESULTS_SCHEMA, Warehouse, bigquery_type, schema_fields

# Without maxResults BigQuery fills a page up to about 10 MB; the stand-in assumes ~40 bytes a cell.
PAGE_BYTES = 10_000_000
CELL_BYTES = 40


@dataclass
class Job:
    project: str
    job_id: str
    location: str
    configuration: dict[str, Any]  # the request's configuration.query, echoed back
    created: datetime
    done: threading.Event = field(default_factory=threading.Event)
    state: str = "PENDING"
    started: datetime | None = None
    ended: datetime | None = None
    error: BigQueryError | None = None
    result_table: str | None = None
    schema: list[dict[str, str]] | None = None
    total_rows: int = 0
    bytes_processed: int = 0
    expires_at: float = float("inf")  # time.monotonic() after which the results are gone

    @property
    def destination(self) -> dict[str, str] | None:
        if self.result_table is None:
            return None
        return {"projectId": self.project, "datasetId": RESULTS_SCHEMA, "tableId": self.result_table}

    def reference(self) -> dict[str, str]:
        return {"projectId": self.project, "jobId": self.job_id, "location": self.location}

    def resource(self) -> dict[str, Any]:
        status: dict[str, Any] = {"state": self.state}
        if self.error is not None:
            status["errorResult"] = self.error.error_proto()
            status["errors"] = [self.error.error_proto()]
        query_configuration = dict(self.configuration)
        if self.destination is not None:
            query_configuration["destinationTable"] = self.destination
        statistics: dict[str, Any] = {"creationTime": _millis(self.created)}
        if self.started is not None:
            statistics["startTime"] = _millis(self.started)
        if self.state == "DONE":
            statistics["endTime"] = _millis(self.ended or self.created)
            statistics["totalBytesProcessed"] = str(self.bytes_processed)
            statistics["query"] = {
                "totalBytesProcessed": str(self.bytes_processed),
                "totalBytesBilled": str(self.bytes_processed),
                "cacheHit": False,
                "statementType": "SELECT",
            }
            if self.schema is not None:
                statistics["query"]["schema"] = {"fields": self.schema}
        return {
            "kind": "bigquery#job",
            "id": f"{self.project}:{self.location}.{self.job_id}",
            "jobReference": self.reference(),
            "configuration": {"jobType": "QUERY", "query": query_configuration},
            "status": status,
            "statistics": statistics,
            "user_email": "sandbox@amc-sandbox.iam.gserviceaccount.com",
        }


class JobStore:
    """Every query job of the stand-in (thread-safe)."""

    def __init__(self, warehouse: Warehouse, faults: BigQueryFaults, stats: BigQueryStats, *,
                 result_ttl_seconds: float, workers: int = 2) -> None:
        self.warehouse = warehouse
        self.faults = faults
        self.stats = stats
        self.result_ttl_seconds = result_ttl_seconds
        self._jobs: dict[tuple[str, str], Job] = {}
        self._requests: dict[tuple[str, str], str] = {}  # (project, requestId) -> jobId
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bigquery-job")

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    # ---- creating jobs -----------------------------------------------------------------------------

    def dry_run(self, project: str, configuration: dict[str, Any]) -> tuple[int, list[dict[str, str]]]:
        """(bytes the query would process, result schema) without running it; errors raise."""
        translated, parameters = self._prepare(project, configuration)
        cursor = self.warehouse.cursor()
        try:
            relation = cursor.execute(f"SELECT * FROM ({translated.sql}) LIMIT 0", parameters)
        except duckdb.Error as error:
            raise query_error(error) from None
        columns = [(d[0], str(d[1])) for d in relation.description]
        self.stats.add("dry_runs")
        return bytes_processed(translated, self.warehouse), schema_fields(_duckdb_types(columns))

    def start(self, project: str, configuration: dict[str, Any], *, job_id: str | None = None,
              location: str | None = None, request_id: str | None = None) -> Job:
        """A new query job, running; the same ``request_id`` (jobs.query) gives back the same job."""
        location = location or self.warehouse.location
        with self._lock:
            if request_id is not None and (project, request_id) in self._requests:
                return self._jobs[(project, self._requests[(project, request_id)])]
            job_id = job_id or f"job_{uuid.uuid4().hex}"
            if (project, job_id) in self._jobs:
                raise BigQueryError("duplicate", f"Already Exists: Job {project}:{location}.{job_id}")
            job = Job(project, job_id, location, configuration, created=self.warehouse.now())
            self._jobs[(project, job_id)] = job
            if request_id is not None:
                self._requests[(project, request_id)] = job_id
        self.stats.add("jobs_created")
        self._executor.submit(self._run, job)
        return job

    def _prepare(self, project: str, configuration: dict[str, Any]) -> tuple[Translated, Any]:
        if configuration.get("useLegacySql"):
            raise invalid_query("Legacy SQL is not supported by the BigQuery stand-in: set useLegacySql to false.")
        query = configuration.get("query")
        if not isinstance(query, str) or not query.strip():
            raise BigQueryError("invalid", "Required parameter is missing: query")
        default = configuration.get("defaultDataset") or {}
        if default and default.get("projectId", project) != project:
            self.warehouse.require_dataset(default["projectId"], default.get("datasetId", ""))
        translated = translate(query, self.warehouse, project=project, default_dataset=default.get("datasetId"))
        parameters = bind_parameters(translated, configuration.get("queryParameters") or [],
                                     configuration.get("parameterMode"))
        return translated, parameters

    def _run(self, job: Job) -> None:
        job.state, job.started = "RUNNING", self.warehouse.now()
        table = "anon" + hashlib.sha1(f"{job.project}:{job.job_id}".encode()).hexdigest()
        try:
            translated, parameters = self._prepare(job.project, job.configuration)
            if self.faults.draw_failed_job():
                raise BigQueryError("jobBackendError", JOB_BACKEND_MESSAGE)
            cursor = self.warehouse.cursor()
            try:
                cursor.execute(f'CREATE TABLE "{RESULTS_SCHEMA}"."{table}" AS {translated.sql}', parameters)
            except duckdb.Error as error:
                raise query_error(error) from None
            job.result_table = table
            job.schema = self.warehouse.schema(RESULTS_SCHEMA, table)
            job.total_rows = self.warehouse.num_rows(RESULTS_SCHEMA, table)
            job.bytes_processed = bytes_processed(translated, self.warehouse)
            self.stats.add("bytes_processed", job.bytes_processed)
        except BigQueryError as error:
            job.error = error
            self.stats.add("jobs_failed")
        except Exception as error:  # noqa: BLE001 - a stand-in bug must fail the job, not hang its waiters
            job.error = BigQueryError("backendError", f"Internal error in the BigQuery stand-in: {error!r}")
            self.stats.add("jobs_failed")
        finally:
            job.ended = self.warehouse.now()
            job.expires_at = time.monotonic() + self.result_ttl_seconds
            job.state = "DONE"
            job.done.set()

    # ---- reading jobs ------------------------------------------------------------------------------

    def get(self, project: str, job_id: str, location: str | None = None) -> Job:
        job = self._jobs.get((project, job_id))
        if job is None or (location is not None and location.upper() != job.location.upper()):
            raise not_found("Job", project, f"{location or self.warehouse.location}.{job_id}")
        return job

    def of_result_table(self, project: str, table: str) -> Job:
        """The job whose results a ``_anon`` table holds (its destinationTable)."""
        with self._lock:
            for job in self._jobs.values():
                if job.project == project and job.result_table == table:
                    return job
        raise not_found("Table", project, f"{RESULTS_SCHEMA}.{table}", self.warehouse.location)

    def expire(self, job_id: str | None = None) -> list[str]:
        """End the results' lifetime now: of one job, or of every job. Returns the job ids."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if job_id is None or j.job_id == job_id]
        for job in jobs:
            job.expires_at = 0.0
        return [job.job_id for job in jobs]

    def require_results(self, job: Job) -> str:
        """The job's results table, or BigQuery's 404 once its results have expired."""
        if job.error is not None:
            raise job.error
        if job.result_table is None:
            raise BigQueryError("invalid", f"Job {job.project}:{job.location}.{job.job_id} has no results yet")
        if time.monotonic() >= job.expires_at:
            self.warehouse.cursor().execute(f'DROP TABLE IF EXISTS "{RESULTS_SCHEMA}"."{job.result_table}"')
            raise not_found("Table", job.project, f"{RESULTS_SCHEMA}.{job.result_table}", job.location)
        return job.result_table

    def page(self, table_sql: str, columns: list[tuple[str, str]], *, offset: int, max_results: int | None,
             total_rows: int, int64_timestamp: bool) -> tuple[list[str], int | None]:
        """Rows ``offset``.. of a table as JSON texts, and the offset of the next page (or None)."""
        limit = max_results if max_results is not None else max(1, PAGE_BYTES // (CELL_BYTES * max(1, len(columns))))
        if offset >= total_rows:
            return [], None
        if limit <= 0:  # maxResults=0: the client only waits for the job
            return [], offset
        row = row_json_sql(columns, int64_timestamp)
        rows = [r[0] for r in self.warehouse.cursor().execute(
            f"SELECT {row} FROM {table_sql} LIMIT {int(limit)} OFFSET {int(offset)}").fetchall()]
        self.stats.add("pages_served")
        self.stats.add("rows_served", len(rows))
        following = offset + len(rows)
        return rows, following if following < total_rows else None


# ---- page tokens and row JSON ----------------------------------------------------------------------

def encode_page_token(kind: str, name: str, offset: int) -> str:
    raw = json.dumps({"k": kind, "n": name, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, kind: str, name: str) -> int:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if decoded["k"] != kind or decoded["n"] != name or not isinstance(decoded["o"], int) or decoded["o"] < 0:
            raise ValueError(decoded)
    except (ValueError, KeyError, TypeError):
        raise BigQueryError("invalid", f"Invalid page token: {token}", location="pageToken") from None
    return decoded["o"]


def row_json_sql(columns: list[tuple[str, str]], int64_timestamp: bool) -> str:
    """A DuckDB expression giving each row as BigQuery's ``{"f":[{"v":...},...]}`` text.

    One ``to_json`` of a struct per row rather than text concatenated cell by cell: DuckDB encodes
    the whole row in one vectorised call, four to five times faster on the SQP table (the stand-in's
    pages capped the refresh benchmark; docs/benchmarks.md)."""
    types = [(f'"{name}"', *bigquery_type(duckdb_type)) for name, duckdb_type in columns]
    repeated = any(mode == "REPEATED" for _, _, mode in types)
    cells = []
    for column, bq_type, mode in types:
        if mode == "REPEATED":
            element = f"{{'v': {_json_text('e', bq_type, int64_timestamp)}}}"
            cells.append(f"to_json(coalesce(list_transform({column}, lambda e: {element}), []))")
        else:
            text = _json_text(column, bq_type, int64_timestamp)
            # A list's elements share one type: beside an array cell every cell is JSON already.
            cells.append(f"to_json({text})" if repeated else text)
    values = ", ".join(f"{{'v': {cell}}}" for cell in cells)
    return f"CAST(to_json({{'f': [{values}]}}) AS VARCHAR)"


def _json_text(value: str, bq_type: str, int64_timestamp: bool) -> str:
    """One value as the text BigQuery sends: every scalar travels as a JSON string (NULL as null)."""
    if bq_type == "STRING":
        return value
    if bq_type == "TIMESTAMP":
        return f"CAST(epoch_us({value}) AS VARCHAR)" if int64_timestamp else f"CAST(epoch_us({value}) / 1e6 AS VARCHAR)"
    if bq_type == "DATETIME":
        return f"strftime({value}, '%Y-%m-%dT%H:%M:%S.%f')"
    if bq_type == "NUMERIC":
        # DECIMAL(38,9) prints nine decimals; BigQuery prints the shortest form (12.5, 3).
        return (f"CASE WHEN contains(CAST({value} AS VARCHAR), '.') "
                f"THEN rtrim(rtrim(CAST({value} AS VARCHAR), '0'), '.') ELSE CAST({value} AS VARCHAR) END")
    if bq_type == "BYTES":
        return f"to_base64({value})"
    return f"CAST({value} AS VARCHAR)"


def _duckdb_types(description: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Python DB-API type names from a DuckDB description, as information_schema spells them."""
    return [(name, kind.upper()) for name, kind in description]


def _millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))
