"""The embedded PostgreSQL server used when ``AMC_DATABASE_URL`` is unset.

It is the ``pgserver`` package (PostgreSQL 16 binaries in a wheel) with its data directory at
``AMC_HOME/postgres``, reached over a Unix socket in that directory (no TCP port: nothing to
collide with, nothing exposed on the network).

Lifetime. Several processes use the server at once (Dagster webserver, daemon, run workers,
``amc`` commands). The first one to arrive starts the postmaster; the others attach to it. The
server is deliberately left running when every process has exited (pgserver's
``cleanup_mode=None``): pgserver's own reference counting ('stop' mode) keeps a list of client
pids in a JSON file and stops the server when the last *registered* pid exits, but processes
killed with SIGKILL never unregister, and processes that only hold the URL (dbt, psql, a
forked worker) are never registered, so stopping on exit could pull the server from under a
live user. ``amc db stop`` (:func:`stop_embedded_server`) stops it explicitly with a fast
shutdown; the next use starts it again on the same data directory.

Concurrency. Starting is serialised by an exclusive ``flock`` on ``AMC_HOME/postgres.lock``
(pgserver holds a per-user lock too, but ours also covers stop and stale-pid cleanup). Once the
server runs, attaching only reads ``postmaster.pid`` and checks that its process is the postmaster:
no lock is needed.

Running as root. PostgreSQL refuses to run as root, so pgserver creates a system user
``pgserver`` (``useradd``), ``chown``s the data directory to it, runs ``initdb``/``pg_ctl`` as
that user and adds ``g+rx,o+rx`` to every parent directory of the data directory so that user
can reach it (e.g. ``AMC_HOME=/root/.amc`` makes ``/root`` world-traversable; choose an AMC_HOME
outside ``/root`` if that matters). The data files are then owned by ``pgserver`` (group root)
with mode 0700; root processes connect through the socket regardless. A data directory made as
root cannot later be used by a non-root user and vice versa. As a normal user everything runs
under that user's own uid.

Stale pid files. After a reboot or container restart ``postmaster.pid`` may name a pid that now
belongs to some unrelated process; pgserver would take the server for running. We remove such a
file when the pid is not a ``postgres`` process, so the server starts normally.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

DATABASE_NAME = "amc"
_ensured_databases: set[tuple[Path, int]] = set()
_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedStatus:
    data_dir: Path
    running: bool
    pid: int | None
    socket_dir: Path | None


def data_dir(home: Path) -> Path:
    return Path(home).expanduser().resolve() / "postgres"


def ensure_embedded_server(home: Path, database: str = DATABASE_NAME) -> str:
    """Start (or attach to) the server under ``home`` and return a libpq URL of ``database``.

    The database is created when missing. Safe to call from many processes at once.
    """
    pgdata = data_dir(home)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    info = _running_postmaster(pgdata)
    if info is None:
        with _start_lock(pgdata):
            info = _running_postmaster(pgdata)
            if info is None:
                info = _start(pgdata)
    _ensure_database(pgdata, info, database)
    return info.get_uri(database=database)


def stop_embedded_server(home: Path) -> bool:
    """Stop the server under ``home`` (fast shutdown: open sessions are disconnected).

    Returns False when no server was running there.
    """
    pgdata = data_dir(home)
    if not (pgdata / "PG_VERSION").exists():
        return False
    with _start_lock(pgdata):
        info = _running_postmaster(pgdata)
        if info is None:
            return False
        pgserver = _import_pgserver()
        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=_system_user())
        _ensured_databases.discard((pgdata, info.pid))
        return True


def embedded_status(home: Path) -> EmbeddedStatus:
    pgdata = data_dir(home)
    info = _running_postmaster(pgdata)
    if info is None:
        return EmbeddedStatus(pgdata, False, None, None)
    return EmbeddedStatus(pgdata, True, info.pid, info.socket_dir)


def _import_pgserver():
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (normal on servers and in CI).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


def _system_user() -> str | None:
    # pgserver runs PostgreSQL as this user when we are root (see module docstring).
    return "pgserver" if os.geteuid() == 0 else None


@contextlib.contextmanager
def _start_lock(pgdata: Path) -> Iterator[None]:
    lock_path = pgdata.parent / "postgres.lock"
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _running_postmaster(pgdata: Path):
    """The ``PostmasterInfo`` of a ready server on ``pgdata``, or None (removing a stale pid file)."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    _import_pgserver()
    from pgserver.utils import PostmasterInfo

    try:
        lines = pid_file.read_text().splitlines()
        info = PostmasterInfo(lines) if len(lines) == 8 else None
    except (OSError, ValueError):
        info = None  # being written or removed right now: treat as not running, the lock sorts it out
    if info is None or not info.is_running():
        return None
    if not _is_postmaster_of(info.process, pgdata):
        _logger.warning("removing stale %s: pid %s is not a postgres process", pid_file, info.pid)
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()
        return None
    return info if info.status == "ready" else None


def _is_postmaster_of(process, pgdata: Path) -> bool:
    """Whether ``process`` is a postgres serving ``pgdata`` (not a reused pid, not another server)."""
    import psutil

    try:
        if process.name() != "postgres":
            return False
        return str(pgdata) in process.cmdline()
    except psutil.AccessDenied:
        return True  # a postgres we may not inspect (hidepid): trust the pid file
    except psutil.Error:
        return False  # it exited meanwhile


def _start(pgdata: Path):
    pgserver = _import_pgserver()
    pgdata.mkdir(exist_ok=True)
    # Not pgserver.get_server(): it returns a per-process cached handle, which is stale once the
    # server was stopped. The constructor initialises the data directory and starts the server.
    server = pgserver.PostgresServer(pgdata, cleanup_mode=None)
    return server.get_postmaster_info()


def _ensure_database(pgdata: Path, info, database: str) -> None:
    key = (pgdata, info.pid)
    if key in _ensured_databases:
        return
    with psycopg.connect(info.get_uri(database="postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if exists is None:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another process created it between our check and our CREATE
            except psycopg.errors.UniqueViolation:
                pass  # same race, reported through the pg_database catalog index
    _ensured_databases.add(key)
