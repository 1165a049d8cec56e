"""The sandbox's data side: synthetic instances (datagen) and the AMC SQL engine, behind one object.

Kept apart from the HTTP code so the routes only speak in instances, requests and result files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amc_pipelines.sandbox.datagen import Dataset, SandboxInstance


@dataclass(frozen=True)
class QuerySpec:
    """What an execution asks the engine to run (AMC request fields, already checked)."""

    sql: str
    window_start: datetime  # naive, in time_zone (the *Original values)
    window_end: datetime
    time_zone: str
    parameter_values: dict[str, Any]
    input_parameters: tuple[dict[str, Any], ...]
    privacy_filtering_behavior: str = "REMOVE_ROWS"
    filtered_metrics_discriminator_column: str | None = None


class QueryRejectedError(Exception):
    """The engine refused the query (syntax, dialect, privacy or parameter rules): AMC's REJECTED."""


class QueryFailedError(Exception):
    """A valid query failed while running: AMC's FAILED."""


class SandboxBackend:
    """Instances of the dataset and the engine that runs AMC SQL over them (thread-safe)."""

    def __init__(self, dataset: Dataset) -> None:
        from amc_pipelines.sandbox.sql import SqlEngine

        self.dataset = dataset
        self.engine = SqlEngine(dataset)
        self._instances: dict[str, SandboxInstance] = {i.instance_id: i for i in dataset.instances}

    @classmethod
    def load(cls, data_dir: Path, size: str, seed: int) -> SandboxBackend:
        """Generate (or reuse the cached) synthetic dataset, then wrap it."""
        from amc_pipelines.sandbox.datagen import ensure_dataset

        return cls(ensure_dataset(data_dir, size=size, seed=seed))

    @property
    def instances(self) -> list[SandboxInstance]:
        return sorted(self._instances.values(), key=lambda i: i.instance_id)

    def instance(self, instance_id: str) -> SandboxInstance | None:
        return self._instances.get(instance_id)

    def validate(self, spec: QuerySpec) -> None:
        from amc_pipelines.sandbox.sql import QueryRejected

        try:
            self.engine.validate(self._request(spec))
        except QueryRejected as exc:
            raise QueryRejectedError(str(getattr(exc, "reason", None) or exc)) from None

    def run(self, spec: QuerySpec, instance_id: str, directory: Path, max_rows_per_file: int) -> list[Path]:
        """Run the query and write its CSV files; raises QueryRejectedError for engine refusals."""
        from amc_pipelines.sandbox.sql import QueryFailed, QueryRejected

        try:
            result = self.engine.run(self._request(spec), instance_id)
        except QueryRejected as exc:
            raise QueryRejectedError(str(getattr(exc, "reason", None) or exc)) from None
        except QueryFailed as exc:
            raise QueryFailedError(str(getattr(exc, "reason", None) or exc)) from None
        directory.mkdir(parents=True, exist_ok=True)
        return list(result.write_csv(directory, max_rows_per_file=max_rows_per_file))

    @staticmethod
    def _request(spec: QuerySpec) -> Any:
        from amc_pipelines.sandbox.sql import InputParameter, QueryRequest

        try:
            input_parameters = tuple(InputParameter.from_api(p) for p in spec.input_parameters)
        except (KeyError, TypeError, ValueError) as exc:
            raise QueryRejectedError(f"Invalid inputParameters: {exc}") from None
        return QueryRequest(
            spec.sql,
            time_window_start=spec.window_start,
            time_window_end=spec.window_end,
            time_zone=spec.time_zone,
            parameter_values=dict(spec.parameter_values),
            input_parameters=input_parameters,
            privacy_filtering_behavior=spec.privacy_filtering_behavior,
            filtered_metrics_discriminator_column=spec.filtered_metrics_discriminator_column,
        )
