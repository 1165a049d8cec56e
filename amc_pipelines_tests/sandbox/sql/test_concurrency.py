"""Several executions at once from threads give the same results as one at a time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from .conftest import INSTANCE, request

QUERIES = [
    ("SELECT campaign, SUM(impressions) AS impressions FROM sponsored_ads_traffic GROUP BY 1", {}),
    ("SELECT SUM(impressions) AS impressions FROM sponsored_ads_traffic", {"time_zone": "America/New_York"}),
    ("SELECT SUM(impressions) AS impressions FROM TABLE(EXTEND_TIME_WINDOW('sponsored_ads_traffic', 'P14D', 'P1D'))", {}),
    ("SELECT SUM(impressions) AS impressions FROM sponsored_ads_traffic",
     {"time_window_start": datetime(2024, 1, 2), "time_window_end": datetime(2024, 1, 3)}),
    ("SELECT campaign, COUNT(DISTINCT user_id) AS users FROM dsp_impressions GROUP BY 1", {}),
]


def test_parallel_runs_match_serial_runs(engine):
    expected = [engine.run(request(sql, **options), INSTANCE).rows for sql, options in QUERIES]
    jobs = [index % len(QUERIES) for index in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: engine.run(request(QUERIES[i][0], **QUERIES[i][1]), INSTANCE).rows, jobs))
    assert results == [expected[i] for i in jobs]
