"""The backfill calls of a running Dagster webserver's GraphQL API (Dagster's Python GraphQL client has none).

``launchPartitionBackfill`` (asset selection + partition names), ``partitionBackfillOrError`` /
``partitionBackfillsOrError`` (status, per-asset counts, runs), ``cancelPartitionBackfill`` and
``reexecutePartitionBackfill`` (FROM_FAILURE). Plain httpx; no Dagster import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from amc_pipelines.partitions import key_of_run_tags

# Dagster's backfill statuses after which no new run starts.
ENDED_STATUSES = ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED")


class DagsterApiError(RuntimeError):
    """The Dagster webserver could not be reached or refused the request; the message says why."""


_BACKFILL_FIELDS = """
fragment BackfillFields on PartitionBackfill {
  id status title timestamp endTimestamp numPartitions
  assetSelection { path }
  error { message }
  assetBackfillData { assetBackfillStatuses { ... on AssetPartitionsStatusCounts {
    assetKey { path } numPartitionsTargeted numPartitionsInProgress numPartitionsMaterialized numPartitionsFailed } } }
}"""
_BACKFILL = """query Backfill($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { ...BackfillFields partitionNames
    runs { runId status creationTime tags { key value } assetSelection { path } } }
  ... on Error { message } } }""" + _BACKFILL_FIELDS
_BACKFILLS = """query Backfills($limit: Int) { partitionBackfillsOrError(limit: $limit) { __typename
  ... on PartitionBackfills { results { ...BackfillFields } } ... on Error { message } } }""" + _BACKFILL_FIELDS
_LAUNCH = """mutation Launch($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message } } }"""
_REEXECUTE = """mutation Reexecute($params: ReexecutionParams!) { reexecutePartitionBackfill(reexecutionParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message } } }"""
_CANCEL = """mutation Cancel($id: String!) { cancelPartitionBackfill(backfillId: $id) {
  __typename ... on CancelBackfillSuccess { backfillId } ... on Error { message } } }"""
_ASSET_DIMENSIONS = """query Dimensions($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { __typename
  ... on AssetNode { partitionKeysByDimension { name partitionKeys } } ... on Error { message } } }"""

_LATEST_MATERIALIZATIONS = """query Latest($key: AssetKeyInput!, $partitions: [String!]) {
  assetNodeOrError(assetKey: $key) { __typename ... on AssetNode {
    latestMaterializationByPartition(partitions: $partitions) { partition timestamp } } ... on Error { message } } }"""


def asset_key_path(report: str) -> list[str]:
    return ["amc", report]


def _report_of(path: Sequence[str]) -> str:
    return path[-1] if len(path) == 2 and path[0] == "amc" else "/".join(path)


def _time(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


@dataclass(frozen=True)
class BackfillRun:
    run_id: str
    status: str
    created: float
    partition: str | None  # Dagster's partition key string (ReportPartition.key), None for a batched range
    reports: tuple[str, ...]


@dataclass(frozen=True)
class BackfillInfo:
    backfill_id: str
    status: str
    title: str | None
    created: datetime | None
    ended: datetime | None
    reports: tuple[str, ...]
    error: str | None
    # report -> (targeted, in progress, materialized, failed), Dagster's own per-asset counts
    asset_counts: dict[str, tuple[int, int, int, int]]
    partition_names: tuple[str, ...] = ()
    runs: tuple[BackfillRun, ...] = ()

    @property
    def has_ended(self) -> bool:
        return self.status in ENDED_STATUSES

    @classmethod
    def from_graphql(cls, data: Mapping[str, Any]) -> BackfillInfo:
        counts = {}
        for item in (data.get("assetBackfillData") or {}).get("assetBackfillStatuses") or []:
            if "assetKey" in item:
                counts[_report_of(item["assetKey"]["path"])] = (
                    item["numPartitionsTargeted"], item["numPartitionsInProgress"],
                    item["numPartitionsMaterialized"], item["numPartitionsFailed"])
        runs = []
        for run in data.get("runs") or []:
            tags = {tag["key"]: tag["value"] for tag in run["tags"]}
            runs.append(BackfillRun(run["runId"], run["status"], run["creationTime"], key_of_run_tags(tags),
                                    tuple(_report_of(key["path"]) for key in run.get("assetSelection") or [])))
        return cls(
            backfill_id=data["id"], status=data["status"], title=data.get("title"), created=_time(data["timestamp"]),
            ended=_time(data.get("endTimestamp")),
            reports=tuple(_report_of(key["path"]) for key in data.get("assetSelection") or []),
            error=(data.get("error") or {}).get("message"), asset_counts=counts,
            partition_names=tuple(data.get("partitionNames") or ()), runs=tuple(runs),
        )


class DagsterGraphQL:
    """The backfill calls of a Dagster webserver's ``/graphql`` endpoint."""

    def __init__(self, url: str, *, timeout: float = 30.0, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)

    def __enter__(self) -> DagsterGraphQL:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def execute(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self._http.post("/graphql", json={"query": document, "variables": dict(variables or {})})
        except httpx.TransportError as err:
            raise DagsterApiError(f"no Dagster webserver answers at {self.url} ({type(err).__name__}: {err}): start "
                                  "it with `make dev` (`amc dagster dev`), or point --dagster-url at it") from None
        if response.status_code != 200:
            raise DagsterApiError(f"the Dagster webserver at {self.url} answered HTTP {response.status_code}: "
                                  f"{response.text[:300]}")
        body = response.json()
        if body.get("errors"):
            raise DagsterApiError("Dagster GraphQL error: " + "; ".join(e.get("message", "?") for e in body["errors"]))
        return body["data"]

    @staticmethod
    def _result(data: Mapping[str, Any], field_name: str, success: str, what: str) -> dict[str, Any]:
        result = data[field_name]
        if result["__typename"] != success:
            raise DagsterApiError(f"{what}: {result['__typename']}: {result.get('message', 'no message')}")
        return result

    def backfill(self, backfill_id: str) -> BackfillInfo:
        data = self.execute(_BACKFILL, {"id": backfill_id})
        return BackfillInfo.from_graphql(self._result(data, "partitionBackfillOrError", "PartitionBackfill",
                                                      f"backfill {backfill_id}"))

    def backfills(self, limit: int = 20) -> list[BackfillInfo]:
        data = self.execute(_BACKFILLS, {"limit": limit})
        result = self._result(data, "partitionBackfillsOrError", "PartitionBackfills", "listing backfills")
        return [BackfillInfo.from_graphql(item) for item in result["results"]]

    def partition_dimensions(self, report: str) -> dict[str, list[str]]:
        """The partition keys of each dimension of the report's asset (its dynamic instance set included)."""
        data = self.execute(_ASSET_DIMENSIONS, {"key": {"path": asset_key_path(report)}})
        if data["assetNodeOrError"]["__typename"] != "AssetNode":
            raise DagsterApiError(f"asset {'/'.join(asset_key_path(report))} is not in the code location at {self.url}: "
                                  "reload the code location (Deployment > Reload) after adding the report")
        return {d["name"]: d["partitionKeys"] for d in data["assetNodeOrError"]["partitionKeysByDimension"]}

    def latest_materializations(self, path: Sequence[str], partitions: Sequence[str]) -> dict[str, float]:
        """partition -> time (epoch seconds) of its newest materialization, for those materialized."""
        data = self.execute(_LATEST_MATERIALIZATIONS, {"key": {"path": list(path)}, "partitions": list(partitions)})
        node = data["assetNodeOrError"]
        if node["__typename"] != "AssetNode":
            raise DagsterApiError(f"asset {'/'.join(path)} is not in the code location at {self.url}")
        # Dagster's event timestamps are milliseconds as text.
        return {event["partition"]: float(event["timestamp"]) / 1000
                for event in node["latestMaterializationByPartition"] if event is not None}

    def launch(self, reports: Sequence[str], partition_names: Sequence[str], *, title: str,
               tags: Mapping[str, str] | None = None, description: str | None = None) -> str:
        params = {"assetSelection": [{"path": asset_key_path(r)} for r in reports], "partitionNames": list(partition_names),
                  "title": title, "description": description,
                  "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}
        data = self.execute(_LAUNCH, {"params": params})
        return self._result(data, "launchPartitionBackfill", "LaunchBackfillSuccess", "launching the backfill")["backfillId"]

    def reexecute_failed(self, backfill_id: str) -> str:
        data = self.execute(_REEXECUTE, {"params": {"parentRunId": backfill_id, "strategy": "FROM_FAILURE"}})
        return self._result(data, "reexecutePartitionBackfill", "LaunchBackfillSuccess",
                            f"re-executing backfill {backfill_id}")["backfillId"]

    def cancel(self, backfill_id: str) -> None:
        self._result(self.execute(_CANCEL, {"id": backfill_id}), "cancelPartitionBackfill", "CancelBackfillSuccess",
                     f"cancelling backfill {backfill_id}")
