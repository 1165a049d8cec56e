"""Revisions 0007 (operator overrides and their audit) and 0008 (audit of runs, checkpoints, loaded
state, validations; schemas sqp_shadow and refresh_staging): up, down and up again; the models match
the migrated tables; constraints hold."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from amc_pipelines.db import downgrade, get_engine, upgrade
from amc_pipelines.db.models import CONTROL_SCHEMA, REFRESH_SCHEMA, RefreshBase

BEFORE = "0006_report_definitions"
REVISION = "0007_refresh_config"


def _refresh_tables(url: str) -> set[str] | None:
    inspector = inspect(get_engine(url))
    if REFRESH_SCHEMA not in inspector.get_schema_names():
        return None
    return set(inspector.get_table_names(schema=REFRESH_SCHEMA))


def test_refresh_schema_up_down_and_up_again(make_database) -> None:
    url = make_database()
    upgrade(url, BEFORE)
    assert _refresh_tables(url) is None
    assert upgrade(url, REVISION) == (BEFORE, REVISION)
    assert _refresh_tables(url) == {"table_settings", "config_changes"}
    with get_engine(url).begin() as connection:  # the down migration drops tables that hold rows
        connection.execute(text("INSERT INTO refresh.table_settings (table_name, mode, updated_by) VALUES ('t', 'live', 'me')"))
        connection.execute(text("INSERT INTO refresh.config_changes (changed_by, table_name, field, old_value, new_value) "
                                "VALUES ('me', 't', 'mode', 'dry_run', 'live')"))
    assert downgrade(url, BEFORE) == (REVISION, BEFORE)
    assert _refresh_tables(url) is None
    assert "sqp" not in inspect(get_engine(url)).get_schema_names()
    upgrade(url)
    assert _refresh_tables(url) == {t.name for t in RefreshBase.metadata.sorted_tables}


RUNS_REVISION = "0008_refresh_runs"
RUN_TABLES = {"runs", "checkpoints", "table_state", "validations"}


def test_refresh_runs_up_down_and_up_again(make_database) -> None:
    url = make_database()
    upgrade(url, REVISION)
    assert upgrade(url, RUNS_REVISION) == (REVISION, RUNS_REVISION)
    schemas = set(inspect(get_engine(url)).get_schema_names())
    assert {"sqp_shadow", "refresh_staging"} <= schemas
    assert _refresh_tables(url) == {"table_settings", "config_changes"} | RUN_TABLES
    with get_engine(url).begin() as connection:  # the down migration drops tables and schemas that hold rows
        connection.execute(text("INSERT INTO refresh.runs (cycle_id, table_name, mode, status) VALUES ('c', 't', 'live', 'running')"))
        connection.execute(text("CREATE TABLE refresh_staging.t__sqp (x int)"))
    assert downgrade(url, REVISION) == (RUNS_REVISION, REVISION)
    assert _refresh_tables(url) == {"table_settings", "config_changes"}
    assert not {"sqp_shadow", "refresh_staging"} & set(inspect(get_engine(url)).get_schema_names())
    upgrade(url)
    assert _refresh_tables(url) >= RUN_TABLES


def test_refresh_models_match_the_migrated_database(database_url: str) -> None:
    with get_engine(database_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "include_schemas": True,
            "compare_type": True,
            "include_object": lambda obj, name, type_, *_: type_ != "table" or obj.schema == REFRESH_SCHEMA,
            "version_table_schema": CONTROL_SCHEMA,
        })
        differences = compare_metadata(context, RefreshBase.metadata)
    assert differences == []


def test_mode_constraint_and_defaults_hold(database_url: str) -> None:
    engine = get_engine(database_url)
    with pytest.raises(IntegrityError, match="ck_table_settings_mode"), engine.begin() as connection:
        connection.execute(text("INSERT INTO refresh.table_settings (table_name, mode, updated_by) "
                                "VALUES ('migration_check', 'production', 'me')"))
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO refresh.table_settings (table_name, updated_by) VALUES ('migration_check', 'me')"))
        row = connection.execute(text("SELECT mode, enabled, updated_at IS NOT NULL FROM refresh.table_settings "
                                      "WHERE table_name = 'migration_check'")).one()
        connection.execute(text("DELETE FROM refresh.table_settings WHERE table_name = 'migration_check'"))
    assert tuple(row) == (None, True, True)


def test_run_status_and_checkpoint_state_constraints_hold(database_url: str) -> None:
    engine = get_engine(database_url)
    with pytest.raises(IntegrityError, match="ck_runs_status"), engine.begin() as connection:
        connection.execute(text("INSERT INTO refresh.runs (cycle_id, table_name, mode, status) VALUES ('c', 't', 'live', 'done')"))
    with pytest.raises(IntegrityError, match="ck_checkpoints_target_schema"), engine.begin() as connection:
        connection.execute(text("INSERT INTO refresh.checkpoints (table_name, target_schema, run_id, job_id, staging_table, state) "
                                "VALUES ('t', 'public', 1, 'j', 's', 'reading')"))
