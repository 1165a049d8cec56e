"""Database URLs and engines.

Our code talks to Postgres through SQLAlchemy 2 with psycopg 3 (``postgresql+psycopg://``);
dagster-postgres needs psycopg2 (``postgresql+psycopg2://``); psql and dbt want a plain libpq
URL. Every URL we hand out is derived from one resolved URL so the three never disagree.
"""

from __future__ import annotations

import os
import threading
from urllib.parse import quote

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url

from amc_pipelines.settings import Settings, SettingsError, get_settings

_PSYCOPG = "postgresql+psycopg"
_PSYCOPG2 = "postgresql+psycopg2"

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _parse(url: str | URL) -> URL:
    parsed = make_url(url) if isinstance(url, str) else url
    backend = parsed.drivername.split("+", 1)[0]
    if backend not in ("postgresql", "postgres"):
        raise SettingsError(
            f"{redact_url(parsed)!r} is not a PostgreSQL URL; use postgresql://user:password@host:5432/dbname"
        )
    if parsed.password == "":
        # pgserver's URIs carry an empty one ("postgres:@"); URL.set() cannot unset a field.
        parsed = URL.create(parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database, parsed.query)
    return parsed


def normalize_url(url: str | URL) -> str:
    """The ``postgresql+psycopg://`` form of any ``postgres://``/``postgresql[+driver]://`` URL."""
    return _parse(url).set(drivername=_PSYCOPG).render_as_string(hide_password=False)


def psycopg2_url(url: str | URL) -> str:
    """The ``postgresql+psycopg2://`` form, for dagster-postgres (which uses psycopg2)."""
    return _parse(url).set(drivername=_PSYCOPG2).render_as_string(hide_password=False)


def libpq_url(url: str | URL) -> str:
    """A plain ``postgresql://`` URI that libpq tools (psql, dbt, pg_dump) accept.

    Query values are percent-encoded with ``%20`` for spaces: libpq does not read ``+`` as a space.
    """
    parsed = _parse(url)
    base = parsed.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    if not parsed.query:
        return base
    pairs = []
    for key, value in parsed.query.items():
        for item in value if isinstance(value, tuple) else (value,):
            pairs.append(f"{quote(key, safe='')}={quote(item, safe='')}")
    return f"{base}?{'&'.join(pairs)}"


def redact_url(url: str | URL) -> str:
    """The URL with any password replaced by ``***``: safe to print and log."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except Exception:  # an unparseable URL may still carry a secret: print nothing of it
        return "<unparseable database URL>"
    return parsed.render_as_string(hide_password=True)


def database_url(settings: Settings | None = None) -> str:
    """The ``postgresql+psycopg://`` URL of the project database.

    ``AMC_DATABASE_URL`` when set; otherwise the embedded server under ``AMC_HOME`` is started
    (or attached to) and the URL of its ``amc`` database returned.
    """
    settings = settings or get_settings()
    if settings.database_url is not None:
        return normalize_url(settings.database_url)
    from amc_pipelines.db.embedded import ensure_embedded_server

    return normalize_url(ensure_embedded_server(settings.home))


def get_engine(url: str) -> Engine:
    """One pooled engine per URL per process; ``pool_pre_ping`` survives server restarts."""
    key = normalize_url(url)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = create_engine(key, pool_pre_ping=True)
            _engines[key] = engine
        return engine


def dispose_engine(url: str) -> None:
    """Close the cached engine of ``url`` (before dropping its database, or stopping its server)."""
    with _engines_lock:
        engine = _engines.pop(normalize_url(url), None)
    if engine is not None:
        engine.dispose()


def _forget_engines_after_fork() -> None:
    # A forked child must not reuse its parent's pooled connections (SQLAlchemy "pooling with
    # multiprocessing"): drop them without closing the parent's sockets.
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_forget_engines_after_fork)
