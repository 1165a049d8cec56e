"""Operators' overrides of the registry, stored in Postgres (``refresh.table_settings``) and audited
(``refresh.config_changes``): the effective config of a table is its YAML file plus its override.

A table's mode comes from its file unless an operator set one; ``enabled`` (default true) pauses a
table without forgetting its mode. A table refreshes when it is enabled and its mode is not
``disabled``. Every change writes the override and one audit row per changed field in one
transaction; a change that changes nothing writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from amc_pipelines.db.models import refresh_config_changes, refresh_table_settings
from amc_pipelines.params.durations import format_iso_duration
from amc_pipelines.refresh.models import MODES, TableConfig
from amc_pipelines.refresh.registry import RefreshConfigError, get_table


@dataclass(frozen=True)
class EffectiveTable:
    """A table's config as the refresh uses it."""

    config: TableConfig
    mode: str
    mode_source: str  # "file" or "override"
    enabled: bool
    updated_at: datetime | None = None  # of the override, if any
    updated_by: str | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def refreshes(self) -> bool:
        return self.enabled and self.mode != "disabled"

    def summary(self) -> dict:
        """The JSON form used by ``amc refresh config list/show --json``."""
        config = self.config
        return {
            "name": config.name,
            "mode": self.mode,
            "mode_source": self.mode_source,
            "file_mode": config.mode,
            "enabled": self.enabled,
            "refreshes": self.refreshes,
            "override_updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "override_updated_by": self.updated_by,
            "source": config.source.model_dump(exclude_none=True),
            "target": config.qualified_target,
            "dependencies": config.dependencies.model_dump(),
            "schedule": config.schedule,
            "priority": config.priority,
            "key_columns": config.key_columns,
            "watermark": (None if config.watermark is None else
                          {"column": config.watermark.column, "overlap": format_iso_duration(config.watermark.overlap)}),
            "partition_column": config.partition_column,
            "page_size": config.page_size,
            "on_source_delete": config.on_source_delete,
            "on_schema_drift": config.on_schema_drift,
            "validation": config.validation.model_dump(),
            "file": str(config.source_path),
        }


@dataclass(frozen=True)
class ConfigChange:
    table: str
    field: str
    old_value: str | None
    new_value: str | None
    changed_by: str
    changed_at: datetime | None = None

    def summary(self) -> dict:
        return {"table": self.table, "field": self.field, "old_value": self.old_value, "new_value": self.new_value,
                "changed_by": self.changed_by, "changed_at": self.changed_at.isoformat() if self.changed_at else None}


def _effective(config: TableConfig, row) -> EffectiveTable:
    if row is None:
        return EffectiveTable(config, config.mode, "file", True)
    return EffectiveTable(config, row.mode or config.mode, "override" if row.mode else "file", row.enabled,
                          row.updated_at, row.updated_by)


def effective_tables(engine: Engine, registry: Mapping[str, TableConfig]) -> dict[str, EffectiveTable]:
    """Every table of ``registry`` with its override applied, by name. Overrides of tables no
    longer in the registry are kept (the file may come back) but not returned."""
    with engine.connect() as connection:
        rows = {row.table_name: row for row in connection.execute(select(refresh_table_settings))}
    return {name: _effective(config, rows.get(name)) for name, config in registry.items()}


def effective_table(engine: Engine, registry: Mapping[str, TableConfig], name: str) -> EffectiveTable:
    config = get_table(name, registry)
    with engine.connect() as connection:
        row = connection.execute(select(refresh_table_settings).where(refresh_table_settings.c.table_name == name)).first()
    return _effective(config, row)


def check_change(registry: Mapping[str, TableConfig], name: str, *, by: str, mode: str | None,
                 enabled: bool | None) -> TableConfig:
    """The table's config if the change is well formed (known table and mode, something to change,
    someone making it); else RefreshConfigError saying what to fix. No database needed."""
    config = get_table(name, registry)
    if mode is not None and mode not in MODES:
        raise RefreshConfigError(f"unknown mode '{mode}': use one of {', '.join(MODES)}")
    if mode is None and enabled is None:
        raise RefreshConfigError("nothing to change: give --mode MODE, --enable or --disable")
    if not by.strip():
        raise RefreshConfigError("who made the change is empty: give --by NAME")
    return config


def set_table(engine: Engine, registry: Mapping[str, TableConfig], name: str, *, by: str,
              mode: str | None = None, enabled: bool | None = None) -> list[ConfigChange]:
    """Override ``name``'s mode and/or enabled flag; returns the changed fields (old -> new
    effective values), each also written as an audit row in the same transaction."""
    config = check_change(registry, name, by=by, mode=mode, enabled=enabled)
    table = refresh_table_settings
    with engine.connect() as connection, connection.begin() as transaction:
        # A row with no override behaves like no row: create it so that FOR UPDATE serialises
        # concurrent changes of one table.
        connection.execute(pg_insert(table).values(table_name=name, updated_by=by).on_conflict_do_nothing())
        row = connection.execute(select(table).where(table.c.table_name == name).with_for_update()).one()
        before = _effective(config, row)
        new_mode = row.mode if mode is None else mode
        new_enabled = row.enabled if enabled is None else enabled
        after = _effective(config, SimpleNamespace(mode=new_mode, enabled=new_enabled, updated_at=None, updated_by=by))
        changes = [ConfigChange(name, field, old, new, by)
                   for field, old, new in (("mode", before.mode, after.mode),
                                           ("enabled", str(before.enabled).lower(), str(after.enabled).lower()))
                   if old != new]
        if not changes:
            transaction.rollback()  # not even the neutral row: nothing changed
            return []
        connection.execute(update(table).where(table.c.table_name == name)
                           .values(mode=new_mode, enabled=new_enabled, updated_by=by, updated_at=func.now()))
        connection.execute(insert(refresh_config_changes), [
            {"changed_by": by, "table_name": name, "field": c.field, "old_value": c.old_value, "new_value": c.new_value}
            for c in changes])
    return changes


def config_history(engine: Engine, table: str | None = None) -> list[ConfigChange]:
    """The audit rows, oldest first (of one table, or all)."""
    changes = refresh_config_changes
    query = select(changes).order_by(changes.c.changed_at, changes.c.id)
    if table is not None:
        query = query.where(changes.c.table_name == table)
    with engine.connect() as connection:
        return [ConfigChange(r.table_name, r.field, r.old_value, r.new_value, r.changed_by, r.changed_at)
                for r in connection.execute(query)]
