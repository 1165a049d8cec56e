"""The request-rate limiter shared through Postgres: threads and processes keep to one schedule.

Assertions count slots, not speed: the database hands out slots exactly one interval apart, and no
caller proceeds before its slot, so N acquisitions span at least (N - 1) intervals whatever the load.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from amc_pipelines.amc import LocalRateLimiter, PostgresRateLimiter

RATE = 20.0  # per second: a 50 ms interval
INTERVAL = 1 / RATE
# Slack for a caller that wakes late from its sleep (never early): a scheduling margin, not a goal.
WAKE_SLACK = 0.15

_WORKER = """
import json, sys, time
from amc_pipelines.amc import PostgresRateLimiter
from amc_pipelines.db import get_engine
limiter = PostgresRateLimiter(get_engine(sys.argv[1]), float(sys.argv[2]), bucket=sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()
stamps = []
for _ in range(int(sys.argv[4])):
    limiter.acquire()
    stamps.append(time.time())
print(json.dumps(stamps), flush=True)
"""


def _bucket(name: str) -> str:
    return f"test-{name}-{time.time_ns()}"


def test_threads_share_one_schedule(db_engine):
    limiter = PostgresRateLimiter(db_engine, RATE, bucket=_bucket("threads"))
    slots: list = []

    def take(_: int) -> float:
        slot, wait = limiter.reserve()
        slots.append(slot)
        if wait > 0:
            time.sleep(wait)
        return time.time()

    with ThreadPoolExecutor(max_workers=8) as pool:
        stamps = sorted(pool.map(take, range(40)))
    ordered = sorted(slots)
    gaps = [(b - a).total_seconds() for a, b in zip(ordered, ordered[1:], strict=False)]
    assert all(abs(gap - INTERVAL) < 1e-6 for gap in gaps), gaps  # 40 distinct slots, one interval apart
    assert stamps[-1] - stamps[0] >= 39 * INTERVAL - WAKE_SLACK


def test_two_processes_share_one_schedule(database_url):
    bucket = _bucket("processes")
    per_process = 20
    workers = [
        subprocess.Popen([sys.executable, "-c", _WORKER, database_url, str(RATE), bucket, str(per_process)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    for worker in workers:  # start both together, so they really compete
        worker.stdin.write("go\n")
        worker.stdin.flush()
    stamps: list[float] = []
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0
        stamps += json.loads(out.strip().splitlines()[-1])
    stamps.sort()
    assert len(stamps) == 2 * per_process
    # Both processes together stay at the configured rate: 40 requests need at least 39 intervals.
    assert stamps[-1] - stamps[0] >= (2 * per_process - 1) * INTERVAL - WAKE_SLACK


def test_penalize_pauses_every_caller(db_engine):
    bucket = _bucket("penalty")
    first, second = PostgresRateLimiter(db_engine, RATE, bucket=bucket), PostgresRateLimiter(db_engine, RATE, bucket=bucket)
    first.acquire()
    first.penalize(2.0)  # AMC answered 429 with Retry-After: 2 to one process
    _, wait = second.reserve()  # another process's next request waits it out
    assert 1.5 < wait <= 2.0 + INTERVAL
    with db_engine.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM amc.api_rate_limits WHERE bucket = :b"), {"b": bucket}).scalar()
    assert stored == 1


def test_local_limiter_spaces_threads_and_honours_penalties():
    limiter = LocalRateLimiter(RATE)
    with ThreadPoolExecutor(max_workers=4) as pool:
        slots = sorted(pool.map(lambda _: limiter.reserve(), range(12)))
    assert all(abs((b - a) - INTERVAL) < 1e-9 for a, b in zip(slots, slots[1:], strict=False))
    limiter.penalize(5.0)
    assert limiter.reserve() - time.monotonic() > 4.5
