"""Marts fixtures: one database per module with 3 weeks x 2 instances of campaign_performance loaded
through the runner from the sandbox (one provisional week), plus the rows the marts must ignore."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from amc_pipelines_tests.fixtures.database import create_database, drop_database
from amc_pipelines_tests.ledger.conftest import LedgerEnv, register_sandbox_instances

TEMPLATE = "campaign_performance"


@dataclass
class MartsEnv:
    ledger: LedgerEnv
    weeks: list[date]  # oldest first; the newest is provisional
    instance_ids: list[str]
    loaded: dict[tuple[str, date], Any] = field(default_factory=dict)  # (instance, week) -> RunOutcome
    target: Path = Path()

    @property
    def engine(self):
        return self.ledger.engine

    def run(self, instance_id: str, week: date, *, force: bool = False, params: dict | None = None):
        from amc_pipelines.runner import prepare_run, run_report

        request = prepare_run(self.engine, self.ledger.settings, report_name=TEMPLATE, instance_id=instance_id,
                              week=week, params=params or {}, force=force)
        with self.ledger.client() as client:
            return run_report(self.engine, self.ledger.settings, client, request)

    def dbt(self, *args: str) -> str:
        """dbt with the project's profile on this database, after the same preparation Dagster does."""
        from amc_pipelines.catalog import load_catalog
        from amc_pipelines.catalog.definitions import load_definitions
        from amc_pipelines.marts import prepare_database, run_dbt

        catalog = load_catalog(None, check_sql=False)
        prepare_database(self.engine, catalog, load_definitions(catalog))
        result = run_dbt(list(args), url=self.ledger.url, target_dir=self.target / uuid.uuid4().hex[:8], capture=True)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
        return result.stdout

    def execute(self, statement: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(statement), values)


@pytest.fixture(scope="module")
def marts_env(postgres_server_url, sandbox_server, clock, tmp_path_factory):
    from amc_pipelines.db import get_engine, upgrade

    url = create_database(postgres_server_url)
    try:
        upgrade(url)
        engine = get_engine(url)
        register_sandbox_instances(engine, sandbox_server)
        home = tmp_path_factory.mktemp("marts-home")
        ledger = LedgerEnv(url, engine, sandbox_server, home, clock)
        first = ledger.week(weeks_back=6)
        # weeks_back=1, not 0: collectable in every instance's zone at any hour, and still provisional
        weeks = [first, first + timedelta(weeks=1), ledger.week(weeks_back=1)]
        env = MartsEnv(ledger, weeks, [i.instance_id for i in ledger.instances[:2]], target=home / "dbt")
        for instance_id in env.instance_ids:
            for week in weeks:
                env.loaded[instance_id, week] = env.run(instance_id, week)
        yield env
    finally:
        drop_database(postgres_server_url, url)
