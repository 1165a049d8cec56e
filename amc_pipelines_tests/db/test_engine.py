"""URL handling and engines."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from amc_pipelines.db import (
    database_url,
    dispose_engine,
    get_engine,
    libpq_url,
    normalize_url,
    psycopg2_url,
    redact_url,
)
from amc_pipelines.settings import Settings, SettingsError


@pytest.mark.parametrize(
    "given",
    [
        "postgres://u:pw@db.example:5432/amc",
        "postgresql://u:pw@db.example:5432/amc",
        "postgresql+psycopg2://u:pw@db.example:5432/amc",
        "postgresql+psycopg://u:pw@db.example:5432/amc",
    ],
)
def test_every_postgres_scheme_becomes_psycopg3(given: str) -> None:
    assert normalize_url(given) == "postgresql+psycopg://u:pw@db.example:5432/amc"
    assert psycopg2_url(given) == "postgresql+psycopg2://u:pw@db.example:5432/amc"
    assert libpq_url(given) == "postgresql://u:pw@db.example:5432/amc"


def test_socket_urls_keep_their_host_query() -> None:
    embedded = "postgresql://postgres:@/amc?host=/tmp/amc home/postgres"
    assert normalize_url(embedded) == "postgresql+psycopg://postgres@/amc?host=%2Ftmp%2Famc+home%2Fpostgres"
    # libpq does not read "+" as a space
    assert libpq_url(embedded) == "postgresql://postgres@/amc?host=%2Ftmp%2Famc%20home%2Fpostgres"


def test_passwords_are_redacted_and_special_characters_survive() -> None:
    url = "postgresql://user:p%40ss%25word@host/db"
    assert redact_url(url) == "postgresql://user:***@host/db"
    assert normalize_url(url) == "postgresql+psycopg://user:p%40ss%25word@host/db"
    assert redact_url("not a url at all") == "<unparseable database URL>"


def test_a_non_postgres_url_is_refused_without_showing_the_password() -> None:
    with pytest.raises(SettingsError, match=r"mysql://u:\*\*\*@h/db.*is not a PostgreSQL URL") as caught:
        normalize_url("mysql://u:secret@h/db")
    assert "secret" not in str(caught.value)


def test_database_url_prefers_the_configured_url(tmp_path) -> None:
    settings = Settings.from_env({"AMC_HOME": str(tmp_path), "AMC_DATABASE_URL": "postgres://a@h:5/x"})
    assert database_url(settings) == "postgresql+psycopg://a@h:5/x"
    assert not (tmp_path / "postgres").exists()  # no embedded server was started


def test_get_engine_caches_one_engine_per_url(database_url: str) -> None:
    engine = get_engine(database_url)
    assert get_engine(psycopg2_url(database_url)) is engine  # same database, same engine
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
    assert engine.pool._pre_ping
    dispose_engine(database_url)
    assert get_engine(database_url) is not engine
