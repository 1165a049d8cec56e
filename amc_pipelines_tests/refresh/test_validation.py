"""Shadow validation on real Postgres: identical tables pass, each kind of corruption fails exactly
the checks that should catch it, missing tables fail with what to do, and the result is stored."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from amc_pipelines.db.models import refresh_validations
from amc_pipelines.refresh.validation import validate_shadow
from amc_pipelines_tests.refresh.shadow_tables import (
    ROWS_PER_WEEK,
    WEEKS,
    create_tables,
    effective,
    execute,
    new_name,
    rows,
    table_config,
)

ALL_CHECKS = ["tables", "columns", "row_counts_by_week", "key_differences", "checksums", "metric_sums"]
ONE_KEY = "account_id = 'acct_b' AND start_date = '2026-10-11' AND asin = 'B000000003'"


def _by_name(result) -> dict[str, dict]:
    return {check["name"]: check for check in result.checks}


def _failed(result) -> set[str]:
    return {check["name"] for check in result.checks if not check["passed"]}


def test_identical_tables_pass_whatever_the_row_order_and_float_noise(db_engine: Engine) -> None:
    name = new_name()
    create_tables(db_engine, name)
    # One ULP of noise in every shadow float: a different summation order produces such differences.
    execute(db_engine, f"UPDATE sqp_shadow.{name} SET sales = sales * (1 + 2.3e-16)")
    assert rows(db_engine, f"sqp.{name}") != rows(db_engine, f"sqp_shadow.{name}")  # bit-wise they differ
    before = rows(db_engine, f"sqp.{name}"), rows(db_engine, f"sqp_shadow.{name}")

    result = validate_shadow(db_engine, effective(table_config(name)), run_id=41)

    assert result.passed, result.summary
    assert [check["name"] for check in result.checks] == ALL_CHECKS
    checks = _by_name(result)
    assert checks["row_counts_by_week"]["details"] | {"message": None} == {
        "message": None, "live_rows": 3 * ROWS_PER_WEEK, "shadow_rows": 3 * ROWS_PER_WEEK,
        "weeks_compared": 3, "weeks_differing": 0, "examples": []}
    assert checks["checksums"]["details"]["columns"] == ["account_id", "start_date", "asin", "clicks", "sales",
                                                         "share", "updated_at"]
    assert checks["metric_sums"]["details"]["metrics"]["clicks"]["live_sum"] == sum(
        100 * w + 10 * a + s for w in (1, 2, 3) for a in (1, 2) for s in (1, 2, 3, 4))
    assert result.summary.startswith("passed 6 checks: 24 rows in 3 weeks, equal; same keys; 7 columns equal")
    assert (result.table, result.run_id) == (name, 41)

    with db_engine.connect() as connection:
        stored = connection.execute(select(refresh_validations).where(refresh_validations.c.id == result.validation_id)).one()
    assert (stored.table_name, stored.run_id, stored.passed, stored.checks, stored.summary) == (
        name, 41, True, result.checks, result.summary)
    assert (rows(db_engine, f"sqp.{name}"), rows(db_engine, f"sqp_shadow.{name}")) == before  # read only


CORRUPTIONS = {
    "one value changed": (f"UPDATE sqp_shadow.{{t}} SET clicks = clicks + 1 WHERE {ONE_KEY}",
                          {"checksums", "metric_sums"}),
    "one row removed": (f"DELETE FROM sqp_shadow.{{t}} WHERE {ONE_KEY}",
                        {"row_counts_by_week", "key_differences", "metric_sums"}),
    # Zero metrics: the sums stay equal, so only the row and key checks can see the row.
    "one extra row": ("INSERT INTO sqp_shadow.{t} VALUES ('acct_c', '2026-10-18', 'B000000009', 0, 0, 0, now())",
                      {"row_counts_by_week", "key_differences"}),
    "a float beyond tolerance": (f"UPDATE sqp_shadow.{{t}} SET sales = sales * 1.01 WHERE {ONE_KEY}",
                                 {"checksums", "metric_sums"}),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_corrupted_shadow_fails_the_checks_that_catch_it(db_engine: Engine, corruption: str) -> None:
    name = new_name()
    create_tables(db_engine, name)
    statement, expected = CORRUPTIONS[corruption]
    execute(db_engine, statement.format(t=name))

    result = validate_shadow(db_engine, effective(table_config(name)))

    assert not result.passed
    assert _failed(result) == expected, result.summary
    assert result.summary.startswith(f"failed {len(expected)} of 6 checks: ")
    checks = _by_name(result)
    if corruption == "one value changed":
        assert checks["checksums"]["details"]["columns_differing"] == {"clicks": {"weeks_differing": 1, "weeks": ["2026-10-11"]}}
        clicks = checks["metric_sums"]["details"]["metrics"]["clicks"]
        assert clicks["weeks_differing"] == 1 and clicks["examples"][0]["week"] == "2026-10-11"
        assert clicks["examples"][0]["shadow"] - clicks["examples"][0]["live"] == 1
        assert checks["metric_sums"]["details"]["metrics"]["sales"]["weeks_differing"] == 0
    elif corruption == "one row removed":
        assert checks["row_counts_by_week"]["details"]["examples"] == [
            {"week": "2026-10-11", "live": ROWS_PER_WEEK, "shadow": ROWS_PER_WEEK - 1}]
        keys = checks["key_differences"]["details"]
        assert (keys["only_in_live"], keys["only_in_shadow"]) == (1, 0)
        assert keys["examples_only_in_live"] == [{"account_id": "acct_b", "start_date": "2026-10-11", "asin": "B000000003"}]
        # The checksums compare the rows both tables hold: the missing row is key_differences' to report.
        assert checks["checksums"]["details"]["weeks_with_different_keys"] == ["2026-10-11"]
        assert "only in live e.g. (account_id=acct_b, start_date=2026-10-11, asin=B000000003)" in result.summary
    elif corruption == "one extra row":
        keys = checks["key_differences"]["details"]
        assert keys["examples_only_in_shadow"] == [{"account_id": "acct_c", "start_date": "2026-10-18", "asin": "B000000009"}]
        assert checks["row_counts_by_week"]["details"]["examples"] == [
            {"week": "2026-10-18", "live": ROWS_PER_WEEK, "shadow": ROWS_PER_WEEK + 1}]
    else:
        assert set(checks["checksums"]["details"]["columns_differing"]) == {"sales"}
        metrics = checks["metric_sums"]["details"]["metrics"]
        assert (metrics["sales"]["weeks_differing"], metrics["clicks"]["weeks_differing"]) == (1, 0)
        assert 0.001 < metrics["sales"]["examples"][0]["relative_difference"] < 0.01
        assert "sales differs beyond tolerance 0.001 in 1 week, e.g. 2026-10-11" in result.summary


def test_all_corruptions_at_once_fail_every_data_check(db_engine: Engine) -> None:
    """The removed row does not hide the values changed in its week."""
    name = new_name()
    create_tables(db_engine, name)
    for number, (statement, _) in enumerate(CORRUPTIONS.values(), start=1):  # each on its own row
        execute(db_engine, statement.format(t=name).replace("'B000000003'", f"'B00000000{number}'"))
    result = validate_shadow(db_engine, effective(table_config(name)))
    assert _failed(result) == {"row_counts_by_week", "key_differences", "checksums", "metric_sums"}
    assert _by_name(result)["checksums"]["details"]["columns_differing"] == {
        "clicks": {"weeks_differing": 1, "weeks": ["2026-10-11"]}, "sales": {"weeks_differing": 1, "weeks": ["2026-10-11"]}}


def test_a_float_within_tolerance_passes_the_metric_sum(db_engine: Engine) -> None:
    name = new_name()
    create_tables(db_engine, name)
    execute(db_engine, f"UPDATE sqp_shadow.{name} SET sales = sales * 1.000001 WHERE {ONE_KEY}")
    # The value changed (the checksum says so) but its week's sum is within the 0.1 % tolerance;
    # leaving sales out of the checksums makes such a table pass.
    assert _failed(validate_shadow(db_engine, effective(table_config(name)))) == {"checksums"}
    listed = table_config(name, checksum_columns=["clicks", "share"])
    assert validate_shadow(db_engine, effective(listed)).passed


def test_a_value_moved_to_another_row_is_a_checksum_difference(db_engine: Engine) -> None:
    name = new_name()
    create_tables(db_engine, name)
    # Swap two rows' shares: every per-column sum and count stays the same, the rows do not.
    execute(db_engine, f"""
        UPDATE sqp_shadow.{name} AS t SET share = o.share FROM sqp_shadow.{name} AS o
        WHERE (t.account_id, t.start_date, o.account_id, o.start_date) = ('acct_a', '2026-10-04', 'acct_a', '2026-10-04')
          AND ((t.asin, o.asin) = ('B000000001', 'B000000002') OR (t.asin, o.asin) = ('B000000002', 'B000000001'))""")
    result = validate_shadow(db_engine, effective(table_config(name)))
    assert _failed(result) == {"checksums"}
    assert _by_name(result)["checksums"]["details"]["columns_differing"] == {"share": {"weeks_differing": 1, "weeks": ["2026-10-04"]}}


def test_without_a_partition_column_the_whole_table_is_compared(db_engine: Engine) -> None:
    name = new_name()
    create_tables(db_engine, name)
    config = table_config(name).model_copy(update={"partition_column": None})
    assert validate_shadow(db_engine, effective(config)).passed
    execute(db_engine, f"DELETE FROM sqp_shadow.{name} WHERE {ONE_KEY}")
    result = validate_shadow(db_engine, effective(config))
    assert _failed(result) == {"row_counts_by_week", "key_differences", "metric_sums"}
    assert _by_name(result)["row_counts_by_week"]["details"]["message"] == (
        f"live has {3 * ROWS_PER_WEEK} rows, shadow {3 * ROWS_PER_WEEK - 1}")


def test_switched_off_checks_are_not_run_and_key_changes_still_fail_the_checksums(db_engine: Engine) -> None:
    name = new_name()
    create_tables(db_engine, name)
    # Same row count, different keys: without key_differences, the checksums must catch it.
    execute(db_engine, f"UPDATE sqp_shadow.{name} SET asin = 'B000000009' WHERE {ONE_KEY}")
    config = table_config(name, row_counts_by_week=False, key_differences=False, metric_sums=[])
    result = validate_shadow(db_engine, effective(config))
    assert [check["name"] for check in result.checks] == ["tables", "columns", "checksums"]
    assert _failed(result) == {"checksums"}
    assert "the rows differ in 1 week (2026-10-11)" in result.summary


def test_column_differences_fail_and_a_missing_configured_column_stops(db_engine: Engine) -> None:
    name = new_name()
    create_tables(db_engine, name)
    execute(db_engine, f"ALTER TABLE sqp_shadow.{name} ADD COLUMN sessions bigint")
    result = validate_shadow(db_engine, effective(table_config(name)))
    assert _failed(result) == {"columns"}  # the data checks compare the common columns
    assert _by_name(result)["columns"]["details"]["only_in_shadow"] == ["sessions"]

    execute(db_engine, f"ALTER TABLE sqp_shadow.{name} DROP COLUMN clicks")
    result = validate_shadow(db_engine, effective(table_config(name)))
    assert [check["name"] for check in result.checks] == ["tables", "columns"]
    assert "validation.metric_sums column clicks is not in sqp_shadow." in result.summary


@pytest.mark.parametrize(("live", "shadow"), [(True, False), (False, True), (False, False)])
def test_a_missing_table_fails_saying_which_and_what_to_do(db_engine: Engine, live: bool, shadow: bool) -> None:
    name = new_name()
    create_tables(db_engine, name, live=live, shadow=shadow)
    result = validate_shadow(db_engine, effective(table_config(name)), run_id=7)
    assert not result.passed
    [check] = result.checks
    assert check["name"] == "tables"
    missing = ([f"sqp.{name}"] if not live else []) + ([f"sqp_shadow.{name}"] if not shadow else [])
    assert sorted(check["details"]["missing"]) == sorted(missing)
    if not shadow:
        assert f"sqp_shadow.{name} does not exist" in result.summary
        assert f"amc refresh config set {name} --mode shadow" in result.summary
    if not live:
        assert f"sqp.{name} does not exist" in result.summary
        assert f"amc refresh config set {name} --mode live" in result.summary
    with db_engine.connect() as connection:
        stored = connection.execute(select(refresh_validations.c.passed, refresh_validations.c.run_id)
                                    .where(refresh_validations.c.table_name == name)).all()
    assert [tuple(row) for row in stored] == [(False, 7)]


def test_weeks_are_reported_in_order(db_engine: Engine) -> None:
    name = new_name()
    create_tables(db_engine, name)
    execute(db_engine, f"DELETE FROM sqp_shadow.{name} WHERE asin = 'B000000004'")
    result = validate_shadow(db_engine, effective(table_config(name)))
    details = _by_name(result)["row_counts_by_week"]["details"]
    assert [e["week"] for e in details["examples"]] == list(WEEKS)
    assert details["weeks_differing"] == 3
    assert _by_name(result)["key_differences"]["details"]["only_in_live"] == 6
