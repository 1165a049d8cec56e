"""Validate a run before anything reaches AMC: ``prepare_run`` turns what a user typed into a RunRequest.

A run is of a report definition (a template's name is its implicit definition). Parameters given
with the run override the definition's: such a run is ad hoc, keyed by its own parameters hash, so
it never replaces the definition's own result. Every error a user can cause (report, instance,
parameters, window, data lag, retention) is a :class:`RunInputError` whose message names the
option and the fix. Domain logic only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from amc_pipelines import clock
from amc_pipelines.partitions import ResultKey, execution_key
from amc_pipelines.scheduling import data_lag_hours

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from amc_pipelines.catalog import ReportSpec
    from amc_pipelines.catalog.definitions import ReportDefinition
    from amc_pipelines.ledger import ExecutionKey
    from amc_pipelines.params import TimeWindow
    from amc_pipelines.registry import Instance
    from amc_pipelines.settings import Settings


class RunInputError(ValueError):
    """The user asked for something invalid; nothing was sent to AMC. The message says what to fix."""


@dataclass(frozen=True)
class RunRequest:
    """A validated run: what prepare_run returns and run_report executes."""

    definition: ReportDefinition
    instance: Instance
    window: TimeWindow
    parameters: dict[str, Any]  # typed values (params.coerce_parameters): the definition's, or overrides
    force: bool = False
    dry_run: bool = False
    provisional: bool = False
    data_lag_hours: int | None = None

    @property
    def report(self) -> ReportSpec:
        """The template: its SQL, output columns and result table."""
        return self.definition.template

    @property
    def parameters_hash(self) -> str:
        from amc_pipelines.params import parameters_hash

        return parameters_hash(self.parameters)

    @property
    def ad_hoc(self) -> bool:
        """Run with other parameters than the definition's own: its rows sit beside the definition's."""
        return self.parameters_hash != self.definition.parameters_hash

    @property
    def key(self) -> ExecutionKey:
        return execution_key(self.report, self.instance.instance_id, self.window, self.parameters,
                             definition=self.definition.name)

    @property
    def result_key(self) -> ResultKey:
        return ResultKey.of_window(self.instance.instance_id, self.window, definition=self.definition.name,
                                   parameters_hash=self.parameters_hash)


def prepare_run(
    engine: Engine,
    settings: Settings,
    *,
    report_name: str,
    instance_id: str,
    week: str | date | None = None,
    window_expr: str | None = None,
    start: str | None = None,
    end: str | None = None,
    params: Mapping[str, Any] | None = None,
    force: bool = False,
    dry_run: bool = False,
    now: datetime | None = None,
    definitions: Mapping[str, ReportDefinition] | None = None,
) -> RunRequest:
    """Every check a user can fail, before any AMC call; raises :class:`RunInputError`.

    ``report_name`` names a report definition or a template (its implicit definition); ``params``
    override the definition's parameters. ``definitions`` (default: the configured catalog's,
    loaded now) lets a caller that prepares many runs load and validate them once.
    """
    from amc_pipelines.catalog.definitions import configured_definitions, get_definition
    from amc_pipelines.params import check_collectable, coerce_parameters, is_provisional
    from amc_pipelines.registry import get_instance

    now = now or clock.now()
    chosen = [name for name, given in (("--week", week), ("--window", window_expr),
                                       ("--start/--end", start or end)) if given]
    if len(chosen) != 1:
        problem = "none was given" if not chosen else f"{' and '.join(chosen)} were both given"
        raise RunInputError(f"give exactly one window: --week YYYY-MM-DD, --window EXPR or --start/--end ({problem})")
    if (start is None) != (end is None):
        raise RunInputError("--start and --end go together: give both (end exclusive), e.g. "
                            "--start 2025-01-06 --end 2025-01-13")
    definition = _user_step("report", lambda: get_definition(
        report_name, configured_definitions(settings) if definitions is None else definitions))
    report = definition.template
    instance = _user_step("--instance", lambda: get_instance(engine, instance_id))
    if not instance.enabled:
        raise RunInputError(f"--instance: instance {instance_id!r} is disabled: enable it with "
                            f"`amc instances enable {instance_id}`")
    if not definition.applies_to(instance_id):
        raise RunInputError(f"--instance: definition {definition.name!r} applies to {', '.join(definition.instances)} "
                            f"only ({definition.source_path}); run its template {report.name!r} for other instances")
    parameters = _user_step("--param", lambda: coerce_parameters(
        report.parameters, {**definition.parameters, **dict(params or {})}))
    window = _user_step(chosen[0], lambda: _window(instance, week=week, window_expr=window_expr,
                                                   start=start, end=end, now=now))
    data_lag = data_lag_hours(instance, report, settings)
    _user_step(chosen[0], lambda: check_collectable(window, now=now, data_lag_hours=data_lag,
                                                    retention_months=settings.retention_months,
                                                    week_start=instance.week_start))
    settle_days = report.settle_days if report.settle_days is not None else settings.settle_days
    return RunRequest(
        definition=definition, instance=instance, window=window, parameters=parameters, force=force, dry_run=dry_run,
        provisional=is_provisional(window, now=now, settle_days=settle_days), data_lag_hours=data_lag,
    )


def _user_step(what: str, step: Callable[[], Any]) -> Any:
    # Catalog, registry, parameter and window errors are all ValueErrors that name the problem.
    try:
        return step()
    except RunInputError:
        raise
    except ValueError as err:
        message = str(err)
        raise RunInputError(message if message.startswith(what) else f"{what}: {message}") from None


def _window(instance: Instance, *, week: str | date | None, window_expr: str | None, start: str | None,
            end: str | None, now: datetime) -> TimeWindow:
    from amc_pipelines.params import explicit_window, week_window, window_from_expression

    zone, week_start = instance.timezone, instance.week_start
    if week is not None:
        return week_window(week, timezone=zone, week_start=week_start)
    if window_expr is not None:
        return window_from_expression(window_expr, now=now, timezone=zone, week_start=week_start)
    return explicit_window(str(start), str(end), timezone=zone)
