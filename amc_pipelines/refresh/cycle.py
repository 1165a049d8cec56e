"""One refresh cycle: the selected tables copied in dependency order, each in its effective mode.

Rules (docs/architecture.md, "BigQuery refresh: cycles and status"):

- Selection: the named tables, or every table that refreshes (enabled, mode not ``disabled``).
  Unknown names and named tables that do not refresh are refused (RefreshConfigError naming every
  problem and how to fix it) before anything is sent to BigQuery or written.
- Order: ``registry.dependency_order`` (dependencies first, then higher priority, then name).
- Hard dependency: when one failed or was skipped in this cycle, the dependent is not copied; its
  audit row says ``skipped`` and why. A dependency outside the cycle (not selected, or not
  refreshing) constrains nothing: its last load is what the dependent reads.
- Soft dependency: when one failed or was skipped, the dependent still runs; a success becomes
  ``warning`` with the reason in ``details["warnings"]`` (its audit row too).
- Mode: the table's effective mode (file plus operator override); ``dry_run=True`` makes every table
  a dry run. A shadow run is followed by ``validation.validate_shadow``.
- Webhooks (``events.refresh_notifier``): ``refresh.succeeded`` (success or warning) or
  ``refresh.failed`` per copied table, ``refresh.validation_failed`` per failed validation; none for
  a skipped table: the failed dependency's event is the one to act on (the skip is in the audit).
- ``on_outcome(outcome, validation)`` is called as each table finishes (skipped ones too), so the
  CLI prints and Dagster reports as the cycle goes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select, update

from amc_pipelines.db.models import refresh_runs
from amc_pipelines.refresh.models import TableConfig
from amc_pipelines.refresh.registry import RefreshConfigError, dependency_order, get_table

if TYPE_CHECKING:
    from amc_pipelines.refresh.copy import TableOutcome
    from amc_pipelines.refresh.overrides import EffectiveTable
    from amc_pipelines.refresh.validation import ValidationResult

# A table's status after its run that lets hard dependents run.
_LOADED = ("success", "warning")


@dataclass
class CycleResult:
    cycle_id: str
    outcomes: list[TableOutcome] = field(default_factory=list)
    validations: dict[str, ValidationResult] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def failed(self) -> list[TableOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "failed"]

    @property
    def skipped(self) -> list[TableOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "skipped"]

    @property
    def failed_validations(self) -> list[ValidationResult]:
        return [result for result in self.validations.values() if not result.passed]

    def counts(self) -> dict[str, int]:
        """Tables by status, e.g. {"success": 2, "failed": 1}."""
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts


def new_cycle_id(now: datetime) -> str:
    """Sortable by time and unique across concurrent invocations (CLI and Dagster)."""
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def _now(clock: Callable[[], datetime] | None) -> datetime:
    from amc_pipelines import clock as project_clock

    # project_clock.now is looked up at call time: the test suite replaces it.
    return clock() if clock is not None else project_clock.now()


def check_table_names(registry: Mapping[str, TableConfig], names: Sequence[str]) -> None:
    """RefreshConfigError naming every unknown table (with a close match), before any I/O."""
    problems = []
    for name in dict.fromkeys(names):
        try:
            get_table(name, registry)
        except RefreshConfigError as error:
            problems.extend(error.problems)
    if problems:
        raise RefreshConfigError(*problems)


def _not_refreshing(table: EffectiveTable) -> str:
    name = table.name
    if not table.enabled:
        return (f"table '{name}' does not refresh: it is paused (enabled false, set by {table.updated_by}); "
                f"enable it with `amc refresh config set {name} --enable`")
    where = "its file" if table.mode_source == "file" else f"an override by {table.updated_by}"
    return (f"table '{name}' does not refresh: its mode is disabled ({where}); enable it with "
            f"`amc refresh config set {name} --mode dry_run` (or shadow, live)")


def select_tables(engine: Engine, registry: Mapping[str, TableConfig], names: Sequence[str] | None, *,
                  refuse_not_refreshing: bool = True) -> list[EffectiveTable]:
    """The tables of a cycle in dependency order, with their effective configs; RefreshConfigError
    for unknown names (checked before the database) and for named tables that do not refresh (left
    out instead with ``refuse_not_refreshing=False``)."""
    from amc_pipelines.refresh.overrides import effective_tables

    if names is not None:
        check_table_names(registry, names)
    effective = effective_tables(engine, registry)
    if names is None:
        wanted = {name for name, table in effective.items() if table.refreshes}
    else:
        wanted = set(names)
        problems = [_not_refreshing(effective[name]) for name in dict.fromkeys(names) if not effective[name].refreshes]
        if problems and refuse_not_refreshing:
            raise RefreshConfigError(*problems)
        wanted = {name for name in wanted if effective[name].refreshes}
    return [effective[config.name] for config in dependency_order(registry) if config.name in wanted]


def run_mode(table: EffectiveTable, dry_run: bool) -> str:
    """What this cycle does to the table: a dry run when forced or configured, else its mode."""
    return "dry_run" if dry_run or table.mode == "dry_run" else table.mode


def _add_warnings(engine: Engine, outcome: TableOutcome, warnings: list[str]) -> None:
    """A loaded table whose soft dependency failed: status warning, the reasons in its details and
    in its audit row (written by the copy, which knows nothing of the cycle)."""
    outcome.details = {**outcome.details, "warnings": [*outcome.details.get("warnings", []), *warnings]}
    if outcome.status == "success":
        outcome.status = "warning"
    if outcome.run_id is None:
        return
    with engine.begin() as connection:
        details = connection.execute(select(refresh_runs.c.details).where(refresh_runs.c.id == outcome.run_id)
                                     .with_for_update()).scalar_one()
        connection.execute(update(refresh_runs).where(refresh_runs.c.id == outcome.run_id).values(
            status=outcome.status,
            details={**details, "warnings": [*details.get("warnings", []), *warnings]}))


def _event(kind: str, outcome: TableOutcome, cycle_id: str, occurred_at: datetime, details: dict[str, Any]):
    from amc_pipelines.refresh.events import RefreshEvent

    return RefreshEvent(kind=kind, table=outcome.table, cycle_id=cycle_id, run_id=outcome.run_id,
                        status=outcome.status, error=outcome.error, details=details, occurred_at=occurred_at)


def run_cycle(engine: Engine, client, registry: Mapping[str, TableConfig], *, tables: list[str] | None = None,
              dry_run: bool = False, triggered_by: str = "cli", notifier=None,
              clock: Callable[[], datetime] | None = None,
              on_outcome: Callable[[TableOutcome, ValidationResult | None], None] | None = None,
              refuse_not_refreshing: bool = True, copy: Callable[..., TableOutcome] | None = None) -> CycleResult:
    """Refresh ``tables`` (default: every table that refreshes) as the module docstring says.

    ``refuse_not_refreshing=False`` leaves named tables that do not refresh out of the cycle instead
    of refusing them: for a caller that names tables it did not choose (a Dagster schedule selects
    every asset, disabled ones too). ``copy`` replaces ``copy.copy_table`` (same signature), for
    tests of the cycle's own rules. A refresh failure never raises: it is an outcome with status failed.
    """
    from amc_pipelines.refresh import copy as copy_module

    selected = select_tables(engine, registry, tables, refuse_not_refreshing=refuse_not_refreshing)
    copy = copy or copy_module.copy_table
    result = CycleResult(new_cycle_id(_now(clock)), dry_run=dry_run)
    by_name: dict[str, TableOutcome] = {}
    for table in selected:
        mode = run_mode(table, dry_run)
        dependencies = table.config.dependencies
        blocked = [name for name in dependencies.hard if name in by_name and by_name[name].status not in _LOADED]
        if blocked:
            reason = "; ".join(f"hard dependency {name} {by_name[name].status}"
                               + (f": {by_name[name].error}" if by_name[name].error else "") for name in blocked)
            outcome = copy_module.record_skipped(engine, table, mode=mode, cycle_id=result.cycle_id,
                                                 triggered_by=triggered_by, reason=reason, clock=clock)
            validation = None
        else:
            outcome = copy(engine, client, table, mode=mode, cycle_id=result.cycle_id, triggered_by=triggered_by,
                           clock=clock)
            warnings = [f"soft dependency {name} {by_name[name].status} in this cycle"
                        + (f": {by_name[name].error}" if by_name[name].error else "")
                        + "; loaded from the rows it holds" for name in dependencies.soft
                        if name in by_name and by_name[name].status not in _LOADED]
            if warnings:
                _add_warnings(engine, outcome, warnings)
            validation = None
            if mode == "shadow" and outcome.status in _LOADED:
                from amc_pipelines.refresh.validation import validate_shadow

                validation = validate_shadow(engine, table, run_id=outcome.run_id)
                result.validations[table.name] = validation
            _notify(notifier, outcome, validation, result.cycle_id, _now(clock))
        by_name[table.name] = outcome
        result.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome, validation)
    return result


def _notify(notifier, outcome: TableOutcome, validation: ValidationResult | None, cycle_id: str,
            occurred_at: datetime) -> None:
    """Delivery failures are the notifier's to log: a webhook never fails a refresh."""
    if notifier is None:
        return
    details = {"mode": outcome.mode, "target": outcome.target, **outcome.summary(), **outcome.details}
    kind = "refresh.failed" if outcome.status == "failed" else "refresh.succeeded"
    notifier.notify(_event(kind, outcome, cycle_id, occurred_at, details))
    if validation is not None and not validation.passed:
        notifier.notify(_event("refresh.validation_failed", outcome, cycle_id, occurred_at, {
            "validation_id": validation.validation_id, "summary": validation.summary,
            "failed_checks": [check for check in validation.checks if not check.get("passed")]}))
