"""The dbt project's location, its profile's environment, its manifest and its target directories."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from datetime import date
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
# dbt's selection of the SQP summaries over the BigQuery refresh's tables (models/sqp/ and their tests):
# their own Dagster assets, outside the week-partitioned marts.
SQP_SUMMARIES_SELECTION = "path:models/sqp"
# Files of the project that change the manifest (target/, logs/ and dbt_packages/ are dbt's output).
_SOURCE_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".md")
_OUTPUT_DIRS = ("target", "logs", "dbt_packages")


def dbt_environment(url: str, *, target_dir: Path | None = None) -> dict[str, str]:
    """The variables ``dbt_project/profiles.yml`` reads, for the database at ``url`` (any Postgres URL form).

    The embedded server's URL names its socket directory in the ``host`` query parameter; libpq
    (and so dbt-postgres) takes a directory as the host. ``target_dir``: where dbt writes its
    artifacts and logs (``DBT_TARGET_PATH``, ``DBT_LOG_PATH``).
    """
    from sqlalchemy.engine import make_url

    from amc_pipelines.db.engine import libpq_url

    parsed = make_url(libpq_url(url))
    query = dict(parsed.query)
    host = parsed.host or query.get("host") or "localhost"
    env = {
        "DBT_AMC_HOST": str(host),
        "DBT_AMC_PORT": str(parsed.port or query.get("port") or 5432),
        "DBT_AMC_USER": parsed.username or os.environ.get("PGUSER", "postgres"),
        "DBT_AMC_PASSWORD": parsed.password or "",
        "DBT_AMC_DBNAME": parsed.database or "",
        "DBT_AMC_SSLMODE": str(query.get("sslmode") or "prefer"),
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    if target_dir is not None:
        env |= {"DBT_TARGET_PATH": str(target_dir), "DBT_LOG_PATH": str(target_dir)}
    return env


def dbt_executable() -> str:
    """The ``dbt`` of this Python environment (not whichever one is first on PATH)."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def _sources_digest() -> str:
    """A digest of the project's files that change the manifest (paths and contents)."""
    digest = hashlib.sha256()
    for path in sorted(DBT_PROJECT_DIR.rglob("*")):
        relative = path.relative_to(DBT_PROJECT_DIR)
        if path.is_file() and path.suffix in _SOURCE_SUFFIXES and not any(part in _OUTPUT_DIRS for part in relative.parts):
            digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def ensure_manifest() -> Path:
    """``dbt_project/target/manifest.json``, parsed again when a project file changed since it was parsed.

    ``make install`` parses it; this covers an edited model without a new install (dagster-dbt's
    ``prepare_if_dev`` acts only under ``dagster dev``, which this project does not run). The
    manifest is fresh when the digest of the project's files taken *before* its parse equals
    theirs now (file times are not enough: a file written while a parse runs would look older than
    the manifest that lacks it). One parse at a time: processes that load the code location
    together wait on a lock file.
    """
    stamp = MANIFEST_PATH.parent / "manifest.sources.sha256"

    def fresh(digest: str) -> bool:
        return MANIFEST_PATH.exists() and stamp.exists() and stamp.read_text() == digest

    if fresh(_sources_digest()):
        return MANIFEST_PATH
    MANIFEST_PATH.parent.mkdir(parents=True, exist_ok=True)
    with open(MANIFEST_PATH.parent / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        digest = _sources_digest()
        if fresh(digest):
            return MANIFEST_PATH
        env = {**os.environ, "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
               "DBT_TARGET_PATH": str(MANIFEST_PATH.parent), "DBT_LOG_PATH": str(MANIFEST_PATH.parent)}
        result = subprocess.run([dbt_executable(), "parse", "--quiet"], cwd=DBT_PROJECT_DIR, env=env,
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"dbt parse of {DBT_PROJECT_DIR} failed:\n{result.stdout}{result.stderr}")
        stamp.write_text(digest)
    return MANIFEST_PATH


def partition_vars(weeks: Iterable[date]) -> str:
    """The ``--vars`` JSON for a build of these weeks (week_start dates, every instance; see dbt_project.yml)."""
    return json.dumps({"weeks": [week.isoformat() for week in sorted(set(weeks))]})


def prune_target_dirs(parent: Path, keep: int = 20) -> None:
    """Keep the ``keep`` newest per-run target directories under ``parent`` (dagster-dbt writes one per run)."""
    if not parent.is_dir():
        return
    runs = sorted((p for p in parent.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in runs[keep:]:
        shutil.rmtree(old, ignore_errors=True)


# dbt commands that read or write the database: `amc dbt` prepares the database before these.
DATABASE_COMMANDS = frozenset({"build", "run", "test", "seed", "snapshot", "show", "compile", "retry",
                               "run-operation", "docs", "source"})


def run_dbt(args: list[str], *, url: str, target_dir: Path, extra_env: dict[str, str] | None = None,
            capture: bool = False) -> subprocess.CompletedProcess:
    """The dbt CLI on this project with the project's profile, from the project directory."""
    target_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **dbt_environment(url, target_dir=target_dir), **(extra_env or {})}
    return subprocess.run([dbt_executable(), *args], cwd=DBT_PROJECT_DIR, env=env, check=False,
                          capture_output=capture, text=True)
