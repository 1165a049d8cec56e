"""What the client hands back: the instance context of a call, executions, downloaded files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

# PUBLISHING (seen in practice) and PENDING/RUNNING keep the poller going; these end it.
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "REJECTED", "CANCELLED"})
ACTIVE_STATUSES = frozenset({"PENDING", "RUNNING", "PUBLISHING"})

REGION_HOSTS = {
    "NA": "https://advertising-api.amazon.com",
    "EU": "https://advertising-api-eu.amazon.com",
    "FE": "https://advertising-api-fe.amazon.com",
}


@dataclass(frozen=True)
class InstanceContext:
    """Who a reporting call is about: the instance and the headers AMC routes it by."""

    instance_id: str
    account_id: str  # the advertiser entity id, sent as Amazon-Advertising-API-AdvertiserId
    marketplace_id: str
    region: str = "NA"

    @classmethod
    def from_instance(cls, instance: Any) -> InstanceContext:
        """From a registry ``Instance`` (or anything with those attributes)."""
        return cls(
            instance_id=instance.instance_id,
            account_id=instance.account_id,
            marketplace_id=instance.marketplace_id,
            region=instance.region,
        )


class WorkflowExecution(BaseModel):
    """An AMC workflow execution as the API describes it (unknown fields are kept as extras)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True)

    workflow_execution_id: str | None = None  # None only for a dry run's answer
    workflow_id: str | None = None
    status: str
    status_reason: str | None = None
    time_window_type: str | None = None
    time_window_start: str | None = None  # UTC, as AMC reports it
    time_window_end: str | None = None
    time_window_start_original: str | None = None  # local wall time, as sent
    time_window_end_original: str | None = None
    time_window_time_zone: str | None = Field(
        default=None, validation_alias=AliasChoices("timeWindowTimeZone", "timeWindowTimeZoneOriginal", "time_window_time_zone")
    )
    parameter_values: dict[str, Any] = Field(default_factory=dict)
    create_time: datetime | None = None
    last_updated_time: datetime | None = None
    output_s3_uri: str | None = Field(default=None, alias="outputS3URI")
    data_gaps: list[Any] = Field(default_factory=list)
    dry_run: bool = False

    @field_validator("status", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("parameter_values", "data_gaps", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any, info) -> Any:
        if value is None:
            return {} if info.field_name == "parameter_values" else []
        return value

    @classmethod
    def parse(cls, payload: Any) -> WorkflowExecution:
        """Both shapes AMC answers with: the bare object, or ``{"workflowExecution": {...}}``."""
        if isinstance(payload, dict) and isinstance(payload.get("workflowExecution"), dict):
            payload = payload["workflowExecution"]
        if not isinstance(payload, dict) or "status" not in payload:
            raise ValueError(f"not a workflow execution: {str(payload)[:300]}")
        return cls.model_validate(payload)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


@dataclass(frozen=True)
class DownloadedFile:
    """One result file on disk, verified complete."""

    path: Path
    size: int
    sha256: str
    header: list[str]
