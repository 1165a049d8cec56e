"""Tables in the BigQuery dataset that no registry file reads: listed by ``amc refresh config
discover`` for an operator to configure, never refreshed on their own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from amc_pipelines.refresh.models import TableConfig


def configured_sources(registry: Mapping[str, TableConfig]) -> set[tuple[str, str]]:
    """(dataset, table) of every BigQuery table a registry file copies or its query reads."""
    return {reference for config in registry.values() for reference in config.source.referenced_tables()}


def unconfigured_tables(client: Any, dataset: str, registry: Mapping[str, TableConfig]) -> list[dict[str, Any]]:
    """The tables of ``dataset`` (through the client's tables.list) that no registry file reads,
    by name, each with its type and creation time."""
    configured = configured_sources(registry)
    found = []
    for item in client.list_tables(f"{client.project}.{dataset}"):
        if (dataset, item.table_id) in configured:
            continue
        created = item.created.isoformat() if item.created else None
        found.append({"dataset": dataset, "table": item.table_id, "type": item.table_type, "created": created})
    return sorted(found, key=lambda t: t["table"])
