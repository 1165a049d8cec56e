"""Fixtures of the Dagster wiring tests: the ledger tests' sandbox environment, and a registry-only database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine

from amc_pipelines import ledger
from amc_pipelines.db import get_engine, upgrade
from amc_pipelines.registry import InstanceSpec, add_instance
from amc_pipelines.settings import Settings
from amc_pipelines_tests.ledger.conftest import make_ledger_env, use_env

__all__ = ["make_ledger_env", "registry_db", "use_env"]


@dataclass
class RegistryDb:
    url: str
    engine: Engine
    settings: Settings
    clock: Any  # the suite's Clock

    def add(self, instance_id: str, timezone: str, *, week_start: str = "monday") -> None:
        add_instance(self.engine, InstanceSpec.parse(
            instance_id=instance_id, name=f"Brand {instance_id}", account_id="ENTITY1A2B3C4D5E",
            marketplace_id="ATVPDKIKX0DER", region="NA", timezone=timezone, week_start=week_start,
        ))

    def record(self, report: str, instance_id: str, week: str, statuses: list[str], *, amc_execution_id: str,
               params: dict | None = None, provisional: bool = False) -> ledger.ExecutionRecord:
        """A ledger row for the partition (as an asset run, or with ``params`` an ad hoc run, makes it)."""
        from amc_pipelines.runner import prepare_run

        request = prepare_run(self.engine, self.settings, report_name=report, instance_id=instance_id, week=week,
                              params=params or {}, now=self.clock.now())
        record = ledger.record_intent(self.engine, request.key, parameters={}, workflow_id=request.report.workflow_id,
                                      provisional=provisional)
        for status in statuses:
            record = ledger.transition(self.engine, record.id, status,
                                       amc_execution_id=amc_execution_id if status == "SUBMITTED" else None)
        return record


@pytest.fixture
def registry_db(make_database, amc_env: Settings, clock) -> RegistryDb:
    url = make_database()
    upgrade(url)
    return RegistryDb(url, get_engine(url), amc_env, clock)
