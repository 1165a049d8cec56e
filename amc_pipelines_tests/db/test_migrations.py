"""Migrations on real Postgres: up to head, down to base, up again; models match migrations."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from amc_pipelines.db import current, downgrade, get_engine, head, upgrade
from amc_pipelines.db.models import CONTROL_SCHEMA, Base


def _schema_tables(url: str) -> set[str] | None:
    inspector = inspect(get_engine(url))
    if CONTROL_SCHEMA not in inspector.get_schema_names():
        return None
    return set(inspector.get_table_names(schema=CONTROL_SCHEMA))


def test_up_down_and_up_again(make_database) -> None:
    url = make_database()
    assert current(url) is None
    assert _schema_tables(url) is None

    assert upgrade(url) == (None, head())
    assert current(url) == head()
    # Every table the models declare exists at head (the model comparison below checks columns).
    assert _schema_tables(url) == {"alembic_version"} | {t.name for t in Base.metadata.sorted_tables}

    assert upgrade(url) == (head(), head())  # a second upgrade is a no-op

    assert downgrade(url, "base") == (head(), None)
    assert current(url) is None
    assert _schema_tables(url) is None  # schema and version table are gone too

    assert upgrade(url, "0001_instances") == (None, "0001_instances")
    assert _schema_tables(url) == {"alembic_version", "instances"}


def test_models_match_the_migrated_database(database_url: str) -> None:
    with get_engine(database_url).connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "compare_type": True,
                "include_object": lambda obj, name, type_, *_: type_ != "table" or obj.schema == CONTROL_SCHEMA,
                "version_table_schema": CONTROL_SCHEMA,
            },
        )
        differences = [d for d in compare_metadata(context, Base.metadata) if "alembic_version" not in str(d)]
    assert differences == []


def test_check_constraints_hold_in_the_database(database_url: str) -> None:
    row = (
        "INSERT INTO amc.instances (instance_id, name, account_id, marketplace_id, region, timezone) "
        "VALUES ('amcconstraint1', 'x', 'ENTITYAAAAAAAA', 'ATVPDKIKX0DER', :region, 'UTC')"
    )
    with pytest.raises(IntegrityError, match="ck_instances_region"), get_engine(database_url).begin() as conn:
        conn.execute(text(row), {"region": "XX"})
    with get_engine(database_url).begin() as conn:
        conn.execute(text(row), {"region": "EU"})
        defaults = conn.execute(
            text("SELECT week_start, enabled, source, data_lag_hours FROM amc.instances WHERE instance_id = 'amcconstraint1'")
        ).one()
        conn.execute(text("DELETE FROM amc.instances WHERE instance_id = 'amcconstraint1'"))
    assert tuple(defaults) == ("monday", True, "manual", None)


def test_concurrent_upgrades_apply_migrations_once(make_database) -> None:
    # Webserver, daemon and run workers upgrade on start, possibly at the same moment:
    # processes (advisory lock in env.py) and threads (a lock in migrate.py).
    url = make_database()
    script = "import sys; from amc_pipelines.db import upgrade; print(upgrade(sys.argv[1])[0])"
    children = [
        subprocess.Popen([sys.executable, "-c", script, url], stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        in_threads = [before for before, _ in pool.map(lambda _: upgrade(url), range(2))]
    in_children = [child.communicate(timeout=60)[0].strip() for child in children]
    assert all(child.returncode == 0 for child in children)
    befores = sorted(str(before) for before in in_threads + in_children)
    assert befores == sorted(["None"] + [head()] * 3)  # exactly one run applied the migrations
    assert current(url) == head()


def test_unknown_revision_is_an_error(make_database) -> None:
    url = make_database()
    with pytest.raises(Exception, match="nope"):
        upgrade(url, "nope")
    assert current(url) is None
