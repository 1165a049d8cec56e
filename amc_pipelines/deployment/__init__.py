"""Running Dagster for this project: the three processes, the one Dagster home, ``make dev`` and ``make demo``.

- :mod:`~amc_pipelines.deployment.processes`: :class:`DagsterDeployment`, a code server, webserver
  and daemon in subprocesses (also used by the end-to-end test and the backfill benchmark).
- :mod:`~amc_pipelines.deployment.lock`: who holds a Dagster home, and stopping it.
- :mod:`~amc_pipelines.deployment.local`: :class:`LocalDeployment`, the deployment of an AMC_HOME
  (database, sandbox, the three processes) that ``make dev`` and ``make demo`` both run.
- :mod:`~amc_pipelines.deployment.demo`: the demo's backfills.

No Dagster import in this package: it talks to Dagster over GraphQL.
"""

from amc_pipelines.deployment.processes import (
    DEFINITIONS_MODULE,
    LOCATION_NAME,
    PROJECT_DIR,
    DagsterDeployment,
    DeploymentError,
    free_port,
)

__all__ = ["DEFINITIONS_MODULE", "LOCATION_NAME", "PROJECT_DIR", "DagsterDeployment", "DeploymentError", "free_port"]
