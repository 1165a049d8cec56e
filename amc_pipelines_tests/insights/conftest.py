"""Insights fixtures: the demo dataset (and its twin without planted anomalies) as fct_campaign_week
frames through the campaign_performance report SQL (amc_pipelines.insights.replay), once per session.

The demo data ends on a fixed date, so the recall/precision figures do not move with the calendar
(where holidays fall relative to the planted weeks); docs/benchmarks.md records them for this date.
"""

from __future__ import annotations

from datetime import date

import pytest

from amc_pipelines_tests.marts.conftest import marts_env  # noqa: F401  (the small end-to-end path)

DEMO_SIZE, DEMO_SEED, DEMO_END = "demo", 7, date(2026, 12, 7)


def _frames(dataset):
    from amc_pipelines.insights.replay import sandbox_campaign_weeks

    return {i.instance_id: sandbox_campaign_weeks(dataset, i.instance_id, weeks=52) for i in dataset.instances}


@pytest.fixture(scope="session")
def demo_dataset(sandbox_data_dir):
    from amc_pipelines.sandbox.datagen import ensure_dataset

    return ensure_dataset(sandbox_data_dir, size=DEMO_SIZE, seed=DEMO_SEED, end_date=DEMO_END)


@pytest.fixture(scope="session")
def demo_weeks(demo_dataset):
    return _frames(demo_dataset)


@pytest.fixture(scope="session")
def clean_demo_weeks(sandbox_data_dir):
    from amc_pipelines.sandbox.datagen import ensure_dataset

    clean = ensure_dataset(sandbox_data_dir, size=DEMO_SIZE, seed=DEMO_SEED, end_date=DEMO_END, anomalies=False)
    assert clean.anomalies() == []
    return _frames(clean)
