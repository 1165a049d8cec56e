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
REGION_HOSTS = "region"  # AMC_API_URL=region: the real AMC host of each instance's region (NA, EU, FE)
AMAZON_TOKEN_URL = "https://api.amazon.com/auth/o2/token"
GOOGLE_API_HOST_SUFFIX = "googleapis.com"  # AMC_BIGQUERY_ENDPOINT on this host: the real BigQuery
OPENAI_API_HOST = "api.openai.com"  # AMC_OPENAI_BASE_URL on this host: OpenAI's API, not the stand-in


@dataclass(frozen=True)
class Settings:
    home: Path = field(metadata={"env": "AMC_HOME", "doc": "Working directory for embedded Postgres, sandbox data and Dagster files."})
    database_url: str | None = field(metadata={"env": "AMC_DATABASE_URL", "doc": "PostgreSQL URL. Unset: an embedded PostgreSQL starts under AMC_HOME."})
    api_url: str = field(metadata={"env": "AMC_API_URL", "doc": "AMC Reporting API base URL: the sandbox by default; `region` for Amazon's host of each instance's region, or any URL."})
    token_url: str = field(metadata={"env": "AMC_TOKEN_URL", "doc": "Login with Amazon token endpoint (default: the sandbox's /auth/o2/token; with AMC_API_URL=region, https://api.amazon.com/auth/o2/token)."})
    client_id: str | None = field(metadata={"env": "AMC_CLIENT_ID", "doc": "LwA client id (secret-free, sent as Amazon-Advertising-API-ClientId)."})
    client_secret: str | None = field(metadata={"env": "AMC_CLIENT_SECRET", "doc": "LwA client secret (secret: environment only, never logged)."}, repr=False)
    refresh_token: str | None = field(metadata={"env": "AMC_REFRESH_TOKEN", "doc": "LwA refresh token (secret: environment only, never logged)."}, repr=False)
    data_lag_hours: int = field(metadata={"env": "AMC_DATA_LAG_HOURS", "doc": "Hours after a window ends before AMC data counts as complete (default 48)."})
    week_start: str = field(metadata={"env": "AMC_WEEK_START", "doc": "Default first day of a reporting week for new instances: monday or sunday."})
    settle_days: int = field(metadata={"env": "AMC_SETTLE_DAYS", "doc": "Days after a week ends until its attributed conversions settle; younger weeks are provisional (default 30)."})
    retention_months: int = field(metadata={"env": "AMC_RETENTION_MONTHS", "doc": "Months of history AMC keeps; older windows are refused (default 13)."})
    api_rate_per_second: float = field(metadata={"env": "AMC_API_RATE", "doc": "AMC API requests per second shared by every process on this database (default 5)."})
    request_timeout_seconds: float = field(metadata={"env": "AMC_REQUEST_TIMEOUT", "doc": "Timeout of one AMC API request in seconds (default 30)."})
    poll_seconds: float = field(metadata={"env": "AMC_POLL_SECONDS", "doc": "First interval between execution status polls; it backs off to 60 s (default 5)."})
    account_id: str | None = field(metadata={"env": "AMC_ACCOUNT_ID", "doc": "AMC account entity id used for instance discovery (/amc/instances)."})
    marketplace_id: str = field(metadata={"env": "AMC_MARKETPLACE_ID", "doc": "Marketplace header for account-level calls (default ATVPDKIKX0DER)."})
    catalog_dir: Path | None = field(metadata={"env": "AMC_CATALOG_DIR", "doc": "Extra directory of report specs (YAML + SQL) loaded beside the built-in library."})
    refresh_tables_dir: Path | None = field(metadata={"env": "AMC_REFRESH_TABLES_DIR", "doc": "Extra directory of BigQuery refresh table configs (YAML) loaded beside the built-in ones in amc_pipelines/refresh/tables/."})
    webhook_url: str | None = field(metadata={"env": "AMC_WEBHOOK_URL", "doc": "URL that receives a JSON POST for every failed Dagster run (unset: no notification)."})
    webhook_secret: str | None = field(metadata={"env": "AMC_WEBHOOK_SECRET", "doc": "Secret for the webhook's HMAC-SHA256 signature header (secret: environment only)."}, repr=False)
    backfill_batch_size: int = field(metadata={"env": "AMC_BACKFILL_BATCH_SIZE", "doc": "Week x instance partitions per backfill run: 1 (default, one run per partition) or N > 1 (batched; see docs/benchmarks.md)."})
    dagster_ui_url: str | None = field(metadata={"env": "AMC_DAGSTER_UI_URL", "doc": "Base URL of the Dagster UI, used for links in notifications (e.g. http://127.0.0.1:3000)."})
    sandbox_host: str = field(metadata={"env": "AMC_SANDBOX_HOST", "doc": "Address the AMC sandbox binds to (default 127.0.0.1)."})
    sandbox_port: int = field(metadata={"env": "AMC_SANDBOX_PORT", "doc": "Port of the AMC sandbox (default 8765)."})
    sandbox_seed: int = field(metadata={"env": "AMC_SANDBOX_SEED", "doc": "Seed of the sandbox's synthetic data (default 7)."})
    sandbox_size: str = field(metadata={"env": "AMC_SANDBOX_SIZE", "doc": "Synthetic data size: small, demo or large (default demo)."})
    bigquery_endpoint: str = field(metadata={"env": "AMC_BIGQUERY_ENDPOINT", "doc": "BigQuery API root: the sandbox's BigQuery stand-in by default (anonymous credentials); https://bigquery.googleapis.com for Google's, with Application Default Credentials from the environment (GOOGLE_APPLICATION_CREDENTIALS or gcloud)."})
    bigquery_project: str = field(metadata={"env": "AMC_BIGQUERY_PROJECT", "doc": "BigQuery project that runs the refresh's query jobs and holds the source dataset (default amc-sandbox, the stand-in's)."})
    bigquery_dataset: str = field(metadata={"env": "AMC_BIGQUERY_DATASET", "doc": "BigQuery dataset the refresh reads (default brand_analytics, the stand-in's)."})
    bigquery_location: str = field(metadata={"env": "AMC_BIGQUERY_LOCATION", "doc": "BigQuery location of the dataset and its jobs (default US)."})
    bigquery_sandbox_size: str = field(metadata={"env": "AMC_BIGQUERY_SANDBOX_SIZE", "doc": "Synthetic data size of the BigQuery stand-in: small, demo or large (at least 5 million rows; default AMC_SANDBOX_SIZE)."})
    openai_api_key: str | None = field(metadata={"env": "OPENAI_API_KEY", "doc": "OpenAI API key for the insights' narrative and questions (secret: environment only, never logged). Unset: the template narrative, without any OpenAI call."}, repr=False)
    openai_base_url: str = field(metadata={"env": "AMC_OPENAI_BASE_URL", "doc": "OpenAI API root given to the SDK as base_url: the sandbox's OpenAI stand-in (its URL + /v1) by default; https://api.openai.com/v1 for OpenAI's."})

    @property
    def bigquery_stand_in(self) -> bool:
        """True unless AMC_BIGQUERY_ENDPOINT is Google's: the stand-in takes anonymous credentials."""
        return not (urlparse(self.bigquery_endpoint).hostname or "").endswith(GOOGLE_API_HOST_SUFFIX)

    @property
    def openai_stand_in(self) -> bool:
        """True unless AMC_OPENAI_BASE_URL is OpenAI's own API."""
        return urlparse(self.openai_base_url).hostname != OPENAI_API_HOST

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
        if api_url == REGION_HOSTS:
            # Real AMC: each instance's region picks its host; LwA's token host is global.
            default_token_url = AMAZON_TOKEN_URL
        else:
            _check_http_url("AMC_API_URL", api_url)
            default_token_url = f"{api_url}/auth/o2/token"
        token_url = get("AMC_TOKEN_URL") or default_token_url
        _check_http_url("AMC_TOKEN_URL", token_url)
        week_start = (get("AMC_WEEK_START") or "monday").lower()
        if week_start not in ("monday", "sunday"):
            raise SettingsError(f"AMC_WEEK_START={week_start!r} is not valid: use 'monday' or 'sunday'.")
        size = (get("AMC_SANDBOX_SIZE") or "demo").lower()
        if size not in ("small", "demo", "large"):
            raise SettingsError(f"AMC_SANDBOX_SIZE={size!r} is not valid: use small, demo or large.")
        bigquery_size = (get("AMC_BIGQUERY_SANDBOX_SIZE") or size).lower()
        if bigquery_size not in ("small", "demo", "large"):
            raise SettingsError(f"AMC_BIGQUERY_SANDBOX_SIZE={bigquery_size!r} is not valid: use small, demo or large.")
        sandbox_url = f"http://{sandbox_host}:{sandbox_port}"
        bigquery_endpoint = (get("AMC_BIGQUERY_ENDPOINT") or sandbox_url).rstrip("/")
        _check_http_url("AMC_BIGQUERY_ENDPOINT", bigquery_endpoint)
        openai_base_url = (get("AMC_OPENAI_BASE_URL") or f"{sandbox_url}/v1").rstrip("/")
        _check_http_url("AMC_OPENAI_BASE_URL", openai_base_url)
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
            settle_days=_int("AMC_SETTLE_DAYS", get("AMC_SETTLE_DAYS"), 30, minimum=0, maximum=120),
            retention_months=_int("AMC_RETENTION_MONTHS", get("AMC_RETENTION_MONTHS"), 13, minimum=1, maximum=120),
            api_rate_per_second=_float("AMC_API_RATE", get("AMC_API_RATE"), 5.0, minimum=0.01, maximum=1000.0),
            request_timeout_seconds=_float("AMC_REQUEST_TIMEOUT", get("AMC_REQUEST_TIMEOUT"), 30.0, minimum=0.1, maximum=3600.0),
            poll_seconds=_float("AMC_POLL_SECONDS", get("AMC_POLL_SECONDS"), 5.0, minimum=0.01, maximum=3600.0),
            account_id=get("AMC_ACCOUNT_ID"),
            marketplace_id=get("AMC_MARKETPLACE_ID") or "ATVPDKIKX0DER",
            catalog_dir=Path(get("AMC_CATALOG_DIR")).expanduser().resolve() if get("AMC_CATALOG_DIR") else None,
            refresh_tables_dir=Path(get("AMC_REFRESH_TABLES_DIR")).expanduser().resolve() if get("AMC_REFRESH_TABLES_DIR") else None,
            webhook_url=_optional_http_url("AMC_WEBHOOK_URL", get("AMC_WEBHOOK_URL")),
            webhook_secret=get("AMC_WEBHOOK_SECRET"),
            backfill_batch_size=_int("AMC_BACKFILL_BATCH_SIZE", get("AMC_BACKFILL_BATCH_SIZE"), 1, minimum=1, maximum=52),
            dagster_ui_url=_optional_http_url("AMC_DAGSTER_UI_URL", get("AMC_DAGSTER_UI_URL")),
            sandbox_host=sandbox_host,
            sandbox_port=sandbox_port,
            sandbox_seed=_int("AMC_SANDBOX_SEED", get("AMC_SANDBOX_SEED"), 7, minimum=0, maximum=2**31 - 1),
            sandbox_size=size,
            bigquery_endpoint=bigquery_endpoint,
            bigquery_project=get("AMC_BIGQUERY_PROJECT") or "amc-sandbox",
            bigquery_dataset=get("AMC_BIGQUERY_DATASET") or "brand_analytics",
            bigquery_location=get("AMC_BIGQUERY_LOCATION") or "US",
            bigquery_sandbox_size=bigquery_size,
            openai_api_key=get("OPENAI_API_KEY"),
            openai_base_url=openai_base_url,
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


def _float(name: str, raw: str | None, default: float, *, minimum: float, maximum: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number; set it between {minimum} and {maximum}.") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name}={value} is out of range; set it between {minimum} and {maximum}.")
    return value


def _check_http_url(name: str, value: str) -> None:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(f"{name}={value!r} is not an http(s) URL, e.g. https://advertising-api.amazon.com")


def _optional_http_url(name: str, value: str | None) -> str | None:
    if value is not None:
        _check_http_url(name, value)
    return value


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
