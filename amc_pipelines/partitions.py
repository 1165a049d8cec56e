"""One report partition (report x AMC instance x calendar week) and every form it takes (no Dagster import here).

:class:`ReportPartition` is the one type for "this week of this report for this instance", from the
Dagster wiring in ``defs/`` down to the execution ledger. Every conversion lives here:

- Dagster: the asset's partitions are ``week`` x ``instance``; :meth:`ReportPartition.dagster_key`
  builds Dagster's ``MultiPartitionKey`` and :attr:`ReportPartition.key` its string form
  ``<instance>|<week>`` (dimension values joined by ``|`` in dimension-name order), the name
  ``launchPartitionBackfill`` takes and the pause of a backfill records. :meth:`ReportPartition.from_key`
  reads either back; :attr:`ReportPartition.run_tags` and :func:`key_of_run_tags` go to and from the
  ``dagster/partition/...`` tags Dagster sets on a partition's runs.
- Run keys of schedules and sensors: :attr:`ReportPartition.run_key` (``<report>|<instance>|<week>``).
- AMC: :meth:`ReportPartition.window` is the week as an AMC time window in the instance's zone.
- The result table: :class:`ResultKey` names the rows of one definition, parameters hash, instance
  and window in ``amc_results.<template>``; :meth:`ReportPartition.result_key` is a partition's.
- The ledger: :func:`execution_key` builds the :class:`~amc_pipelines.ledger.ExecutionKey` of a run,
  and :meth:`ReportPartition.of_execution` finds the partition a ledger row belongs to.

Two keys stay separate types because they name something else. A :class:`ResultKey` has no week:
``amc run --start/--end`` loads an ad hoc window, and its rows are keyed by instance and window like
a week's. An ``ExecutionKey`` identifies one AMC execution, so it also holds the SQL hash, the time
zone and the parameter hash: one partition's key changes when the report's SQL or parameters change,
and an ad hoc run with other parameters over the same week is another execution.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dagster as dg

    from amc_pipelines.catalog import ReportSpec
    from amc_pipelines.ledger import ExecutionKey, ExecutionRecord
    from amc_pipelines.params import TimeWindow

# The dimensions of every report asset's MultiPartitionsDefinition.
WEEK_DIMENSION = "week"
INSTANCE_DIMENSION = "instance"
# Dagster's run tags for partitions (dagster._core.storage.tags; not re-exported publicly).
PARTITION_TAG = "dagster/partition"
DIMENSION_TAG_PREFIX = PARTITION_TAG + "/"
INSTANCE_TAG = DIMENSION_TAG_PREFIX + INSTANCE_DIMENSION
WEEK_TAG = DIMENSION_TAG_PREFIX + WEEK_DIMENSION
RANGE_START_TAG, RANGE_END_TAG = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
# MultiPartitionKey's string form joins the dimension values in dimension-name order: instance, week.
_KEY_SEPARATOR = "|"
_WEEK_LENGTH = timedelta(days=7)


@dataclass(frozen=True, order=True)
class ReportPartition:
    """One week x instance partition of one report asset. ``report`` names the asset: a report
    definition (a template's implicit definition has the template's name). ``week`` is the week's first day."""

    report: str
    instance_id: str
    week: date

    def __post_init__(self) -> None:
        if not self.report or not self.instance_id or _KEY_SEPARATOR in self.instance_id:
            raise ValueError(f"invalid report partition {self!r}: needs a report and an instance id without "
                             f"{_KEY_SEPARATOR!r}")
        if isinstance(self.week, datetime) or not isinstance(self.week, date):
            raise ValueError(f"invalid report partition {self!r}: the week is a date (its first day)")

    # ---- Dagster ------------------------------------------------------------------------------

    @classmethod
    def from_key(cls, report: str, key: str) -> ReportPartition:
        """The partition named by Dagster's ``MultiPartitionKey`` (a ``str``) or its string form ``<instance>|<week>``."""
        instance_id, separator, week = str(key).partition(_KEY_SEPARATOR)
        try:
            if not separator:
                raise ValueError
            return cls(report, instance_id, date.fromisoformat(week))
        except ValueError:
            raise ValueError(f"{key!r} is not a week x instance partition key: expected <instance>|<YYYY-MM-DD>") from None

    @property
    def key(self) -> str:
        """Dagster's partition key as a string: the backfill partition name, also recorded by a paused backfill."""
        return f"{self.instance_id}{_KEY_SEPARATOR}{self.week.isoformat()}"

    def dagster_key(self) -> dg.MultiPartitionKey:
        import dagster as dg

        return dg.MultiPartitionKey({WEEK_DIMENSION: self.week.isoformat(), INSTANCE_DIMENSION: self.instance_id})

    @property
    def run_tags(self) -> dict[str, str]:
        """The per-dimension tags Dagster sets on every run of this partition (backfill runs included)."""
        return {INSTANCE_TAG: self.instance_id, WEEK_TAG: self.week.isoformat()}

    @property
    def run_key(self) -> str:
        """The run key of a schedule's request: Dagster launches a run key once."""
        return f"{self.report}|{self.instance_id}|{self.week.isoformat()}"

    @property
    def settled_run_key(self) -> str:
        return f"{self.run_key}|settled"

    # ---- AMC, the result table and the ledger -------------------------------------------------------

    def window(self, *, timezone: str, week_start: str) -> TimeWindow:
        """The week as an AMC time window in the instance's time zone (``WindowError`` when ``week``
        does not start on ``week_start``)."""
        from amc_pipelines.params import week_window

        return week_window(self.week, timezone=timezone, week_start=week_start)

    def result_key(self, parameters_hash: str) -> ResultKey:
        """This partition's rows in the template's result table, for the run with these parameters
        (the definition's own, or an ad hoc run's): local midnight to midnight, in any zone."""
        start = datetime.combine(self.week, time(0))
        return ResultKey(self.instance_id, start, start + _WEEK_LENGTH, definition=self.report,
                         parameters_hash=parameters_hash)

    @classmethod
    def of_execution(cls, execution: ExecutionKey | ExecutionRecord, *, week_start: str) -> ReportPartition | None:
        """The partition whose week is the window of a ledger key or row, or None when that window is
        not exactly one week starting on ``week_start`` (an ad hoc ``amc run``)."""
        from amc_pipelines.params import week_start_of

        start = execution.window_start
        if start.time() != time(0) or execution.window_end != start + _WEEK_LENGTH:
            return None
        if week_start_of(start.date(), week_start) != start.date():
            return None
        return cls(execution.report_name, execution.instance_id, start.date())


def key_of_run_tags(tags: Mapping[str, str]) -> str | None:
    """A Dagster run's partition key string from its tags, or None. Backfill runs of assets with a
    backfill policy name a partition range (start = end when it holds one partition; a batched range
    cannot be split without the partitions); other runs carry ``dagster/partition``, or one
    ``dagster/partition/<dimension>`` tag per dimension."""
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if start is not None:
        return start if start == end else None
    if PARTITION_TAG in tags:
        return tags[PARTITION_TAG]
    dimensions = sorted((k, v) for k, v in tags.items() if k.startswith(DIMENSION_TAG_PREFIX))
    return _KEY_SEPARATOR.join(v for _, v in dimensions) or None


@dataclass(frozen=True)
class ResultKey:
    """The rows one run loads into its template's result table: one instance and local (naive) AMC
    time window, of one report definition run with one set of parameters.

    A partition's key is :meth:`ReportPartition.result_key`; an ad hoc window's (``amc run --start/--end``,
    ``--window``) is :meth:`of_window`. The table stores the window's first day and its end. Two
    definitions of a template, or a run with other parameters, never share a key, so a load replaces
    only its own rows; the definition's canonical rows are those with its own parameters hash."""

    instance_id: str
    window_start: datetime
    window_end: datetime
    definition: str
    parameters_hash: str

    def __post_init__(self) -> None:
        # The table stores local wall time (timestamp without time zone), as AMC's window is written.
        if self.window_start.tzinfo is not None or self.window_end.tzinfo is not None:
            raise ValueError("result keys take naive local times in the instance's time zone")
        if not self.instance_id or self.window_end <= self.window_start:
            raise ValueError(f"invalid result key: {self!r} (needs an instance id and end after start)")
        if not self.definition or not self.parameters_hash:
            raise ValueError(f"invalid result key: {self!r} (needs the definition and its parameters hash)")

    @classmethod
    def of_window(cls, instance_id: str, window: TimeWindow, *, definition: str, parameters_hash: str) -> ResultKey:
        return cls(instance_id, window.start, window.end, definition=definition, parameters_hash=parameters_hash)

    @property
    def week_start(self) -> date:
        return self.window_start.date()


def execution_key(report: ReportSpec, instance_id: str, window: TimeWindow, parameters: Mapping[str, Any], *,
                  definition: str | None = None) -> ExecutionKey:
    """The ledger key of running ``report`` (its current SQL) for an instance over ``window`` with the
    typed ``parameters``, on behalf of ``definition`` (default: the template's implicit definition,
    whose key is the template's name): a partition's run passes :meth:`ReportPartition.window`,
    ``amc run`` its own window. Each definition has its own executions, because each loads its own rows."""
    from amc_pipelines.ledger import ExecutionKey
    from amc_pipelines.params import parameters_hash

    return ExecutionKey(
        instance_id=instance_id,
        report_name=definition or report.name,
        sql_hash=report.sql_hash,
        window_start=window.start,
        window_end=window.end,
        timezone=window.timezone,
        parameters_hash=parameters_hash(parameters),
    )
