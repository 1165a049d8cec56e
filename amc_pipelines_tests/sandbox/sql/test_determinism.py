"""The same execution returns the same numbers, to the last digit, however many run at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from amc_pipelines.sandbox.sql import QueryRequest, SqlEngine

# DOUBLE sums over a whole year: the case where parallel aggregation reorders additions.
SQL = """
SELECT campaign, SUM(total_cost / 100000) AS spend, SUM(supply_cost * 0.001) AS supply
FROM dsp_impressions
GROUP BY campaign
"""


def test_double_sums_are_identical_across_concurrent_runs(sandbox_dataset) -> None:
    engine = SqlEngine(sandbox_dataset)
    instance = sandbox_dataset.instances[0]
    end = datetime.combine(sandbox_dataset.end_date, datetime.min.time())
    request = QueryRequest(sql=SQL, time_window_start=end - timedelta(days=364), time_window_end=end,
                           time_zone=instance.timezone)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: sorted(engine.run(request, instance.instance_id).rows), range(8)))
    assert results[0], "the query returned no rows"
    assert all(rows == results[0] for rows in results[1:])
