"""Typed, streamed loading of AMC result files into ``amc_results.<report>`` (the one loader).

A load takes every CSV file of one execution and replaces the rows of one
:class:`~amc_pipelines.partitions.ResultKey` (instance, window start day, window end) of the
report's result table:

1. each file's header is checked against the spec's output columns (by name: AMC's column order
   may differ from the spec's) before the database is touched;
2. the result table is created or evolved from the spec (:mod:`amc_pipelines.results`);
3. in ONE transaction: a per-partition advisory lock is taken, the partition's rows are deleted,
   and every file is streamed in 1 MiB chunks through ``COPY ... FROM STDIN`` straight into the
   typed result table, each record extended on the way with the partition columns. Postgres parses
   the types, so a bad value fails the load with Postgres' own file line and column. Re-running
   replaces; concurrent loads of one partition serialise on the lock and leave exactly one copy; a
   failure anywhere rolls back and the previous rows stay.

Why not a temporary staging table and ``INSERT ... SELECT``: every row was parsed, written and
hashed twice, and the loading benchmark found it far slower (docs/benchmarks.md, "Loading"). COPY
into the final table inside the transaction gives the same atomicity.

Checksum: the sum modulo 2**128 of the md5 of every data record as AMC wrote it (header rows and
line endings excluded), in hex. A sum is independent of row order and of how AMC split the rows
into files, and is computed in this process while Postgres parses the previous chunk, so it costs
no extra pass and no memory. It is a digest of the delivered text (in the file's column order),
not of the typed values.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from operator import methodcaller
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import Connection, sql

from amc_pipelines.results import (
    PARTITION_COLUMNS,
    RESULTS_SCHEMA,
    ResultTableError,
    ensure_result_table,
    ensure_result_table_on,
    quoted_columns,
    rows_of,
    table_identifier,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from amc_pipelines.catalog import ReportSpec
    from amc_pipelines.partitions import ResultKey

__all__ = [
    "RESULTS_SCHEMA",
    "LoadError",
    "LoadResult",
    "ResultTableError",
    "ensure_result_table",
    "load_result_files",
    "partition_row_count",
]

CHUNK_BYTES = 1 << 20
# The loaded partition columns, in the order the loader appends their values to each record.
_LOADED_PARTITION_COLUMNS = tuple(name for name, _ in PARTITION_COLUMNS if name != "loaded_at")
_NOT_QUOTE_OR_NEWLINE = bytes(byte for byte in range(256) if byte not in b'"\n')
_digest = methodcaller("digest")


class LoadError(Exception):
    """A result file cannot be loaded; the message names the file and, when known, the line and column."""


@dataclass(frozen=True)
class LoadResult:
    rows: int
    checksum: str
    files: int
    seconds: float


def load_result_files(
    engine: Engine, spec: ReportSpec, key: ResultKey, files: Sequence[Path], *, amc_execution_id: str
) -> LoadResult:
    """Replace the partition ``key`` of the report's table with the rows of ``files`` (see module doc)."""
    began = time.perf_counter()
    if not amc_execution_id:
        raise ValueError("amc_execution_id is required: every loaded row records the execution it came from")
    if not files:
        # An execution always yields at least one file (a header for an empty result); none means the
        # download went wrong, and replacing the partition with nothing would lose the result.
        raise LoadError(f"no result files given for report {spec.name!r}, instance {key.instance_id!r}")
    headers = [(Path(path), read_header(spec, Path(path))) for path in files]
    suffix = _partition_suffix(key, amc_execution_id)
    raw = engine.raw_connection()
    try:
        conn: Connection = raw.driver_connection
        ensure_result_table_on(conn, spec)
        try:
            # Parsing must not depend on the server's or the role's DateStyle ("01/02/2025").
            conn.execute("SET LOCAL datestyle = 'ISO, MDY'")
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_lock_name(spec, key),))
            where, values = rows_of(key)
            conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(table_identifier(spec), where), values)
            rows, digest_sum = 0, 0
            for path, header in headers:
                copied, file_sum = _copy_file(conn, spec, path, header, suffix)
                rows, digest_sum = rows + copied, digest_sum + file_sum
            conn.commit()
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
            raise
    finally:
        raw.close()
    checksum = f"{digest_sum % (1 << 128):032x}"
    return LoadResult(rows=rows, checksum=checksum, files=len(headers), seconds=time.perf_counter() - began)


def read_header(spec: ReportSpec, path: Path) -> list[str]:
    """The file's column names, checked against the spec: same set, no duplicates (order is free)."""
    try:
        # Only the first line is decoded: a bad byte further down is Postgres' to report, with its line.
        with path.open("rb") as handle:
            first_line = handle.readline().decode("utf-8-sig")  # utf-8-sig: tolerate a BOM
        header = next(csv.reader([first_line]), None)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise LoadError(f"cannot read the header of {path}: {error}") from error
    if not header:
        raise LoadError(f"{path} is empty: an AMC result file starts with a header row (incomplete download?)")
    header = [name.strip() for name in header]
    expected = [column.name for column in spec.output_columns]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    missing = [name for name in expected if name not in header]
    extra = [name for name in header if name not in expected]
    if duplicates or missing or extra:
        problems = []
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            problems.append(f"unexpected column(s) {', '.join(extra)}")
        if duplicates:
            problems.append(f"repeated column(s) {', '.join(duplicates)}")
        raise LoadError(
            f"{path}: header does not match the output columns of report {spec.name!r}: {'; '.join(problems)}. "
            f"Expected {', '.join(expected)}; make the report's SELECT list and its YAML output_columns agree"
        )
    return header


def _partition_suffix(key: ResultKey, amc_execution_id: str) -> bytes:
    """``,<definition>,<parameters hash>,<instance>,<week start>,<window end>,<execution>`` as CSV,
    appended to every record (the order of PARTITION_COLUMNS)."""
    buffer = io.StringIO()
    values = (key.definition, key.parameters_hash, key.instance_id, key.week_start.isoformat(),
              key.window_end.isoformat(sep=" "), amc_execution_id)
    csv.writer(buffer, lineterminator="").writerow(values)
    return b"," + buffer.getvalue().encode()


class _RecordStream:
    """Appends the partition columns to every record of one CSV file and sums the md5s of its data records.

    Works on whole lines of each chunk with C-speed bytes operations. A chunk where some line has an
    odd number of quotes (a quoted field holding a line break) or mixed line endings takes a
    line-by-line path that tracks whether the next line continues a quoted field. Both paths hash the
    same thing (every physical line after the header, without its line ending).
    """

    def __init__(self, suffix: bytes):
        self._suffix = suffix
        self._pending = b""
        self._newline: bytes | None = None  # b"\n" or b"\r\n", decided by the header line
        self._inside_quotes = False
        self.digest_sum = 0

    def feed(self, chunk: bytes) -> bytes:
        data = self._pending + chunk
        cut = data.rfind(b"\n") + 1
        self._pending = data[cut:]
        return self._lines(data[:cut]) if cut else b""

    def finish(self) -> bytes:
        """The last record when the file does not end with a line break."""
        data, self._pending = self._pending, b""
        return self._lines(data + (self._newline or b"\n")) if data else b""

    def _lines(self, data: bytes) -> bytes:
        skip_header = self._newline is None
        if skip_header:
            self._newline = b"\r\n" if data[: data.index(b"\n")].endswith(b"\r") else b"\n"
        newline = self._newline
        consistent_endings = newline == b"\n" or data.count(b"\r\n") == data.count(b"\n")
        if self._inside_quotes or not consistent_endings or self._has_quoted_line_break(data):
            return self._lines_one_by_one(data, skip_header)
        lines = data.split(newline)
        lines.pop()  # data ends with a line break: the last element is empty
        self.digest_sum += sum(map(int.from_bytes, map(_digest, map(hashlib.md5, lines[skip_header:]))))
        separator = self._suffix + newline
        return separator.join(lines) + separator

    @staticmethod
    def _has_quoted_line_break(data: bytes) -> bool:
        # Keep only quotes and line breaks, drop pairs of quotes: a quote left over means a line
        # with an odd number of quotes, i.e. a quoted field that continues on the next line.
        return b'"' in data.translate(None, _NOT_QUOTE_OR_NEWLINE).replace(b'""', b"")

    def _lines_one_by_one(self, data: bytes, skip_header: bool) -> bytes:
        out = []
        lines = data.split(b"\n")
        lines.pop()
        for index, line in enumerate(lines):
            if line.count(b'"') % 2:
                self._inside_quotes = not self._inside_quotes
            body = line[:-1] if line.endswith(b"\r") else line
            if index or not skip_header:
                self.digest_sum += int.from_bytes(hashlib.md5(body).digest())
            if self._inside_quotes:  # the record goes on in the next line
                out.append(line + b"\n")
            else:
                out.append(body + self._suffix + line[len(body) :] + b"\n")
        return b"".join(out)


def _copy_file(conn: Connection, spec: ReportSpec, path: Path, header: list[str], suffix: bytes) -> tuple[int, int]:
    """COPY one file into the result table; returns (rows, sum of record md5s)."""
    statement = sql.SQL("COPY {} ({}, {}) FROM STDIN WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')").format(
        table_identifier(spec), quoted_columns(header), quoted_columns(_LOADED_PARTITION_COLUMNS)
    )
    records = _RecordStream(suffix)
    try:
        with path.open("rb") as handle, conn.cursor() as cursor:
            with cursor.copy(statement) as copy:
                while chunk := handle.read(CHUNK_BYTES):
                    copy.write(records.feed(chunk))
                copy.write(records.finish())
            return cursor.rowcount, records.digest_sum
    except psycopg.Error as error:
        raise LoadError(_copy_error_message(spec, path, header, error)) from error
    except OSError as error:
        raise LoadError(f"cannot read {path}: {error}") from error


def _copy_error_message(spec: ReportSpec, path: Path, header: list[str], error: psycopg.Error) -> str:
    """Postgres' own words, with its ``COPY <table>, line N, column C: "value"`` made about the file."""
    diag = error.diag
    primary = diag.message_primary or str(error).strip()
    context = diag.context or ""
    where = re.sub(r"^COPY [^,]+, ", "", context.splitlines()[0] if context else "").strip()
    message = f"cannot load {path} into report {spec.name!r}"
    line = re.match(r"line (\d+)", where)
    fields = _fields_in_record(path, int(line.group(1))) if line else None
    if fields is not None and fields != len(header):
        # The appended partition values shift into the data columns of a short or long row, so
        # Postgres' column would mislead: say what is really wrong.
        return f"{message} at line {line.group(1)}: that line has {fields} fields but the header has {len(header)}"
    message += f" at {where}: {primary}" if where else f": {primary}"
    if diag.message_detail:
        message += f" ({diag.message_detail})"
    return message


def _fields_in_record(path: Path, record_number: int) -> int | None:
    """Field count of the record Postgres numbers ``record_number`` (1 = header), for error messages."""
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            for number, record in enumerate(csv.reader(handle), start=1):
                if number == record_number:
                    return len(record)
    except (OSError, csv.Error):
        return None
    return None


def _lock_name(spec: ReportSpec, key: ResultKey) -> str:
    return (f"load:{RESULTS_SCHEMA}.{spec.name}:{key.definition}:{key.parameters_hash}:{key.instance_id}:"
            f"{key.week_start}:{key.window_end.isoformat()}")


def partition_row_count(engine: Engine, spec: ReportSpec, key: ResultKey) -> int:
    """Rows stored for the partition (0 when the report's table does not exist yet)."""
    raw = engine.raw_connection()
    try:
        conn: Connection = raw.driver_connection
        try:
            exists = conn.execute(
                "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL", (RESULTS_SCHEMA, spec.name)
            ).fetchone()[0]
            if not exists:
                return 0
            where, values = rows_of(key)
            return conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(table_identifier(spec), where),
                                values).fetchone()[0]
        finally:
            conn.rollback()
    finally:
        raw.close()
