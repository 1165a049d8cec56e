"""A copy that SIGKILLs its own process at a chosen point: the kill test of ``test_copy.py``.

``python -m amc_pipelines_tests.refresh.kill_copy SPEC_JSON`` with ``database_url``, ``endpoint`` (the
stand-in's URL), ``base`` (a built-in table), ``name``, ``page_size`` and ``point``. The point is
reached by wrapping functions of the refresh modules from here, so production code has no test hooks:

- ``after_job_start``: the query job ran and the checkpoint (no page yet) is committed;
- ``mid_copy``: half of page 2's rows are in its COPY, whose transaction is open;
- ``after_page``: page 2 and its checkpoint are committed;
- ``after_last_page``: every page is staged (checkpoint state ``read``), the upsert not begun;
- ``mid_upsert``: the INSERT .. ON CONFLICT ran inside the final transaction, nothing committed.

Exits 3 when the point was never reached (the copy finished).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

POINTS = ("after_job_start", "mid_copy", "after_page", "after_last_page", "mid_upsert")


def effective(base: str, name: str, *, page_size: int, mode: str = "live", **update: Any):
    """The built-in table ``base`` under another name and target (tests share one database), as an
    EffectiveTable in ``mode``."""
    from amc_pipelines.refresh.overrides import EffectiveTable
    from amc_pipelines.refresh.registry import load_registry

    config = load_registry()[base].model_copy(update={"name": name, "target": name, "page_size": page_size, **update})
    return EffectiveTable(config, mode, "file", True)


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str) -> None:
    from amc_pipelines.refresh import copy, postgres

    calls = {"pages": 0}
    if point == "after_job_start":
        start_read = copy._Copy._start_read

        def _start_read(self, conn):
            start_read(self, conn)
            _die()

        copy._Copy._start_read = _start_read
    elif point == "mid_copy":
        copy_rows = postgres.copy_rows

        def _copy_rows(conn, table, columns, rows):
            calls["pages"] += 1
            if calls["pages"] != 2:
                return copy_rows(conn, table, columns, rows)

            def half_then_die():
                for index, row in enumerate(rows):
                    if index == len(rows) // 2:
                        _die()
                    yield row

            return copy_rows(conn, table, columns, half_then_die())

        postgres.copy_rows = _copy_rows
    elif point in ("after_page", "after_last_page"):
        stage_page = copy._Copy._stage_page

        def _stage_page(self, conn, staging, columns, rows, next_token, pages_loaded, rows_staged):
            stage_page(self, conn, staging, columns, rows, next_token, pages_loaded, rows_staged)
            if (point == "after_page" and pages_loaded == 2) or (point == "after_last_page" and next_token is None):
                _die()

        copy._Copy._stage_page = _stage_page
    elif point == "mid_upsert":
        upsert = postgres.upsert

        def _upsert(*args, **kwargs):
            upsert(*args, **kwargs)
            _die()

        postgres.upsert = _upsert
    else:
        raise SystemExit(f"unknown point {point!r}: use one of {', '.join(POINTS)}")


def main() -> None:
    spec = json.loads(sys.argv[1])
    from amc_pipelines.db import get_engine
    from amc_pipelines.refresh.bigquery import bigquery_client
    from amc_pipelines.refresh.copy import copy_table
    from amc_pipelines.settings import Settings

    client = bigquery_client(Settings.from_env({"AMC_BIGQUERY_ENDPOINT": spec["endpoint"]}))
    table = effective(spec["base"], spec["name"], page_size=spec["page_size"])
    arm(spec["point"])
    outcome = copy_table(get_engine(spec["database_url"]), client, table, mode="live", cycle_id="kill-test",
                         triggered_by="kill-test")
    print(json.dumps(outcome.summary()))
    raise SystemExit(3)


if __name__ == "__main__":
    main()
