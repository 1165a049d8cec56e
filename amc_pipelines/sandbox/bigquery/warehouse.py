"""The stand-in's storage: one DuckDB file whose schemas are BigQuery datasets, with table metadata
in BigQuery's REST shapes and the mutations tests use (corrections, schema changes, new tables).

DuckDB types map to BigQuery's legacy type names, which is what tables.get and query schemas report:
VARCHAR -> STRING, integers -> INTEGER, DOUBLE -> FLOAT, DECIMAL -> NUMERIC, TIMESTAMPTZ -> TIMESTAMP,
TIMESTAMP -> DATETIME, lists -> mode REPEATED. The file lives in a directory of its own and is
deleted on close: mutations never outlive the stand-in.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from . import data
from .config import BigQueryConfig
from .errors import BigQueryError, not_found

MEMORY_LIMIT = "1GB"
RESULTS_SCHEMA = "_anon"  # query results, like BigQuery's hidden anonymous datasets
_SCALAR_TYPES = {
    "VARCHAR": "STRING", "BIGINT": "INTEGER", "INTEGER": "INTEGER", "SMALLINT": "INTEGER", "TINYINT": "INTEGER",
    "HUGEINT": "INTEGER", "UBIGINT": "INTEGER", "UINTEGER": "INTEGER", "USMALLINT": "INTEGER", "UTINYINT": "INTEGER",
    "DOUBLE": "FLOAT", "FLOAT": "FLOAT", "BOOLEAN": "BOOLEAN", "DATE": "DATE",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP", "TIMESTAMP": "DATETIME", "TIME": "TIME", "BLOB": "BYTES",
}
# BigQuery's logical size of a value (https://cloud.google.com/bigquery/pricing#data): what dry runs report.
_FIXED_BYTES = {"INTEGER": 8, "FLOAT": 8, "NUMERIC": 16, "BOOLEAN": 1, "DATE": 8, "DATETIME": 8, "TIMESTAMP": 8, "TIME": 8}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")


def bigquery_type(duckdb_type: str) -> tuple[str, str]:
    """(BigQuery type, mode) of a DuckDB column type."""
    if duckdb_type.endswith("[]"):
        return bigquery_type(duckdb_type[:-2])[0], "REPEATED"
    if duckdb_type.startswith("DECIMAL"):
        return "NUMERIC", "NULLABLE"
    return _SCALAR_TYPES.get(duckdb_type, "STRING"), "NULLABLE"


@dataclass
class TableInfo:
    created: datetime
    modified: datetime
    num_bytes: dict[str, int] | None = None  # per column, computed on demand, dropped on change


class Warehouse:
    """DuckDB behind the stand-in: thread-safe (a cursor per call), clock from ``now``."""

    def __init__(self, config: BigQueryConfig, directory: Path | None = None) -> None:
        from amc_pipelines import clock

        self.config = config
        self.project = config.project
        self.location = config.location
        self._start = config.now or clock.now()
        self._started = time.monotonic()
        base = Path(directory) if directory is not None else None
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
        self._directory = Path(tempfile.mkdtemp(prefix="bigquery-", dir=base))
        self._con = duckdb.connect(str(self._directory / "warehouse.duckdb"))
        self._con.execute("SET GLOBAL TimeZone = 'UTC'")
        # DuckDB would take 80 % of RAM for the large size's sorts and window; spill to disk instead.
        self._con.execute(f"SET GLOBAL memory_limit = '{MEMORY_LIMIT}'")
        self._con.execute(f'CREATE SCHEMA "{RESULTS_SCHEMA}"')
        self._lock = threading.Lock()
        self._tables: dict[tuple[str, str], TableInfo] = {}
        self._datasets: dict[str, datetime] = {}
        self.generation_seconds = 0.0
        self.rows = self.regenerate(self._start)

    # ---- clock and lifecycle -------------------------------------------------------------------

    def now(self) -> datetime:
        """The stand-in's clock: ``config.now`` (or the start time) plus the time since then."""
        return self._start + timedelta(seconds=time.monotonic() - self._started)

    def regenerate(self, now: datetime) -> dict[str, int]:
        """(Re)create the synthetic tables as of ``now`` (landed weeks, applied corrections)."""
        began = time.perf_counter()
        dataset = self.config.dataset
        with self._lock:
            self._start, self._started = now, time.monotonic()
            cursor = self.cursor()
            cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{dataset}"')
            rows = data.generate(cursor, dataset, size=self.config.size, seed=self.config.seed, now=now)
            self._datasets.setdefault(dataset, now)
            for table in rows:
                self._tables[(dataset, table)] = TableInfo(created=now, modified=now)
        self.generation_seconds = time.perf_counter() - began
        return rows

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self._con.cursor()

    def close(self) -> None:
        self._con.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    # ---- metadata ------------------------------------------------------------------------------

    def require_dataset(self, project: str, dataset: str) -> datetime:
        if project != self.project or dataset not in self._datasets:
            raise not_found("Dataset", project, dataset, self.location)
        return self._datasets[dataset]

    def require_table(self, project: str, dataset: str, table: str) -> TableInfo:
        self.require_dataset(project, dataset)
        info = self._tables.get((dataset, table))
        if info is None:
            raise not_found("Table", project, f"{dataset}.{table}", self.location)
        return info

    def datasets(self) -> list[str]:
        return sorted(self._datasets)

    def tables(self, dataset: str) -> list[str]:
        return sorted(name for ds, name in self._tables if ds == dataset)

    def columns(self, dataset: str, table: str) -> list[tuple[str, str]]:
        """(name, DuckDB type) in column order."""
        return [
            (name, kind)
            for name, kind in self.cursor().execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [dataset, table],
            ).fetchall()
        ]

    def schema(self, dataset: str, table: str) -> list[dict[str, str]]:
        return schema_fields(self.columns(dataset, table))

    def column_bytes(self, dataset: str, table: str) -> dict[str, int]:
        """BigQuery's logical bytes of each column (what a query reading it processes)."""
        info = self._tables[(dataset, table)]
        if info.num_bytes is None:
            columns = self.columns(dataset, table)
            sums = []
            for name, kind in columns:
                bq_type, mode = bigquery_type(kind)
                if bq_type in ("STRING", "BYTES") and mode != "REPEATED":
                    sums.append(f'coalesce(sum(octet_length(CAST("{name}" AS BLOB)) + 2), 0)')
                elif mode == "REPEATED":
                    sums.append(f'coalesce(sum(len("{name}")), 0) * {_FIXED_BYTES.get(bq_type, 8)}')
                else:
                    sums.append(f'count("{name}") * {_FIXED_BYTES.get(bq_type, 8)}')
            values = self.cursor().execute(f'SELECT {", ".join(sums)} FROM "{dataset}"."{table}"').fetchone()
            info.num_bytes = {name: int(value) for (name, _), value in zip(columns, values, strict=True)}
        return info.num_bytes

    def num_rows(self, dataset: str, table: str) -> int:
        return self.cursor().execute(f'SELECT count(*) FROM "{dataset}"."{table}"').fetchone()[0]

    def dataset_resource(self, dataset: str) -> dict[str, Any]:
        created = _millis(self._datasets[dataset])
        return {
            "kind": "bigquery#dataset",
            "id": f"{self.project}:{dataset}",
            "datasetReference": {"projectId": self.project, "datasetId": dataset},
            "location": self.location,
            "creationTime": created,
            "lastModifiedTime": created,
            "type": "DEFAULT",
        }

    def table_resource(self, dataset: str, table: str) -> dict[str, Any]:
        info = self._tables[(dataset, table)]
        return {
            "kind": "bigquery#table",
            "id": f"{self.project}:{dataset}.{table}",
            "tableReference": {"projectId": self.project, "datasetId": dataset, "tableId": table},
            "schema": {"fields": self.schema(dataset, table)},
            "numRows": str(self.num_rows(dataset, table)),
            "numBytes": str(sum(self.column_bytes(dataset, table).values())),
            "creationTime": _millis(info.created),
            "lastModifiedTime": _millis(info.modified),
            "type": "TABLE",
            "location": self.location,
        }

    def table_list_item(self, dataset: str, table: str) -> dict[str, Any]:
        info = self._tables[(dataset, table)]
        return {
            "kind": "bigquery#table",
            "id": f"{self.project}:{dataset}.{table}",
            "tableReference": {"projectId": self.project, "datasetId": dataset, "tableId": table},
            "type": "TABLE",
            "creationTime": _millis(info.created),
        }

    # ---- mutations (the /_sandbox/bigquery control endpoints) ----------------------------------

    def _touched(self, dataset: str, table: str) -> None:
        info = self._tables[(dataset, table)]
        info.modified, info.num_bytes = self.now(), None

    def correct(self, table: str, *, factor: float, start_date: date | None = None, asin: str | None = None,
                account_id: str | None = None, at: datetime | None = None) -> int:
        """A late correction: the selected rows' counts scaled by ``factor``, shares and rates
        recomputed, ``updated_at`` set to ``at`` (default: the stand-in's now). Returns rows changed."""
        dataset = self.config.dataset
        if table not in data.COUNTS:
            raise BigQueryError("invalid", f"corrections apply to {', '.join(data.COUNTS)}, not {table!r}")
        self.require_table(self.project, dataset, table)
        if not 0 < factor <= 10:
            raise BigQueryError("invalid", f"factor {factor} is out of range: use a number in (0, 10].")
        conditions, parameters = ["true"], []
        for column, value in (("start_date", start_date), ("asin", asin), ("account_id", account_id)):
            if value is not None:
                conditions.append(f'"{column}" = ?')
                parameters.append(value)
        where = " AND ".join(conditions)
        moment = at or self.now()
        with self._lock:
            cursor = self.cursor()
            cursor.execute("BEGIN")
            # updated_at first: the other statements keep the same WHERE, none of them filters on it.
            changed = cursor.execute(f'UPDATE "{dataset}"."{table}" SET updated_at = ? WHERE {where}',
                                     [moment, *parameters]).fetchone()[0]
            for statement in data.correction_statements(dataset, table, factor, where):
                cursor.execute(statement, parameters)
            cursor.execute("COMMIT")
            self._touched(dataset, table)
        return int(changed)

    def alter(self, dataset: str, table: str, *, add: tuple[str, str] | None = None, drop: str | None = None,
              retype: tuple[str, str] | None = None) -> list[dict[str, str]]:
        """Schema drift at the source: add a column (NULL in existing rows), drop one, or change a
        column's type (values cast). Types are BigQuery's names. Returns the new schema."""
        self.require_table(self.project, dataset, table)
        target = f'"{dataset}"."{table}"'
        existing = {name for name, _ in self.columns(dataset, table)}
        if add is not None:
            name, kind = add
            _check_identifier(name)
            if name in existing:
                raise BigQueryError("duplicate", f"Column {name} already exists in schema")
            statement = f'ALTER TABLE {target} ADD COLUMN "{name}" {_duckdb_type(kind)}'
        elif drop is not None:
            if drop not in existing:
                raise BigQueryError("notFound", f"Column {drop} not found in table {dataset}.{table}")
            statement = f'ALTER TABLE {target} DROP COLUMN "{drop}"'
        elif retype is not None:
            name, kind = retype
            if name not in existing:
                raise BigQueryError("notFound", f"Column {name} not found in table {dataset}.{table}")
            statement = f'ALTER TABLE {target} ALTER COLUMN "{name}" TYPE {_duckdb_type(kind)}'
        else:
            raise BigQueryError("invalid", "give one of add, drop or retype")
        with self._lock:
            try:
                self.cursor().execute(statement)
            except duckdb.Error as error:
                raise BigQueryError("invalid", f"Cannot change the schema of {dataset}.{table}: {error}") from None
            self._touched(dataset, table)
        return self.schema(dataset, table)

    def create_table(self, dataset: str, table: str, duckdb_sql: str, parameters: Any = None) -> int:
        """A new table from an (already translated) query, e.g. one no refresh is configured for."""
        _check_identifier(table)
        self.require_dataset(self.project, dataset)
        if (dataset, table) in self._tables:
            raise BigQueryError("duplicate", f"Already Exists: Table {self.project}:{dataset}.{table}")
        with self._lock:
            self.cursor().execute(f'CREATE TABLE "{dataset}"."{table}" AS {duckdb_sql}', parameters)
            now = self.now()
            self._tables[(dataset, table)] = TableInfo(created=now, modified=now)
        return self.num_rows(dataset, table)

    def drop_table(self, dataset: str, table: str) -> None:
        self.require_table(self.project, dataset, table)
        with self._lock:
            self.cursor().execute(f'DROP TABLE "{dataset}"."{table}"')
            del self._tables[(dataset, table)]


def schema_fields(columns: list[tuple[str, str]]) -> list[dict[str, str]]:
    fields = []
    for name, kind in columns:
        bq_type, mode = bigquery_type(kind)
        fields.append({"name": name, "type": bq_type, "mode": mode})
    return fields


def _duckdb_type(bigquery_name: str) -> str:
    aliases = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "BIGNUMERIC": "NUMERIC"}
    name = aliases.get(bigquery_name.upper(), bigquery_name.upper())
    if name not in data.DUCKDB_TYPES:
        raise BigQueryError("invalid", f"type {bigquery_name!r} is not supported: use one of {', '.join(data.DUCKDB_TYPES)}")
    return data.DUCKDB_TYPES[name]


def _check_identifier(name: str) -> None:
    if not _IDENTIFIER.match(name):
        raise BigQueryError("invalid", f"Invalid name {name!r}: use letters, digits and underscores, not starting with a digit")


def _millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))
