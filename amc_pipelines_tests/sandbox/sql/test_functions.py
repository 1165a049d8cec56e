"""Each AMC function, translated to DuckDB, computes AMC's value."""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime
from decimal import Decimal

import duckdb
import pytest
import sqlglot

from amc_pipelines.sandbox.sql import QueryRejected
from amc_pipelines.sandbox.sql.functions import translate_functions

VALUES = "(VALUES (1.0), (2.0), (10.0), (4.0)) AS t(x)"


def evaluate(expression: str, source: str | None = None):
    """Translate ``SELECT <expression> [FROM source]`` from AMC SQL and run it in DuckDB."""
    sql = f"SELECT {expression}" + (f" FROM {source}" if source else "")
    tree = translate_functions(sqlglot.parse_one(sql, read="spark"))
    return duckdb.connect().execute(tree.sql(dialect="duckdb")).fetchone()[0]


def test_seconds_between_is_second_minus_first():
    assert evaluate("SECONDS_BETWEEN(TIMESTAMP '2024-01-01 00:00:00', TIMESTAMP '2024-01-01 01:00:30')") == 3630
    assert evaluate("SECONDS_BETWEEN(TIMESTAMP '2024-01-02 00:00:00', TIMESTAMP '2024-01-01 00:00:00')") == -86400


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("SECOND", datetime(2024, 5, 15, 13, 45, 30)),
        ("MINUTE", datetime(2024, 5, 15, 13, 45)),
        ("HOUR", datetime(2024, 5, 15, 13)),
        ("day", datetime(2024, 5, 15)),
        ("WEEK", datetime(2024, 5, 13)),  # Monday
        ("MONTH", datetime(2024, 5, 1)),
        ("QUARTER", datetime(2024, 4, 1)),
        ("YEAR", datetime(2024, 1, 1)),
    ],
)
def test_date_trunc_units(unit, expected):
    assert evaluate(f"DATE_TRUNC('{unit}', TIMESTAMP '2024-05-15 13:45:30.250')") == expected


def test_date_trunc_rejects_unknown_unit():
    with pytest.raises(QueryRejected, match="DATE_TRUNC granularity"):
        evaluate("DATE_TRUNC('FORTNIGHT', TIMESTAMP '2024-05-15 13:45:30')")


@pytest.mark.parametrize(
    ("unit", "expected"),
    [("YEAR", 2024), ("MONTH", 5), ("DAY", 19), ("HOUR", 13), ("MINUTE", 45), ("WEEK", 20), ("DOW", 1)],
)
def test_extract(unit, expected):
    # 2024-05-19 is a Sunday: AMC's DOW counts 1 (Sunday) to 7 (Saturday)
    assert evaluate(f"EXTRACT({unit} FROM TIMESTAMP '2024-05-19 13:45:30')") == expected


def test_extract_dow_saturday_is_seven():
    assert evaluate("EXTRACT(DOW FROM DATE '2024-05-18')") == 7


def test_convert_time_zone_from_utc():
    assert evaluate("CONVERT_TIME_ZONE_FROM_UTC(TIMESTAMP '2024-01-15 12:00:00', 'America/New_York')") == datetime(
        2024, 1, 15, 7, 0
    )
    assert evaluate("CONVERT_TIME_ZONE_FROM_UTC(TIMESTAMP '2024-07-15 12:00:00', 'Europe/Berlin')") == datetime(
        2024, 7, 15, 14, 0
    )


def test_epoch_to_utc_timestamp_seconds_and_milliseconds():
    assert evaluate("EPOCH_TO_UTC_TIMESTAMP(1704067200)") == datetime(2024, 1, 1)
    assert evaluate("EPOCH_TO_UTC_TIMESTAMP(1704067200500)") == datetime(2024, 1, 1, 0, 0, 0, 500_000)


def test_array_contains():
    assert evaluate("ARRAY_CONTAINS(ARRAY('a', 'b'), 'b')") is True
    assert evaluate("ARRAY_CONTAINS(ARRAY('a', 'b'), 'c')") is False


def test_cardinality():
    assert evaluate("CARDINALITY(ARRAY(1, 2, 3))") == 3


def test_collect_keeps_duplicates_and_nulls_and_distinct_dedups():
    source = "(VALUES ('a'), ('b'), ('a'), (NULL)) AS t(x)"
    assert sorted(evaluate("COLLECT(x)", source), key=lambda v: (v is None, v or "")) == ["a", "a", "b", None]
    assert sorted(v for v in evaluate("COLLECT(DISTINCT x)", source) if v is not None) == ["a", "b"]


def test_array_sort_of_collect():
    assert evaluate("ARRAY_SORT(COLLECT(DISTINCT x))", "(VALUES (3), (1), (2), (1)) AS t(x)") == [1, 2, 3]


def test_array_to_string():
    assert evaluate("ARRAY_TO_STRING(ARRAY('a', 'b', 'c'), '|')") == "a|b|c"
    assert evaluate("ARRAY_TO_STRING(ARRAY(1, 2), ',')") == "1,2"


def test_named_row_is_a_struct():
    assert evaluate("NAMED_ROW('campaign', 'A', 'clicks', 3)") == {"campaign": "A", "clicks": 3}


def test_uuid_is_a_string_uuid():
    value = evaluate("UUID()")
    assert isinstance(value, str)
    uuid.UUID(value)


def test_random_is_in_unit_interval():
    assert 0 <= evaluate("RANDOM()") < 1


def test_percentile_is_exact_interpolated():
    assert float(evaluate("PERCENTILE(x, 0.5)", VALUES)) == pytest.approx(3.0)
    assert float(evaluate("PERCENTILE(x, 0.9)", VALUES)) == pytest.approx(8.2)  # 4 + 0.7 * (10 - 4)


def test_approx_percentile_is_close():
    assert evaluate("APPROX_PERCENTILE(x, 0.5)", "range(1, 1002) AS t(x)") == pytest.approx(501, abs=10)


def test_median():
    assert float(evaluate("MEDIAN(x)", VALUES)) == pytest.approx(3.0)


def test_standard_deviations_and_variances():
    # the documented sample: 20, 45, 30, 66, 50, 60, 85, 70 -> STDDEV 21.45261, VARIANCE 460.2142
    sample = "(VALUES (20), (45), (30), (66), (50), (60), (85), (70)) AS t(x)"
    assert evaluate("STDDEV(x)", sample) == pytest.approx(21.45261, abs=1e-4)
    assert evaluate("STDDEV_SAMP(x)", sample) == pytest.approx(21.45261, abs=1e-4)
    assert evaluate("VAR_SAMP(x)", sample) == pytest.approx(460.2142, abs=1e-3)
    assert evaluate("VARIANCE(x)", sample) == pytest.approx(460.2142, abs=1e-3)
    assert evaluate("VAR_POP(x)", sample) == pytest.approx(460.2142 * 7 / 8, abs=1e-3)
    assert evaluate("STDDEV_POP(x)", sample) == pytest.approx(math.sqrt(460.2142 * 7 / 8), abs=1e-4)


def test_skewness_is_population_skewness():
    values = [1.0, 2.0, 10.0, 4.0]
    mean = sum(values) / len(values)
    m2 = sum((v - mean) ** 2 for v in values) / len(values)
    m3 = sum((v - mean) ** 3 for v in values) / len(values)
    assert evaluate("SKEWNESS(x)", VALUES) == pytest.approx(m3 / m2**1.5)


def test_least_and_greatest_are_null_when_any_argument_is():
    assert evaluate("LEAST(3, 1, 2)") == 1
    assert evaluate("GREATEST(3, 1, 2)") == 3
    assert evaluate("LEAST(3, NULL, 2)") is None
    assert evaluate("GREATEST(3, NULL)") is None


def test_round():
    assert evaluate("ROUND(2.5)") == 3
    assert evaluate("ROUND(-2.5)") == -3
    assert evaluate("ROUND(3.14159, 2)") == Decimal("3.14")


def test_if():
    assert evaluate("IF(1 > 0, 'yes', 'no')") == "yes"
    assert evaluate("IF(1 < 0, 'yes', 'no')") == "no"


def test_concat_casts_to_string_and_propagates_null():
    assert evaluate("CONCAT('a', 1, 'b')") == "a1b"
    assert evaluate("CONCAT('a', NULL)") is None


def test_coalesce():
    assert evaluate("COALESCE(NULL, NULL, 'x')") == "x"


def test_cast_types():
    assert evaluate("CAST('12' AS LONG)") == 12
    assert evaluate("CAST(12 AS STRING)") == "12"
    assert evaluate("CAST('2024-01-02 03:04:05' AS TIMESTAMP)") == datetime(2024, 1, 2, 3, 4, 5)
    assert evaluate("CAST('2024-01-02' AS DATE)") == date(2024, 1, 2)


def test_like_and_similar_to():
    assert evaluate("'campaign_a' LIKE 'camp%'") is True
    assert evaluate("'campaign_a' SIMILAR TO 'camp.*_[a-c]'") is True
    assert evaluate("'campaign_a' SIMILAR TO 'camp'") is False  # the whole value must match
    assert evaluate("'campaign_a' NOT SIMILAR TO 'x.*'") is True


def test_window_functions():
    source = "(VALUES ('a', 3), ('a', 1), ('b', 2)) AS t(k, v)"
    tree = translate_functions(
        sqlglot.parse_one(
            f"SELECT k, v, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC) AS rn, "
            f"RANK() OVER (ORDER BY v) AS rk, DENSE_RANK() OVER (ORDER BY k) AS dr, "
            f"SUM(v) OVER (PARTITION BY k) AS total FROM {source}",
            read="spark",
        )
    )
    rows = sorted(duckdb.connect().execute(tree.sql(dialect="duckdb")).fetchall())
    assert rows == [("a", 1, 2, 1, 1, 4), ("a", 3, 1, 3, 1, 4), ("b", 2, 1, 2, 2, 2)]


def test_nested_amc_functions_are_all_translated():
    value = evaluate(
        "SECONDS_BETWEEN(CONVERT_TIME_ZONE_FROM_UTC(EPOCH_TO_UTC_TIMESTAMP(0), 'UTC'), EPOCH_TO_UTC_TIMESTAMP(60))"
    )
    assert value == 60
