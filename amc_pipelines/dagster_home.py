"""The Dagster instance of this project: where it lives and what its ``dagster.yaml`` says.

One Dagster home per ``AMC_HOME``: :func:`dagster_home` (``AMC_HOME/dagster``) is where ``make
demo``, ``make dev``, ``amc dagster init`` and ``amc backfill`` (to find the running webserver) all
look, with Dagster's runs, events and schedules in Postgres (dagster-postgres) on the project's
database server, so what one of them did is what the others show.

:data:`INSTANCE_SETTINGS` is the one source of the run queue, per-instance run limit, ``amc`` pool
granularity, run monitoring and run retries. :func:`write_dagster_yaml` writes it with Postgres
storage; ``deploy/dagster.yaml`` repeats it, with comments, and a test keeps the two equal. No
Dagster import here.

Why these values:

- Runs, not steps, are the unit of AMC work (one run per week x instance partition), so every
  limit is a run limit enforced by the run queue before a run process starts.
- AMC runs at most 10 executions per instance; more wait as PENDING in AMC's queue and start the
  moment a slot frees. Each partition run holds one execution, so the run limit per instance is
  those 10 plus :data:`PENDING_AHEAD_PER_INSTANCE`: runs start, submit and wait in AMC's queue
  while the 10 run, so AMC's next execution does not wait for Dagster to launch a run process, for
  a poll to notice the finished one or for its load (seconds each, which made a 52-week backfill
  take 1.43 x AMC's own time with exactly 10; 3 ahead 1.27 x, 5 ahead 1.21-1.24 x, 10 ahead 1.16 x:
  docs/benchmarks.md). 10 ahead, because a wave of 10 executions tends to end together and only as
  many queued executions as slots cover it. AMC, not Dagster, keeps the 10-running limit; the tag
  limit bounds what waits in AMC's queue. The limit is per unique value of
  ``dagster/partition/instance``, which Dagster puts on every run of a week x instance partition
  (backfills, schedules, sensors, the UI); every AMC run of this code location is such a run.
- ``max_concurrent_runs`` bounds the whole deployment, whatever the number of instances: each run
  is a process of ~150 MB (45 are ~6.6 GB), and what this deployment has in flight stays far below
  AMC's 200 executions per account. One instance can use 20 of them; three get 15 each on average.
- The ``amc`` pool (report assets declare ``pool="amc"``) has no limit of its own: every run of
  the code location is in it, so any default would only repeat ``max_concurrent_runs``. It is the
  knob for capping AMC work across all instances at run time, without a redeploy:
  ``dagster instance concurrency set amc N``. Granularity ``run``: a run counts one slot from
  dequeue to end, and a run whose pool is full stays queued instead of starting a process that
  would only wait.
- Run monitoring fails runs stuck starting or cancelling, ends runs older than
  ``max_runtime_seconds`` (AMC's default execution timeout is 6 h; with Dagster's default run
  launcher a run whose process died is only noticed this way) and frees pool slots of ended runs.
- Run retries re-run a run whose process crashed or was killed. Not runs whose asset failed
  (``retry_on_asset_or_op_failure: false``): transient AMC errors are already retried inside the
  step with backoff, and what remains (a REJECTED query, a week not collectable yet, a window out
  of retention) fails again the same way, while each re-run adds a similar query AMC counts against
  the same data. The execution ledger makes a crash retry safe: it reattaches to the execution.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from amc_pipelines.settings import Settings

MAX_RUNNING_PER_INSTANCE = 10  # AMC's limit of RUNNING executions per instance
PENDING_AHEAD_PER_INSTANCE = 10  # executions allowed to wait in AMC's queue, by measurement
MAX_CONCURRENT_RUNS = 45  # the whole deployment: memory (~150 MB a run) and AMC's per-account limit
INSTANCE_PARTITION_TAG = "dagster/partition/instance"
AMC_POOL = "amc"
DAGSTER_PG_URL_ENV = "AMC_DAGSTER_PG_URL"


def dagster_home(settings: Settings) -> Path:
    """The one Dagster home of an AMC_HOME: ``make demo``, ``make dev`` and ``amc backfill`` share it."""
    return settings.home / "dagster"


def instance_settings(*, pending_ahead: int = PENDING_AHEAD_PER_INSTANCE,
                      runs_per_instance: int | None = None) -> dict[str, Any]:
    """Every setting of the instance file but storage. ``pending_ahead`` other than the default is
    for measuring (``benchmarks/backfill.py --pending-ahead``); ``runs_per_instance`` replaces the
    whole per-instance limit (AMC's 10 + ``pending_ahead``), for a test that must see it bind."""
    if runs_per_instance is None:
        runs_per_instance = MAX_RUNNING_PER_INSTANCE + pending_ahead
    return {
        "run_queue": {
            # The code server may be restarting (reload, deploy) when a run is dequeued: try again.
            "max_user_code_failure_retries": 3,
            "user_code_failure_retry_delay": 10,
            # Launch queued runs in parallel: each launch waits for the new run process to load the
            # code location (seconds each), so a serial queue, not AMC, would set a backfill's pace.
            "dequeue_use_threads": True,
            "dequeue_num_workers": 4,
            # A run slot freed by a finished run is refilled within 2 s rather than Dagster's 5 s.
            "dequeue_interval_seconds": 2,
        },
        "concurrency": {
            "runs": {
                "max_concurrent_runs": MAX_CONCURRENT_RUNS,
                "tag_concurrency_limits": [
                    {"key": INSTANCE_PARTITION_TAG, "value": {"applyLimitPerUniqueValue": True},
                     "limit": runs_per_instance},
                ],
            },
            "pools": {"granularity": "run"},
        },
        "run_monitoring": {
            "enabled": True,
            "start_timeout_seconds": 300,
            "cancel_timeout_seconds": 300,
            "max_runtime_seconds": 12 * 3600,
            "poll_interval_seconds": 30,
            "free_slots_after_run_end_seconds": 60,
        },
        "run_retries": {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False},
        # Sensors in threads: a slow webhook or AMC discovery call does not hold up the other sensors.
        "sensors": {"use_threads": True, "num_workers": 4},
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},
    }


INSTANCE_SETTINGS: dict[str, Any] = instance_settings()

_HEADER = """\
# Written by amc_pipelines/dagster_home.py (make dev, make demo, amc dagster init): edits are overwritten.
# The same limits as deploy/dagster.yaml; storage: {storage}.
"""


def dagster_config(*, postgres_url: str | dict[str, str], settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The instance config: dagster-postgres storage plus ``settings`` (default :data:`INSTANCE_SETTINGS`).

    ``postgres_url`` is a ``postgresql+psycopg2://`` URL, or a mapping such as
    ``{"env": "AMC_DAGSTER_PG_URL"}``: the URL is then read from that variable when Dagster starts.
    """
    settings = copy.deepcopy(INSTANCE_SETTINGS if settings is None else settings)
    return {"storage": {"postgres": {"postgres_url": postgres_url}}, **settings}


def render_dagster_yaml(*, postgres_url: str, settings: dict[str, Any] | None = None) -> str:
    """The text of a ``dagster.yaml``. A URL with a password is not written to disk: the file
    then reads it from ``AMC_DAGSTER_PG_URL`` (see :func:`url_has_password`)."""
    if url_has_password(postgres_url):
        storage, value = f"Postgres, URL from ${DAGSTER_PG_URL_ENV}", {"env": DAGSTER_PG_URL_ENV}
    else:
        storage, value = "Postgres (dagster-postgres)", postgres_url
    body = yaml.safe_dump(dagster_config(postgres_url=value, settings=settings), sort_keys=False, default_flow_style=False)
    return _HEADER.format(storage=storage) + body


def write_dagster_yaml(dagster_home: Path, *, postgres_url: str, settings: dict[str, Any] | None = None) -> bool:
    """Write ``dagster_home/dagster.yaml``; returns False when it already had this content."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    text = render_dagster_yaml(postgres_url=postgres_url, settings=settings)
    if target.exists() and target.read_text() == text:
        return False
    target.write_text(text)
    return True


def url_has_password(url: str) -> bool:
    from sqlalchemy.engine import make_url

    return bool(make_url(url).password)
