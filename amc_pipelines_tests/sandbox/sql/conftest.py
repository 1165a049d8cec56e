"""A tiny hand-made DuckDB dataset with the sandbox tables, for engine tests that need exact rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from amc_pipelines.sandbox.sql import QueryRequest, SqlEngine
from amc_pipelines.sandbox.tables import sandbox_tables

INSTANCE = "amcTINY01"
SCHEMA = "tiny"
WINDOW_START = datetime(2024, 1, 1)
WINDOW_END = datetime(2024, 1, 8)

# sponsored_ads_traffic: (user_id, campaign, postal-free dims..., impressions, clicks, spend, event_dt_utc)
TRAFFIC_ROWS = [
    ("u1", "A", "sponsored_products", 10, 1, 100_000_000, datetime(2024, 1, 1, 0, 0)),
    ("u2", "A", "sponsored_products", 20, 2, 200_000_000, datetime(2024, 1, 2, 12, 0)),
    ("u3", "A", "sponsored_products", 30, 0, 300_000_000, datetime(2024, 1, 7, 23, 59)),
    ("u1", "A", "sponsored_products", 5, 0, 0, datetime(2024, 1, 3, 8, 0)),
    ("u4", "B", "sponsored_brands", 7, 1, 50_000_000, datetime(2024, 1, 4, 9, 0)),
    ("u5", "A", "sponsored_products", 1000, 0, 0, datetime(2023, 12, 31, 23, 0)),  # 1 h before the window
    ("u6", "A", "sponsored_products", 2000, 0, 0, datetime(2024, 1, 8, 0, 0)),  # at the (exclusive) end
    ("u7", "C", "sponsored_display", 3, 0, 0, datetime(2023, 12, 20, 0, 0)),  # 12 days before
]
# dsp_impressions: (user_id, campaign, postal_code, impressions, impression_dt_utc)
IMPRESSION_ROWS = [
    ("u1", "D", "10001", 1, datetime(2024, 1, 2)),
    ("u2", "D", "10001", 1, datetime(2024, 1, 2)),
    ("u9", "D", "10002", 1, datetime(2024, 1, 3)),
]


@dataclass(frozen=True)
class TinyInstance:
    instance_id: str
    schema: str


class TinyDataset:
    """The part of ``datagen.Dataset`` the engine uses: ``instance()`` and ``connect()``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.instances = (TinyInstance(INSTANCE, SCHEMA),)

    def instance(self, instance_id: str) -> TinyInstance:
        for instance in self.instances:
            if instance.instance_id == instance_id:
                return instance
        raise KeyError(instance_id)

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.path), read_only=True)


def build_tiny_dataset(path: Path) -> TinyDataset:
    with duckdb.connect(str(path)) as connection:
        connection.execute(f"CREATE SCHEMA {SCHEMA}")
        for table in sandbox_tables().values():
            columns = ", ".join(f'"{c.name}" {c.duckdb_type}' for c in table.columns)
            connection.execute(f'CREATE TABLE {SCHEMA}."{table.name}" ({columns})')
        connection.executemany(
            f"INSERT INTO {SCHEMA}.sponsored_ads_traffic "
            "(user_id, campaign, ad_product_type, impressions, clicks, spend, event_dt_utc) VALUES (?, ?, ?, ?, ?, ?, ?)",
            TRAFFIC_ROWS,
        )
        connection.executemany(
            f"INSERT INTO {SCHEMA}.dsp_impressions (user_id, campaign, postal_code, impressions, impression_dt_utc) "
            "VALUES (?, ?, ?, ?, ?)",
            IMPRESSION_ROWS,
        )
    return TinyDataset(path)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> TinyDataset:
    return build_tiny_dataset(tmp_path_factory.mktemp("tiny_amc") / "dataset.duckdb")


@pytest.fixture(scope="session")
def engine(tiny_dataset) -> SqlEngine:
    return SqlEngine(tiny_dataset)


def request(sql: str, **overrides) -> QueryRequest:
    fields = {"sql": sql, "time_window_start": WINDOW_START, "time_window_end": WINDOW_END, **overrides}
    return QueryRequest(**fields)
