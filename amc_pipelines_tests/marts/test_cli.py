"""``amc dbt ARGS...``: dbt on dbt_project/ with the project's database, after the same preparation as Dagster."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import text

from amc_pipelines.db import get_engine, upgrade

pytestmark = pytest.mark.slow  # a dbt build


def _amc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "amc_pipelines.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_amc_dbt_prepares_the_database_and_runs_dbt_with_the_projects_profile(make_database, tmp_path):
    import os

    url = make_database()
    upgrade(url)
    env = {**os.environ, "AMC_DATABASE_URL": url, "AMC_HOME": str(tmp_path)}
    help_text = _amc(env, "dbt", "--help")
    assert help_text.returncode == 0 and "Every argument goes to dbt" in help_text.stdout

    # No week loaded yet: the result table is created empty from its spec, and the marts build empty.
    built = _amc(env, "dbt", "build", "--exclude", "resource_type:test")
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-2000:]
    with get_engine(url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM marts.fct_instance_week")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM marts.marketplaces")).scalar() > 20
        assert conn.execute(text("SELECT count(*) FROM amc.report_definitions WHERE name = 'campaign_performance'")).scalar() == 1
    assert (tmp_path / "dbt" / "target" / "run_results.json").exists()  # artifacts under AMC_HOME, not the repository
