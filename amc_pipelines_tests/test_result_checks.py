"""Checks and previews of a loaded partition: schema drift and duplicate keys are found."""

from __future__ import annotations

from datetime import datetime

from amc_pipelines.catalog import load_catalog
from amc_pipelines.db import get_engine, upgrade
from amc_pipelines.loading import load_result_files
from amc_pipelines.partitions import ResultKey
from amc_pipelines.result_checks import duplicate_keys, markdown_table, preview_rows, schema_differences

SPEC = load_catalog(check_sql=False)["new_to_brand"]  # one dimension: ad_product
KEY = ResultKey("amcaaaa000001", datetime(2026, 10, 5), datetime(2026, 10, 12), definition="checked",
                parameters_hash="h1")


def _load(engine, tmp_path, lines: list[str]) -> None:
    path = tmp_path / "result.csv"
    path.write_text("\n".join([",".join(SPEC.column_names), *lines]) + "\n")
    load_result_files(engine, SPEC, KEY, [path], amc_execution_id="exec-1")


def test_a_clean_partition_passes_and_previews_sorted(make_database, tmp_path) -> None:
    url = make_database()
    upgrade(url)
    engine = get_engine(url)
    assert schema_differences(engine, SPEC) == ["table amc_results.new_to_brand does not exist"]
    _load(engine, tmp_path, ["sponsored_products,5,2,50.5,20.25,6,4,2", "dsp,3,1,30,10,3,3,1"])
    assert schema_differences(engine, SPEC) == []
    assert duplicate_keys(engine, SPEC, KEY).groups == 0
    rows = preview_rows(engine, SPEC, KEY, limit=1)
    assert [row[0] for row in rows] == ["dsp"]
    assert markdown_table(SPEC.column_names, rows).splitlines()[2].startswith("| dsp | 3 | 1 |")


def test_duplicate_keys_and_a_changed_column_type_are_reported(make_database, tmp_path) -> None:
    url = make_database()
    upgrade(url)
    engine = get_engine(url)
    _load(engine, tmp_path, ["dsp,5,2,50.5,20.25,6,4,2", "dsp,3,1,30,10,3,3,1", "sponsored_brands,1,1,1,1,1,1,1"])
    duplicates = duplicate_keys(engine, SPEC, KEY)
    assert (duplicates.groups, duplicates.examples) == (1, [{"ad_product": "dsp", "count": 2}])
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE amc_results.new_to_brand ALTER COLUMN units TYPE text")
        connection.exec_driver_sql("ALTER TABLE amc_results.new_to_brand DROP COLUMN purchasers")
    assert schema_differences(engine, SPEC) == [
        "column units is text in amc_results.new_to_brand, the spec says bigint",
        "column purchasers (bigint) is missing from amc_results.new_to_brand",
    ]
