"""Result types and AMC-style CSV files."""

from __future__ import annotations

import csv
from datetime import date, datetime
from decimal import Decimal

import pytest

from amc_pipelines.sandbox.sql import QueryResult
from amc_pipelines.sandbox.sql.results import amc_type, render_value

from .conftest import INSTANCE, request


@pytest.mark.parametrize(
    ("duckdb_type", "expected"),
    [
        ("VARCHAR", "STRING"), ("BIGINT", "LONG"), ("HUGEINT", "LONG"), ("INTEGER", "INTEGER"), ("DOUBLE", "DOUBLE"),
        ("DECIMAL(38,4)", "DECIMAL"), ("BOOLEAN", "BOOLEAN"), ("DATE", "DATE"), ("TIMESTAMP", "TIMESTAMP"),
        ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP"), ("VARCHAR[]", "ARRAY"), ("STRUCT(a INTEGER)", "STRUCT"),
    ],
)
def test_amc_types(duckdb_type, expected):
    assert amc_type(duckdb_type) == expected


def test_rendering():
    assert render_value(None) == ""
    assert render_value(True) == "true"
    assert render_value(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02 03:04:05"
    assert render_value(date(2024, 1, 2)) == "2024-01-02"
    assert render_value(Decimal("1.5000")) == "1.5000"
    assert render_value(["a", None, 1]) == '["a",null,1]'
    assert render_value({"k": date(2024, 1, 1)}) == '{"k":"2024-01-01"}'


def test_write_csv_splits_and_repeats_the_header(tmp_path):
    result = QueryResult(["a", "b"], ["LONG", "STRING"], [(i, None if i % 2 else f"v{i}") for i in range(5)], 0)
    paths = result.write_csv(tmp_path, max_rows_per_file=2)
    assert [p.name for p in paths] == ["part-00000.csv", "part-00001.csv", "part-00002.csv"]
    contents = [list(csv.reader(p.open())) for p in paths]
    assert all(rows[0] == ["a", "b"] for rows in contents)
    assert [rows[1:] for rows in contents] == [[["0", "v0"], ["1", ""]], [["2", "v2"], ["3", ""]], [["4", "v4"]]]


def test_empty_result_writes_a_header_only_file(tmp_path):
    paths = QueryResult(["a"], ["LONG"], [], 0).write_csv(tmp_path, max_rows_per_file=10)
    assert [p.read_text() for p in paths] == ["a\n"]


def test_engine_result_columns_and_types(engine):
    result = engine.run(
        request(
            "SELECT campaign, SUM(impressions) AS impressions, AVG(spend / 100000000) AS spend, "
            "COLLECT(DISTINCT ad_product_type) AS products, COUNT(*) AS events FROM sponsored_ads_traffic GROUP BY 1"
        ),
        INSTANCE,
    )
    assert result.columns == ["campaign", "impressions", "spend", "products", "events"]
    assert result.column_types == ["STRING", "LONG", "DOUBLE", "ARRAY", "LONG"]
    assert result.rows[0][0] == "A" and result.rows[0][3] == ["sponsored_products"]
