"""ReportPartition and its conversions: Dagster keys and tags, run keys, AMC windows, result and ledger keys."""

from __future__ import annotations

import sys
from datetime import date, datetime

import dagster as dg
import pytest
from dagster._core.storage import tags as dagster_tags

from amc_pipelines.catalog import load_catalog
from amc_pipelines.params import TimeWindow
from amc_pipelines.partitions import (
    DIMENSION_TAG_PREFIX,
    INSTANCE_TAG,
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    ReportPartition,
    ResultKey,
    execution_key,
    key_of_run_tags,
)

PARTITION = ReportPartition("campaign_performance", "amcberlin00001", date(2026, 10, 19))


def test_the_dagster_key_and_its_string_form_round_trip() -> None:
    key = PARTITION.dagster_key()
    assert key == dg.MultiPartitionKey({"week": "2026-10-19", "instance": "amcberlin00001"})
    assert str(key) == PARTITION.key == "amcberlin00001|2026-10-19"
    assert ReportPartition.from_key(PARTITION.report, key) == PARTITION
    assert ReportPartition.from_key(PARTITION.report, PARTITION.key) == PARTITION
    assert PARTITION.run_key == "campaign_performance|amcberlin00001|2026-10-19"
    assert PARTITION.settled_run_key == PARTITION.run_key + "|settled"


@pytest.mark.parametrize("key", ["amcberlin00001", "amcberlin00001|2026-13-01", "|2026-10-19", "2026-10-19|amcx"])
def test_a_key_that_names_no_week_x_instance_partition_is_refused(key) -> None:
    with pytest.raises(ValueError, match="not a week x instance partition key"):
        ReportPartition.from_key("campaign_performance", key)


def test_the_tag_names_are_dagsters() -> None:
    from amc_pipelines.dagster_home import INSTANCE_PARTITION_TAG

    assert PARTITION_TAG == dagster_tags.PARTITION_NAME_TAG
    assert DIMENSION_TAG_PREFIX == dagster_tags.MULTIDIMENSIONAL_PARTITION_PREFIX
    assert (RANGE_START_TAG, RANGE_END_TAG) == (dagster_tags.ASSET_PARTITION_RANGE_START_TAG,
                                                dagster_tags.ASSET_PARTITION_RANGE_END_TAG)
    assert INSTANCE_TAG == INSTANCE_PARTITION_TAG  # the per-instance run limit keys on it
    assert PARTITION.run_tags == {"dagster/partition/instance": "amcberlin00001", "dagster/partition/week": "2026-10-19"}


def test_a_runs_partition_key_comes_from_its_tags() -> None:
    assert key_of_run_tags(PARTITION.run_tags) == PARTITION.key
    assert key_of_run_tags({PARTITION_TAG: PARTITION.key, **PARTITION.run_tags}) == PARTITION.key
    assert key_of_run_tags({RANGE_START_TAG: PARTITION.key, RANGE_END_TAG: PARTITION.key}) == PARTITION.key
    assert key_of_run_tags({RANGE_START_TAG: PARTITION.key, RANGE_END_TAG: "amcberlin00001|2026-10-26"}) is None
    assert key_of_run_tags({"dagster/backfill": "abc"}) is None


def test_the_window_result_key_and_execution_key_of_a_partition() -> None:
    spec = load_catalog(check_sql=False)[PARTITION.report]
    window = PARTITION.window(timezone="Europe/Berlin", week_start="monday")
    assert window == TimeWindow(datetime(2026, 10, 19), datetime(2026, 10, 26), "Europe/Berlin")
    result_key = PARTITION.result_key("h1")
    assert result_key == ResultKey.of_window(PARTITION.instance_id, window, definition=PARTITION.report,
                                             parameters_hash="h1")
    assert result_key.week_start == PARTITION.week
    key = execution_key(spec, PARTITION.instance_id, window, {})
    assert (key.report_name, key.instance_id, key.sql_hash, key.timezone) == (
        PARTITION.report, PARTITION.instance_id, spec.sql_hash, "Europe/Berlin")
    assert ReportPartition.of_execution(key, week_start="monday") == PARTITION
    assert ReportPartition.of_execution(key, week_start="sunday") is None  # not a week of that dimension
    ad_hoc = TimeWindow(datetime(2026, 10, 19), datetime(2026, 10, 25), "Europe/Berlin")
    assert ReportPartition.of_execution(execution_key(spec, PARTITION.instance_id, ad_hoc, {}), week_start="monday") is None
    with pytest.raises(ValueError, match="Sunday|sunday"):
        PARTITION.window(timezone="Europe/Berlin", week_start="sunday")


def test_a_definitions_execution_key_names_the_definition_and_the_implicit_one_the_template() -> None:
    spec = load_catalog(check_sql=False)[PARTITION.report]
    window = PARTITION.window(timezone="Europe/Berlin", week_start="monday")
    implicit = execution_key(spec, PARTITION.instance_id, window, {})
    named = execution_key(spec, PARTITION.instance_id, window, {}, definition="acme_campaigns")
    assert implicit == execution_key(spec, PARTITION.instance_id, window, {}, definition=spec.name)
    assert named.report_name == "acme_campaigns" and named.digest != implicit.digest
    assert ReportPartition.of_execution(named, week_start="monday") == ReportPartition(
        "acme_campaigns", PARTITION.instance_id, PARTITION.week)


def test_the_module_imports_no_dagster() -> None:
    import subprocess

    code = "import sys, amc_pipelines.partitions; assert 'dagster' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
