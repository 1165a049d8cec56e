"""One settings object, read from ``AMC_*`` environment variables.

Every setting the project reads lives here and in the README table; nothing else reads
``os.environ`` for configuration. Bad values fail with a message naming the variable and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlparse


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


# Name, default, description: the single source for parsing and for the README table.
SANDBOX_DEFAULT_URL = "http://127.0.0.1:8765"


@dataclass(frozen=True)
class Settings:
    home: Path = field(metadata={"env": "AMC_HOME", "doc": "Working directory for embedded Postgres, sandbox data and Dagster files."})
    database_url: str | None = field(metadata={"env": "AMC_DATABASE_URL", "doc": "PostgreSQL URL. Unset: an embedded PostgreSQL starts under AMC_HOME."})
    api_url: str = field(metadata={"env": "AMC_API_URL", "doc": "AMC Reporting API base URL (the sandbox by default; e.g. https://advertising-api.amazon.com)."})
    token_url: str = field(metadata={"env": "AMC_TOKEN_URL", "doc": "Login with Amazon token endpoint (default: the sandbox's /auth/o2/token)."})
    client_id: str | None = field(metadata={"env": "AMC_CLIENT_ID", "doc": "LwA client id (secret-free, sent as Amazon-Advertising-API-ClientId)."})
    client_secret: str | None = field(metadata={"env": "AMC_CLIENT_SECRET", "doc": "LwA client secret (secret: environment only, never logged)."}, repr=False)
    refresh_token: str | None = field(metadata={"env": "AMC_REFRESH_TOKEN", "doc": "LwA refresh token (secret: environment only, never logged)."}, repr=False)
    data_lag_hours: int = field(metadata={"env": "AMC_DATA_LAG_HOURS", "doc": "Hours after a window ends before AMC data counts as complete (default 48)."})
    week_start: str = field(metadata={"env": "AMC_WEEK_START", "doc": "Default first day of a reporting week for new instances: monday or sunday."})
    sandbox_host: str = field(metadata={"env": "AMC_SANDBOX_HOST", "doc": "Address the AMC sandbox binds to (default 127.0.0.1)."})
    sandbox_port: int = field(metadata={"env": "AMC_SANDBOX_PORT", "doc": "Port of the AMC sandbox (default 8765)."})
    sandbox_seed: int = field(metadata={"env": "AMC_SANDBOX_SEED", "doc": "Seed of the sandbox's synthetic data (default 7)."})
    sandbox_size: str = field(metadata={"env": "AMC_SANDBOX_SIZE", "doc": "Synthetic data size: small, demo or large (default demo)."})

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def sandbox_dir(self) -> Path:
        return self.home / "sandbox"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() != "" else None

        home = Path(get("AMC_HOME") or "./.amc").expanduser().resolve()
        database_url = get("AMC_DATABASE_URL")
        if database_url is not None:
            _check_postgres_url("AMC_DATABASE_URL", database_url)
        sandbox_host = get("AMC_SANDBOX_HOST") or "127.0.0.1"
        sandbox_port = _int("AMC_SANDBOX_PORT", get("AMC_SANDBOX_PORT"), 8765, minimum=1, maximum=65535)
        default_api = f"http://{sandbox_host}:{sandbox_port}" if (get("AMC_SANDBOX_HOST") or get("AMC_SANDBOX_PORT")) else SANDBOX_DEFAULT_URL
        api_url = (get("AMC_API_URL") or default_api).rstrip("/")
        _check_http_url("AMC_API_URL", api_url)
        token_url = get("AMC_TOKEN_URL") or f"{api_url}/auth/o2/token"
        _check_http_url("AMC_TOKEN_URL", token_url)
        week_start = (get("AMC_WEEK_START") or "monday").lower()
        if week_start not in ("monday", "sunday"):
            raise SettingsError(f"AMC_WEEK_START={week_start!r} is not valid: use 'monday' or 'sunday'.")
        size = (get("AMC_SANDBOX_SIZE") or "demo").lower()
        if size not in ("small", "demo", "large"):
            raise SettingsError(f"AMC_SANDBOX_SIZE={size!r} is not valid: use small, demo or large.")
        return cls(
            home=home,
            database_url=database_url,
            api_url=api_url,
            token_url=token_url,
            client_id=get("AMC_CLIENT_ID"),
            client_secret=get("AMC_CLIENT_SECRET"),
            refresh_token=get("AMC_REFRESH_TOKEN"),
            data_lag_hours=_int("AMC_DATA_LAG_HOURS", get("AMC_DATA_LAG_HOURS"), 48, minimum=0, maximum=24 * 60),
            week_start=week_start,
            sandbox_host=sandbox_host,
            sandbox_port=sandbox_port,
            sandbox_seed=_int("AMC_SANDBOX_SEED", get("AMC_SANDBOX_SEED"), 7, minimum=0, maximum=2**31 - 1),
            sandbox_size=size,
        )


def settings_table() -> list[tuple[str, str]]:
    """(variable, description) for every setting: the README table is generated from this."""
    rows = [(f.metadata["env"], f.metadata["doc"]) for f in fields(Settings)]
    rows.append(("AMC_TEST_DATABASE_URL", "Tests only: server on which each test run creates its own database "
                 "(default postgresql://postgres@127.0.0.1:5432/postgres; falls back to the embedded server)."))
    return rows


def _int(name: str, raw: str | None, default: int, *, minimum: int, maximum: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number; set it to an integer between {minimum} and {maximum}.") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name}={value} is out of range; set it between {minimum} and {maximum}.")
    return value


def _check_http_url(name: str, value: str) -> None:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(f"{name}={value!r} is not an http(s) URL, e.g. https://advertising-api.amazon.com")


def _check_postgres_url(name: str, value: str) -> None:
    parsed = urlparse(value)
    if not parsed.scheme.startswith("postgresql") and parsed.scheme != "postgres":
        raise SettingsError(
            f"{name}={_redact(value)!r} is not a PostgreSQL URL; use postgresql://user:password@host:5432/dbname"
        )


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def get_settings() -> Settings:
    """Settings from the current environment (read each call, so tests and CLIs see changes)."""
    return Settings.from_env()
