"""A ledger test environment: a fresh migrated database, a sandbox over HTTP, its instances registered.

``make_ledger_env(**sandbox_options)`` gives a :class:`LedgerEnv` with the settings a CLI process
would read (``env``), an AMC client factory, the sandbox's stats, and the rows the sandbox's SQL
engine computes for a request (what a correct load must hold).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg import sql
from sqlalchemy import Engine

from amc_pipelines.db import get_engine, upgrade
from amc_pipelines.registry import InstanceSpec, upsert_discovered
from amc_pipelines.settings import Settings

CREDENTIALS = {"AMC_CLIENT_ID": "amzn1.application-oa2-client.ledger-tests", "AMC_CLIENT_SECRET": "secret",
               "AMC_REFRESH_TOKEN": "Atzr|ledger-tests"}


@dataclass
class LedgerEnv:
    url: str
    engine: Engine
    server: Any  # SandboxServer
    home: Path
    clock: Any  # the suite's Clock: weeks are read from its today
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def instances(self) -> list[Any]:
        return self.server.backend.instances

    def env(self, **extra: str) -> dict[str, str]:
        """The AMC_* environment of a CLI process talking to this sandbox and database."""
        return {
            "AMC_HOME": str(self.home), "AMC_DATABASE_URL": self.url, "AMC_API_URL": self.server.url,
            "AMC_API_RATE": "1000", "AMC_POLL_SECONDS": "0.05", "AMC_REQUEST_TIMEOUT": "10",
            **CREDENTIALS, **self.overrides, **extra,
        }

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env())

    def client(self, **options: Any):
        from amc_pipelines.amc.client import AmcClient
        from amc_pipelines.amc.ratelimit import PostgresRateLimiter

        settings = self.settings
        return AmcClient(settings, rate_limiter=PostgresRateLimiter(self.engine, settings.api_rate_per_second),
                         **options)

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.server.url}/_sandbox/stats", timeout=10)
        response.raise_for_status()
        return response.json()

    def week(self, weeks_back: int = 4, instance: int = 0) -> date:
        """A collectable, settled week start of the instance (weeks_back before the latest collectable)."""
        from amc_pipelines.params import latest_collectable_week

        sandbox_instance = self.instances[instance]
        latest = latest_collectable_week(now=self.clock.now(), timezone=sandbox_instance.timezone,
                                         week_start="monday", data_lag_hours=48)
        return latest - timedelta(weeks=weeks_back)

    def expected_rows(self, dataset: Any, request: Any) -> list[tuple]:
        """The rows the sandbox's SQL engine computes for a RunRequest, in the spec's column order."""
        from amc_pipelines.params import amc_input_parameters, amc_parameter_values
        from amc_pipelines.sandbox.sql import InputParameter, QueryRequest, SqlEngine

        spec, window = request.report, request.window
        result = SqlEngine(dataset).run(
            QueryRequest(
                spec.amc_sql(), time_window_start=window.start, time_window_end=window.end, time_zone=window.timezone,
                parameter_values=amc_parameter_values(spec.parameters, request.parameters),
                input_parameters=tuple(InputParameter.from_api(p) for p in amc_input_parameters(spec.parameters)),
                privacy_filtering_behavior=spec.privacy.behavior,
                filtered_metrics_discriminator_column=spec.privacy.discriminator_column,
            ),
            request.instance.instance_id,
        )
        names = [c.name for c in spec.output_columns]
        positions = [result.columns.index(name) for name in names]
        return sorted((tuple(_normal(row[i]) for i in positions) for row in result.rows), key=repr)

    def loaded_rows(self, request: Any) -> list[tuple]:
        """The rows the request's run loaded (its definition, parameters, instance and window)."""
        from amc_pipelines.results import rows_of

        names = [c.name for c in request.report.output_columns]
        where, values = rows_of(request.result_key)
        query = sql.SQL("SELECT {} FROM amc_results.{} WHERE {}").format(
            sql.SQL(", ").join(map(sql.Identifier, names)), sql.Identifier(request.report.name), where)
        raw = self.engine.raw_connection()
        try:
            with raw.driver_connection.cursor() as cursor:
                cursor.execute(query, values)
                rows = cursor.fetchall()
        finally:
            raw.close()
        return sorted((tuple(_normal(v) for v in row) for row in rows), key=repr)


def _normal(value: Any) -> Any:
    # Numbers compare by value (the loader stores decimals as numeric, AMC sends floats as text).
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return Decimal(str(value)).normalize()
    return value


def register_sandbox_instances(engine: Engine, server: Any) -> None:
    for instance in server.backend.instances:
        upsert_discovered(engine, InstanceSpec(
            instance_id=instance.instance_id, name=instance.advertiser, account_id=instance.account_id,
            marketplace_id=instance.marketplace_id, region=instance.region, timezone=instance.timezone,
        ))


@pytest.fixture
def make_ledger_env(make_database, make_sandbox, tmp_path, clock) -> Callable[..., LedgerEnv]:
    counter = iter(range(1000))

    def make(*, overrides: dict[str, str] | None = None, **sandbox_options: Any) -> LedgerEnv:
        url = make_database()
        upgrade(url)
        engine = get_engine(url)
        server = make_sandbox(**sandbox_options)
        register_sandbox_instances(engine, server)
        home = tmp_path / f"amc-home-{next(counter)}"
        home.mkdir()
        return LedgerEnv(url, engine, server, home, clock, dict(overrides or {}))

    return make


@pytest.fixture
def use_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[dict[str, str]], None]]:
    """Replace every AMC_* setting of this process's environment (for in-process CLI runs)."""

    def apply(env: dict[str, str]) -> None:
        for setting in fields(Settings):
            monkeypatch.delenv(setting.metadata["env"], raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    yield apply
