"""Deterministic synthetic AMC data for the sandbox.

``ensure_dataset`` generates (once, cached, safe across processes) a DuckDB file with one schema per
sandbox instance, each holding the nine documented AMC analytics tables over 400 days of traffic and
conversions for the same users, campaigns and ASINs, plus a JSON list of planted anomalies.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from .models import SIZES, Dataset, SandboxInstance, SizeSpec
from .store import GENERATOR_VERSION, dataset_name, ensure

__all__ = ["GENERATOR_VERSION", "SIZES", "Dataset", "SandboxInstance", "SizeSpec", "dataset_name", "ensure_dataset"]


def ensure_dataset(directory: Path, *, size: str = "small", seed: int = 7, end_date: date | None = None,
                   anomalies: bool = True) -> Dataset:
    """The dataset for (size, seed, end_date) in ``directory``, generated on first use.

    ``end_date`` (default: today, UTC) is the last event date; data covers the 400 days up to it.
    ``anomalies=False`` generates the same data without planted anomalies (a separate ``-clean`` file).
    Raises ValueError for an unknown size.
    """
    dataset, _ = ensure(directory, size=size, seed=seed, end_date=end_date, anomalies=anomalies)
    return dataset
