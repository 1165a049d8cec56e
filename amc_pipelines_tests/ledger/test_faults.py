"""50 runs through AMC's faults (5xx, 429, timeouts, FAILED executions, truncated downloads) all end
LOADED, with exactly the data of a fault-free run and no AMC execution the ledger does not know."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from amc_pipelines import ledger
from amc_pipelines.amc.transport import RetryPolicy
from amc_pipelines.catalog.definitions import configured_definitions
from amc_pipelines.runner import prepare_run, run_report

# A report whose metrics are integers and decimals: the sandbox's DuckDB sums DOUBLE columns in a
# thread-dependent order, so reports with double metrics (spend) can differ in the last digits
# between two executions of the same query, faults or not.
REPORT = "asin_performance"
WEEKS = 25
FAULTS = "5xx=0.2,429=0.05,timeout=0.02,failed=0.05,truncate=0.05"
SHORT_RETRIES = RetryPolicy(max_attempts=8, base_backoff_seconds=0.02, max_backoff_seconds=0.3, max_elapsed_seconds=60)


def _run_all(env) -> dict[tuple[str, str], object]:
    definitions = configured_definitions(env.settings)
    settings = env.settings
    partitions = [(i.instance_id, env.week(weeks_back=n, instance=k))
                  for k, i in enumerate(env.instances[:2]) for n in range(WEEKS)]

    def one(partition):
        instance_id, week = partition
        request = prepare_run(env.engine, settings, report_name=REPORT, instance_id=instance_id, week=week,
                              params={}, definitions=definitions)
        with env.client(retry=SHORT_RETRIES) as client:  # one client per run: its counter is the run's calls
            return run_report(env.engine, settings, client, request)

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(one, partitions))
    return {(o.window.start.date().isoformat(), p[0]): o for p, o in zip(partitions, outcomes, strict=True)}


@pytest.mark.slow  # 30 s of fault handling over the same 25 weeks whatever the day: not in the clock sweep
def test_fifty_runs_through_faults_load_the_fault_free_data(make_ledger_env) -> None:
    clean_env = make_ledger_env()
    clean = _run_all(clean_env)

    # A timeout fault holds the answer 2 s; the client gives up after 1 s (then the ledger looks the
    # execution up before submitting again).
    faulty_env = make_ledger_env(faults=FAULTS, timeout_fault_seconds=2.0, overrides={"AMC_REQUEST_TIMEOUT": "1"})
    faulty = _run_all(faulty_env)

    assert len(faulty) == 50
    assert {key: o.status for key, o in faulty.items()} == dict.fromkeys(clean, "LOADED")
    assert {key: (o.rows, o.checksum) for key, o in faulty.items()} == {key: (o.rows, o.checksum) for key, o in clean.items()}
    assert sum(o.rows for o in clean.values()) > 0

    stats = faulty_env.stats()
    records = ledger.list_executions(faulty_env.engine, report=REPORT, limit=None)
    with_amc_id = [r for r in records if r.amc_execution_id]
    # Every execution AMC created is in the ledger: none was submitted twice or lost.
    assert stats["executions_created"] == len(with_amc_id)
    assert sorted(r.status for r in records if r.status == "LOADED") == ["LOADED"] * 50
    assert {r.status for r in records} <= {"LOADED", "FAILED"}
    faults = stats["faults_injected"]
    assert faults.get("server_error", 0) > 0 and faults.get("throttled", 0) > 0

    api_calls = sum(stats["calls"].values()) - stats["calls"].get("downloadResultFile", 0)
    client_calls = sum(o.api_calls for o in faulty.values())
    clean_calls = sum(o.api_calls for o in clean.values())
    print(
        f"\n50 runs through faults {faults}: {stats['executions_created']} AMC executions "
        f"({stats['executions_created'] - 50} resubmitted after FAILED); API calls per loaded execution: "
        f"{api_calls / 50:.1f} (sandbox stats), {client_calls / 50:.1f} (client counters); "
        f"fault-free: {clean_calls / 50:.1f}"
    )
