"""The BigQuery stand-in: the BigQuery v2 REST API that ``google-cloud-bigquery`` uses, over DuckDB.

Served by ``amc sandbox serve`` on the AMC sandbox's port under ``/bigquery/v2`` (control endpoints
under ``/_sandbox/bigquery``). GoogleSQL is translated by sqlglot and run on DuckDB over deterministic
synthetic Brand Analytics data (:mod:`.data`) with late corrections; faults on demand (:mod:`.faults`).

Public API: :class:`BigQueryConfig`, :class:`BigQueryFaultRates`, :class:`BigQueryStandIn`, and
:func:`mount` (the routes to add to a Starlette app).
"""

from __future__ import annotations

from starlette.routing import Mount

from .config import BigQueryConfig, BigQueryFaultRates
from .control import CONTROL_PREFIX, control_app
from .routes import API_PREFIX, FaultedApi
from .service import BigQueryStandIn


def mount(stand_in: BigQueryStandIn) -> list[Mount]:
    """The API under ``/bigquery/v2`` and the controls under ``/_sandbox/bigquery``."""
    return [Mount(API_PREFIX, app=FaultedApi(stand_in)), Mount(CONTROL_PREFIX, app=control_app(stand_in))]


__all__ = ["API_PREFIX", "CONTROL_PREFIX", "BigQueryConfig", "BigQueryFaultRates", "BigQueryStandIn", "mount"]
