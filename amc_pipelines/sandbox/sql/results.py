"""Query results with AMC column types, written as AMC-style CSV files."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

_TYPE_NAMES = {
    "VARCHAR": "STRING",
    "UUID": "STRING",
    "BLOB": "BINARY",
    "TINYINT": "INTEGER",
    "SMALLINT": "INTEGER",
    "INTEGER": "INTEGER",
    "UTINYINT": "INTEGER",
    "USMALLINT": "INTEGER",
    "BIGINT": "LONG",
    "UINTEGER": "LONG",
    "UBIGINT": "LONG",
    "HUGEINT": "LONG",
    "UHUGEINT": "LONG",
    "FLOAT": "DOUBLE",
    "DOUBLE": "DOUBLE",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIME": "STRING",
    "INTERVAL": "STRING",
    "NULL": "STRING",
}


def amc_type(duckdb_type: str) -> str:
    """AMC's name for a DuckDB result type (STRING, LONG, DECIMAL, TIMESTAMP, ARRAY, STRUCT, ...)."""
    name = duckdb_type.strip().upper()
    if name.endswith("]"):
        return "ARRAY"
    if name.startswith(("STRUCT", "MAP")):
        return "STRUCT"
    if name.startswith("DECIMAL"):
        return "DECIMAL"
    if name.startswith("TIMESTAMP"):
        return "TIMESTAMP"
    return _TYPE_NAMES.get(re.sub(r"\(.*\)$", "", name), "STRING")


def render_value(value: Any) -> str:
    """One CSV cell: NULL empty, booleans lower-case, timestamps ISO with a space, arrays/structs as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="milliseconds" if value.microsecond else "seconds")
    if isinstance(value, date | time | UUID | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple | dict):
        return json.dumps(_jsonable(value), separators=(",", ":"))
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return render_value(value)


@dataclass
class QueryResult:
    columns: list[str]
    column_types: list[str]  # AMC type names
    rows: list[tuple]
    rows_removed: int  # rows under their privacy threshold (dropped, or blanked/merged when kept)

    def write_csv(self, directory: Path, *, max_rows_per_file: int) -> list[Path]:
        """Write the rows as ``part-00000.csv``, ``part-00001.csv``...; each file has the header row.

        An empty result still gives one file holding the header.
        """
        if max_rows_per_file < 1:
            raise ValueError("max_rows_per_file must be at least 1")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        chunks = [self.rows[i : i + max_rows_per_file] for i in range(0, len(self.rows), max_rows_per_file)] or [[]]
        paths = []
        for index, chunk in enumerate(chunks):
            path = directory / f"part-{index:05d}.csv"
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(self.columns)
                writer.writerows([render_value(v) for v in row] for row in chunk)
            paths.append(path)
        return paths
