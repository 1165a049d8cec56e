"""Result tables and the loader against the session's real Postgres."""

from __future__ import annotations

import csv
import threading
import uuid
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from amc_pipelines.catalog import LOADER_COLUMNS, OutputColumn, ReportSpec
from amc_pipelines.loading import (
    CHUNK_BYTES,
    LoadError,
    ResultTableError,
    ensure_result_table,
    load_result_files,
    partition_row_count,
)
from amc_pipelines.partitions import ResultKey
from amc_pipelines.results import PARTITION_COLUMNS, RESULTS_SCHEMA

COLUMNS = [
    ("ad_product", "string", "Ad product"),
    ("campaign", "string", "The campaign name"),
    ("impressions", "integer", ""),
    ("spend", "decimal", "Spend in local currency"),
    ("ctr", "double", ""),
    ("is_ntb", "boolean", ""),
    ("day", "date", ""),
    ("first_seen", "timestamp", ""),
]
HEADER = [name for name, _, _ in COLUMNS]
WEEK = ResultKey("amc-one", datetime(2025, 1, 6), datetime(2025, 1, 13), definition="probe", parameters_hash="h1")
OTHER_WEEK = ResultKey("amc-one", datetime(2025, 1, 13), datetime(2025, 1, 20), definition="probe", parameters_hash="h1")
OTHER_INSTANCE = ResultKey("amc-two", datetime(2025, 1, 6), datetime(2025, 1, 13), definition="probe", parameters_hash="h1")


def make_spec(tmp_path: Path, columns=COLUMNS, name: str | None = None) -> ReportSpec:
    name = name or f"t_{uuid.uuid4().hex[:10]}"
    return ReportSpec(
        name=name,
        title="Loader test",
        description="A report built by the loader tests.",
        owner="tests",
        output_columns=[
            OutputColumn(
                name=column,
                type=kind,
                kind="metric" if kind in ("integer", "decimal", "double") else "dimension",
                description=description,
            )
            for column, kind, description in columns
        ],
        sql="SELECT 1",
        source_path=tmp_path / f"{name}.yaml",
    )


def write_csv(path: Path, rows, header=HEADER, lineterminator="\n") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator=lineterminator)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def sample_rows(count: int, start: int = 0) -> list[list[str]]:
    return [
        ["sponsored_products", f"campaign {i}", str(i * 10), f"{i}.25", f"0.{i % 10}5", "true" if i % 2 else "false",
         "2025-01-06", "2025-01-06 08:00:00"]
        for i in range(start, start + count)
    ]


def stored(db_engine, spec: ReportSpec, key: ResultKey, columns: str = "*") -> list:
    with db_engine.connect() as conn:
        return conn.execute(
            text(f'SELECT {columns} FROM {RESULTS_SCHEMA}."{spec.name}" '
                 "WHERE instance_id = :i AND week_start = :w ORDER BY campaign"),
            {"i": key.instance_id, "w": key.week_start},
        ).mappings().all()


def column_info(db_engine, spec: ReportSpec) -> dict[str, tuple[str, str, str | None]]:
    with db_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, col_description(c.oid, a.attnum) "
                "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relname = :t AND a.attnum > 0 AND NOT a.attisdropped"
            ),
            {"s": RESULTS_SCHEMA, "t": spec.name},
        ).all()
    return {name: (kind, not_null, comment) for name, kind, not_null, comment in rows}


def test_loader_columns_are_the_catalogs_reserved_names():
    assert tuple(name for name, _ in PARTITION_COLUMNS) == LOADER_COLUMNS


def test_table_created_from_spec_with_types_comments_and_index(db_engine, tmp_path):
    spec = make_spec(tmp_path)
    ensure_result_table(db_engine, spec)
    ensure_result_table(db_engine, spec)  # idempotent
    info = column_info(db_engine, spec)
    assert {name: kind for name, (kind, _, _) in info.items()} == {
        "ad_product": "text", "campaign": "text", "impressions": "bigint", "spend": "numeric",
        "ctr": "double precision", "is_ntb": "boolean", "day": "date", "first_seen": "timestamp without time zone",
        "definition": "text", "parameters_hash": "text",
        "instance_id": "text", "week_start": "date", "window_end": "timestamp without time zone",
        "amc_execution_id": "text", "loaded_at": "timestamp with time zone",
    }
    assert not any(info[name][1] for name in HEADER), "spec columns are nullable (AMC may filter values)"
    assert all(info[name][1] for name in LOADER_COLUMNS)
    assert info["campaign"][2] == "The campaign name" and info["impressions"][2] is None
    with db_engine.connect() as conn:
        indexdef = conn.execute(
            text("SELECT indexdef FROM pg_indexes WHERE schemaname = :s AND tablename = :t"),
            {"s": RESULTS_SCHEMA, "t": spec.name},
        ).scalar_one()
    assert "(definition, instance_id, week_start)" in indexdef


def test_new_column_is_added_and_removed_column_stays(db_engine, tmp_path):
    spec = make_spec(tmp_path)
    ensure_result_table(db_engine, spec)
    load_result_files(db_engine, spec, WEEK, [write_csv(tmp_path / "a.csv", sample_rows(2))], amc_execution_id="e1")

    evolved_columns = [c for c in COLUMNS if c[0] != "ctr"] + [("units", "integer", "Units sold")]
    evolved_columns[1] = ("campaign", "string", "The campaign's name, as the advertiser typed it")
    evolved = make_spec(tmp_path, evolved_columns, name=spec.name)
    header = [c[0] for c in evolved_columns]
    rows = [[*row[:4], *row[5:], "7"] for row in sample_rows(3, start=10)]
    load_result_files(db_engine, evolved, OTHER_WEEK, [write_csv(tmp_path / "b.csv", rows, header)], amc_execution_id="e2")

    info = column_info(db_engine, evolved)
    assert info["units"] == ("bigint", False, "Units sold")
    assert info["campaign"][2] == "The campaign's name, as the advertiser typed it"
    assert info["ctr"][:2] == ("double precision", False)
    assert [r["units"] for r in stored(db_engine, spec, WEEK)] == [None, None]
    assert [(r["units"], r["ctr"]) for r in stored(db_engine, spec, OTHER_WEEK)] == [(7, None)] * 3


def test_changed_type_is_a_clear_error(db_engine, tmp_path):
    spec = make_spec(tmp_path)
    ensure_result_table(db_engine, spec)
    changed = make_spec(tmp_path, [(n, "string" if n == "impressions" else t, d) for n, t, d in COLUMNS], spec.name)
    with pytest.raises(ResultTableError) as error:
        ensure_result_table(db_engine, changed)
    message = str(error.value)
    for part in (spec.name, "impressions", "bigint", "text", "migration", "new name"):
        assert part in message
    assert column_info(db_engine, spec)["impressions"][0] == "bigint"


def test_values_round_trip_with_their_types(db_engine, tmp_path):
    spec = make_spec(tmp_path)
    rows = [
        ["sponsored_brands", 'Brand "Best", 2025 – 日本 ✓', "9007199254740993", "12345678901234.123456789",
         "0.1", "true", "2024-02-29", "2025-01-06 23:59:59.123"],
        ["dsp", "a, b\nsecond line", "0", "-0.0001", "1e-300", "false", "2025-12-31", "2025-01-06 00:00:00"],
        ["", "empty product", "", "", "", "", "", ""],
    ]
    result = load_result_files(db_engine, spec, WEEK, [write_csv(tmp_path / "r.csv", rows)], amc_execution_id="exec-1")
    assert (result.rows, result.files) == (3, 1)
    got = {r["campaign"]: r for r in stored(db_engine, spec, WEEK)}
    first = got['Brand "Best", 2025 – 日本 ✓']
    assert first["impressions"] == 9007199254740993
    assert first["spend"] == Decimal("12345678901234.123456789")
    assert first["ctr"] == 0.1 and first["is_ntb"] is True
    assert first["day"] == date(2024, 2, 29)
    assert first["first_seen"] == datetime(2025, 1, 6, 23, 59, 59, 123000)
    second = got["a, b\nsecond line"]
    assert (second["spend"], second["ctr"], second["is_ntb"]) == (Decimal("-0.0001"), 1e-300, False)
    empty = got["empty product"]
    assert [empty[c] for c in ("ad_product", "impressions", "spend", "ctr", "is_ntb", "day", "first_seen")] == [None] * 7
    assert {(r["instance_id"], r["week_start"], r["window_end"], r["amc_execution_id"]) for r in got.values()} == {
        ("amc-one", date(2025, 1, 6), datetime(2025, 1, 13), "exec-1")
    }
    assert all(r["loaded_at"] is not None for r in got.values())


def test_multi_file_load_maps_columns_by_name(db_engine, tmp_path):
    spec = make_spec(tmp_path)
    rows = sample_rows(30)
    reordered = list(reversed(HEADER))
    files = [
        write_csv(tmp_path / "part-00000.csv", rows[:10]),
        write_csv(tmp_path / "part-00001.csv", [list(reversed(r)) for r in rows[10:25]], reordered),
        write_csv(tmp_path / "part-00002.csv", rows[25:], lineterminator="\r\n"),
        write_csv(tmp_path / "part-00003.csv", []),
    ]
    result = load_result_files(db_engine, spec, WEEK, files, amc_execution_id="e1")
    assert (result.rows, result.files) == (30, 4)
    got = stored(db_engine, spec, WEEK, "campaign, impressions, spend")
    assert sorted((r["campaign"], r["impressions"], r["spend"]) for r in got) == sorted(
        (r[1], int(r[2]), Decimal(r[3])) for r in rows
    )


def test_large_file_with_line_breaks_inside_fields_across_chunks(db_engine, tmp_path):
    spec = make_spec(tmp_path)
    rows = sample_rows(30_000)
    for i in range(0, len(rows), 7):
        rows[i][1] = f'multi "line"\r\nname {i},\nend'
    path = write_csv(tmp_path / "big.csv", rows)
    assert path.stat().st_size > 2 * CHUNK_BYTES
    result = load_result_files(db_engine, spec, WEEK, [path], amc_execution_id="e1")
    assert result.rows == len(rows)
    got = stored(db_engine, spec, WEEK, "campaign, impressions")
    assert sorted((r["campaign"], r["impressions"]) for r in got) == sorted((r[1], int(r[2])) for r in rows)


def test_reload_replaces_the_partition_and_records_the_new_execution(db_engine, tmp_path):
    spec = make_spec(tmp_path)
    path = write_csv(tmp_path / "r.csv", sample_rows(5))
    first = load_result_files(db_engine, spec, WEEK, [path], amc_execution_id="first")
    second = load_result_files(db_engine, spec, WEEK, [path], amc_execution_id="second")
    assert first.rows == second.rows == partition_row_count(db_engine, spec, WEEK) == 5
    assert first.checksum == second.checksum
    assert {r["amc_execution_id"] for r in stored(db_engine, spec, WEEK)} == {"second"}


def test_partitions_are_independent(db_engine, tmp_path):
    spec = make_spec(tmp_path)
    for key, count in ((WEEK, 4), (OTHER_WEEK, 3), (OTHER_INSTANCE, 2)):
        load_result_files(db_engine, spec, key, [write_csv(tmp_path / "r.csv", sample_rows(count))], amc_execution_id="e")
    load_result_files(db_engine, spec, WEEK, [write_csv(tmp_path / "r.csv", sample_rows(1))], amc_execution_id="e2")
    counts = [partition_row_count(db_engine, spec, key) for key in (WEEK, OTHER_WEEK, OTHER_INSTANCE)]
    assert counts == [1, 3, 2]


def test_empty_result_replaces_the_partition_with_no_rows(db_engine, tmp_path):
    spec = make_spec(tmp_path)
    load_result_files(db_engine, spec, WEEK, [write_csv(tmp_path / "r.csv", sample_rows(3))], amc_execution_id="e1")
    result = load_result_files(db_engine, spec, WEEK, [write_csv(tmp_path / "e.csv", [])], amc_execution_id="e2")
    assert result.rows == 0 and partition_row_count(db_engine, spec, WEEK) == 0


def test_concurrent_loads_of_one_partition_leave_one_copy(db_engine, tmp_path):
    spec = make_spec(tmp_path)
    ensure_result_table(db_engine, spec)
    path = write_csv(tmp_path / "r.csv", sample_rows(2_000))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def load(execution_id: str) -> None:
        try:
            barrier.wait()
            load_result_files(db_engine, spec, WEEK, [path], amc_execution_id=execution_id)
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=load, args=(f"e{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert partition_row_count(db_engine, spec, WEEK) == 2_000
    assert len({r["amc_execution_id"] for r in stored(db_engine, spec, WEEK)}) == 1


def test_concurrent_first_loads_of_a_new_report_create_its_table_once(db_engine, tmp_path):
    spec = make_spec(tmp_path)
    path = write_csv(tmp_path / "r.csv", sample_rows(10))
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def load(key: ResultKey) -> None:
        try:
            barrier.wait()
            load_result_files(db_engine, spec, key, [path], amc_execution_id="e")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=load, args=(key,)) for key in (WEEK, OTHER_WEEK, OTHER_INSTANCE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [partition_row_count(db_engine, spec, k) for k in (WEEK, OTHER_WEEK, OTHER_INSTANCE)] == [10, 10, 10]


def test_header_mismatch_names_file_and_columns(db_engine, tmp_path):
    spec = make_spec(tmp_path)
    header = [name for name in HEADER if name != "spend"] + ["cost"]
    path = write_csv(tmp_path / "part-00001.csv", [], header)
    with pytest.raises(LoadError) as error:
        load_result_files(db_engine, spec, WEEK, [write_csv(tmp_path / "ok.csv", []), path], amc_execution_id="e")
    message = str(error.value)
    assert "part-00001.csv" in message and "missing column(s) spend" in message and "unexpected column(s) cost" in message


@pytest.mark.parametrize(
    ("bad_row", "expected"),
    [
        (["dsp", "c", "12x", "1", "0.1", "true", "2025-01-06", "2025-01-06 00:00:00"], ["line 3", "impressions", "12x"]),
        (["dsp", "c", "1", "1", "0.1", "maybe", "2025-01-06", "2025-01-06 00:00:00"], ["line 3", "is_ntb", "maybe"]),
        (["dsp", "c", "1", "1", "0.1", "true", "2025-02-30", "2025-01-06 00:00:00"], ["line 3", "day", "2025-02-30"]),
        (["dsp", "c", "1", "1", "0.1", "true", "2025-01-06"], ["line 3: that line has 7 fields but the header has 8"]),
    ],
)
def test_bad_value_names_file_line_and_column(db_engine, tmp_path, bad_row, expected):
    spec = make_spec(tmp_path)
    path = write_csv(tmp_path / "part-00007.csv", [sample_rows(1)[0], bad_row])
    with pytest.raises(LoadError) as error:
        load_result_files(db_engine, spec, WEEK, [path], amc_execution_id="e")
    message = str(error.value)
    assert "part-00007.csv" in message and spec.name in message
    for part in expected:
        assert part in message


def test_failed_load_leaves_the_previous_rows(db_engine, tmp_path):
    spec = make_spec(tmp_path)
    good = write_csv(tmp_path / "good.csv", sample_rows(4))
    load_result_files(db_engine, spec, WEEK, [good], amc_execution_id="kept")
    bad = write_csv(tmp_path / "bad.csv", [["dsp", "c", "not a number", "", "", "", "", ""]])
    with pytest.raises(LoadError):  # the first file is copied (after the delete) before the second fails
        load_result_files(db_engine, spec, WEEK, [write_csv(tmp_path / "more.csv", sample_rows(9)), bad], amc_execution_id="lost")
    assert partition_row_count(db_engine, spec, WEEK) == 4
    assert {r["amc_execution_id"] for r in stored(db_engine, spec, WEEK)} == {"kept"}


def test_checksum_ignores_file_split_row_order_and_line_endings(db_engine, tmp_path):
    spec = make_spec(tmp_path)
    rows = sample_rows(50)
    rows[3][1] = "quoted, \"name\"\nwith a line break"
    whole = load_result_files(db_engine, spec, WEEK, [write_csv(tmp_path / "all.csv", rows)], amc_execution_id="a")
    shuffled = rows[::-1]
    split = [write_csv(tmp_path / f"p{i}.csv", shuffled[i::3], lineterminator="\r\n") for i in range(3)]
    again = load_result_files(db_engine, spec, OTHER_WEEK, split, amc_execution_id="b")
    assert whole.checksum == again.checksum and len(whole.checksum) == 32
    rows[10][2] = "11"
    changed = load_result_files(db_engine, spec, WEEK, [write_csv(tmp_path / "all.csv", rows)], amc_execution_id="c")
    assert changed.checksum != whole.checksum
    duplicated = load_result_files(
        db_engine, spec, WEEK, [write_csv(tmp_path / "dup.csv", rows + rows[:1])], amc_execution_id="d"
    )
    assert duplicated.checksum not in (whole.checksum, changed.checksum)


def test_missing_or_empty_files_are_refused(db_engine, tmp_path):
    spec = make_spec(tmp_path)
    with pytest.raises(LoadError, match="no result files"):
        load_result_files(db_engine, spec, WEEK, [], amc_execution_id="e")
    empty = tmp_path / "part-00000.csv"
    empty.write_bytes(b"")
    with pytest.raises(LoadError, match="part-00000.csv is empty"):
        load_result_files(db_engine, spec, WEEK, [empty], amc_execution_id="e")


def test_row_count_of_a_report_never_loaded_is_zero(db_engine, tmp_path):
    assert partition_row_count(db_engine, make_spec(tmp_path), WEEK) == 0


def test_result_key_takes_naive_local_windows():
    from zoneinfo import ZoneInfo

    with pytest.raises(ValueError, match="naive local times"):
        ResultKey("amc-one", datetime(2025, 1, 6, tzinfo=ZoneInfo("UTC")), datetime(2025, 1, 13),
                  definition="probe", parameters_hash="h1")
    with pytest.raises(ValueError, match="end after start"):
        ResultKey("amc-one", datetime(2025, 1, 13), datetime(2025, 1, 6), definition="probe", parameters_hash="h1")
    with pytest.raises(ValueError, match="definition and its parameters hash"):
        ResultKey("amc-one", datetime(2025, 1, 6), datetime(2025, 1, 13), definition="probe", parameters_hash="")
    assert WEEK.week_start == date(2025, 1, 6)


def test_concurrent_first_loads_of_two_reports_on_a_new_database_create_the_schema_once(make_database, tmp_path):
    """The first loads of different reports on a database without the results schema create the schema
    and each table once and lose no row (the benchmark once saw a UniqueViolation on the schema)."""
    from amc_pipelines.db import get_engine, upgrade

    url = make_database()
    upgrade(url)
    engine = get_engine(url)
    path = write_csv(tmp_path / "r.csv", sample_rows(3))
    for attempt in range(3):
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {RESULTS_SCHEMA} CASCADE"))
        specs = [make_spec(tmp_path) for _ in range(3)]
        barrier = threading.Barrier(len(specs))
        errors: list[BaseException] = []

        def load(spec: ReportSpec, barrier: threading.Barrier, errors: list[BaseException]) -> None:
            try:
                barrier.wait()
                load_result_files(engine, spec, WEEK, [path], amc_execution_id="e")
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=load, args=(spec, barrier, errors)) for spec in specs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [], (attempt, errors)
        assert [partition_row_count(engine, spec, WEEK) for spec in specs] == [3, 3, 3]
