"""Small live (``sqp``) and shadow (``sqp_shadow``) tables built directly with SQL, for the shadow
validation and cutover tests (the copy engine is tested on its own).

Each table gets a fresh name, so tests share the session's database without seeing each other's
tables, validations or audit rows.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import Engine, text

from amc_pipelines.refresh.models import TableConfig
from amc_pipelines.refresh.overrides import EffectiveTable

WEEKS = ("2026-10-04", "2026-10-11", "2026-10-18")
ACCOUNTS = ("acct_a", "acct_b")
ASINS = ("B000000001", "B000000002", "B000000003", "B000000004")
ROWS_PER_WEEK = len(ACCOUNTS) * len(ASINS)

# clicks: an integer metric (exact); sales: a float metric (relative tolerance 0.001); share: numeric.
COLUMNS = """
    account_id text NOT NULL,
    start_date date NOT NULL,
    asin text NOT NULL,
    clicks bigint,
    sales double precision,
    share numeric(8, 4),
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, start_date, asin)
"""

# Deterministic rows: sales are exact binary fractions, so one ULP of noise is visible bit-wise.
ROWS = f"""
    SELECT a.account_id, w.start_date::date, s.asin,
           (100 * w.n + 10 * a.n + s.n)::bigint AS clicks,
           (1234.5 + 250.25 * w.n + 17.75 * a.n + s.n * 0.125)::double precision AS sales,
           round((s.n::numeric / 10), 4) AS share,
           w.start_date::timestamptz + interval '1 day 6 hours' AS updated_at
    FROM unnest(ARRAY{list(WEEKS)}) WITH ORDINALITY AS w(start_date, n)
    CROSS JOIN unnest(ARRAY{list(ACCOUNTS)}) WITH ORDINALITY AS a(account_id, n)
    CROSS JOIN unnest(ARRAY{list(ASINS)}) WITH ORDINALITY AS s(asin, n)
"""


def table_config(name: str, *, mode: str = "shadow", **validation) -> TableConfig:
    settings = {"metric_sums": [{"column": "clicks"}, {"column": "sales", "tolerance": 0.001}], **validation}
    return TableConfig(
        name=name,
        description="a table of the shadow tests",
        source={"table": f"brand_analytics.{name}"},
        key_columns=["account_id", "start_date", "asin"],
        watermark={"column": "updated_at", "overlap": "P3D"},
        partition_column="start_date",
        mode=mode,
        validation=settings,
        source_path=Path(f"/tests/{name}.yaml"),
    )


def effective(config: TableConfig) -> EffectiveTable:
    return EffectiveTable(config, config.mode, "file", True)


def new_name() -> str:
    return f"shadow_{uuid.uuid4().hex[:10]}"


def create_tables(engine: Engine, name: str, *, live: bool = True, shadow: bool = True) -> None:
    """``sqp.<name>`` and ``sqp_shadow.<name>`` with the same rows, the shadow's inserted in the
    opposite order (validation must not depend on row order)."""
    with engine.begin() as connection:
        connection.execute(text("CREATE SCHEMA IF NOT EXISTS sqp"))
        if live:
            connection.execute(text(f"CREATE TABLE sqp.{name} ({COLUMNS})"))
            connection.execute(text(f"INSERT INTO sqp.{name} {ROWS} ORDER BY 1, 2, 3"))
        if shadow:
            connection.execute(text(f"CREATE TABLE sqp_shadow.{name} ({COLUMNS})"))
            connection.execute(text(f"INSERT INTO sqp_shadow.{name} {ROWS} ORDER BY 1 DESC, 2 DESC, 3 DESC"))


def execute(engine: Engine, statement: str, **params) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement), params)


def rows(engine: Engine, table: str) -> list[tuple]:
    """Every row of ``table`` in key order."""
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2, 3"))]
