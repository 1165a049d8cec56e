"""The public value types of the synthetic data: sizes, instances and a generated dataset."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class SizeSpec:
    name: str
    instances: int
    users: int                    # per instance
    asins: int                    # per instance
    dsp_campaigns: int
    sa_campaigns: int             # spread over SP, SB, SD and STV
    base_daily_impressions: float  # per unit of campaign volume and day
    days: int = 400               # history ending at end_date (AMC keeps 13 months)


SIZES: dict[str, SizeSpec] = {
    "small": SizeSpec("small", instances=2, users=4_000, asins=10, dsp_campaigns=3, sa_campaigns=5,
                      base_daily_impressions=90),
    "demo": SizeSpec("demo", instances=3, users=40_000, asins=16, dsp_campaigns=5, sa_campaigns=9,
                     base_daily_impressions=220),
    "large": SizeSpec("large", instances=5, users=150_000, asins=30, dsp_campaigns=8, sa_campaigns=14,
                      base_daily_impressions=500),
}


def size_spec(size: str) -> SizeSpec:
    try:
        return SIZES[size]
    except KeyError:
        raise ValueError(f"unknown sandbox data size {size!r}; valid sizes: {', '.join(SIZES)}") from None


@dataclass(frozen=True)
class SandboxInstance:
    instance_id: str      # ^amc[a-z0-9]{8,16}$, deterministic from the seed
    account_id: str       # AMC entity id (Amazon-Advertising-API-AdvertiserId)
    advertiser: str
    marketplace_id: str
    region: str           # NA | EU | FE
    timezone: str         # IANA name: the advertiser time zone
    schema: str           # DuckDB schema holding this instance's tables


@dataclass(frozen=True)
class Dataset:
    path: Path
    size: str
    seed: int
    start_date: date      # first UTC event date
    end_date: date        # last UTC event date (the "today" it was generated for)
    instances: tuple[SandboxInstance, ...]
    anomalies_path: Path  # JSON list of planted anomalies

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection; use ``.cursor()`` per thread."""
        return duckdb.connect(str(self.path), read_only=True)

    def instance(self, instance_id: str) -> SandboxInstance:
        for instance in self.instances:
            if instance.instance_id == instance_id:
                return instance
        known = ", ".join(i.instance_id for i in self.instances)
        raise KeyError(f"no sandbox instance {instance_id!r} in the {self.size} dataset (known: {known})")

    def anomalies(self) -> list[dict]:
        return json.loads(self.anomalies_path.read_text())

    def to_manifest(self) -> dict:
        return {
            "path": self.path.name, "size": self.size, "seed": self.seed,
            "start_date": self.start_date.isoformat(), "end_date": self.end_date.isoformat(),
            "instances": [asdict(i) for i in self.instances], "anomalies_path": self.anomalies_path.name,
        }

    @classmethod
    def from_manifest(cls, directory: Path, manifest: dict) -> Dataset:
        return cls(
            path=directory / manifest["path"], size=manifest["size"], seed=manifest["seed"],
            start_date=date.fromisoformat(manifest["start_date"]), end_date=date.fromisoformat(manifest["end_date"]),
            instances=tuple(SandboxInstance(**i) for i in manifest["instances"]),
            anomalies_path=directory / manifest["anomalies_path"],
        )
