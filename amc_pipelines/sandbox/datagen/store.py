"""The cached DuckDB file: naming, one generation across processes (fcntl lock), atomic publish, manifest."""

from __future__ import annotations

import fcntl
import json
import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from .generate import make_instance, write_instance
from .models import Dataset, size_spec

# Bump when generation changes, so cached files from older code are never reused.
GENERATOR_VERSION = 1


def dataset_name(size: str, seed: int, end_date: date, *, anomalies: bool = True) -> str:
    """The file stem; a dataset generated without planted anomalies ends in ``-clean``."""
    return f"amc-sandbox-{size}-seed{seed}-{end_date:%Y%m%d}-v{GENERATOR_VERSION}" + ("" if anomalies else "-clean")


def ensure(directory: Path, *, size: str, seed: int, end_date: date | None,
           anomalies: bool = True) -> tuple[Dataset, bool]:
    """The dataset, generating it unless cached; the flag says whether this call generated it.

    ``anomalies=False``: the same data without the planted anomalies (an empty anomalies.json), for
    measuring false positives; the default output is unchanged."""
    spec = size_spec(size)
    end = end_date or datetime.now(UTC).date()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = dataset_name(spec.name, seed, end, anomalies=anomalies)
    manifest_path = directory / f"{name}.manifest.json"
    if manifest_path.exists():  # written last: its presence means the dataset is complete
        return _load(directory, manifest_path), False
    with open(directory / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be generating: wait for it
        try:
            if manifest_path.exists():
                return _load(directory, manifest_path), False
            _generate(directory, name, spec.name, seed, end, plant=anomalies)
            return _load(directory, manifest_path), True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load(directory: Path, manifest_path: Path) -> Dataset:
    return Dataset.from_manifest(directory, json.loads(manifest_path.read_text()))


def _generate(directory: Path, name: str, size: str, seed: int, end: date, *, plant: bool = True) -> None:
    spec = size_spec(size)
    start = end - timedelta(days=spec.days - 1)
    final = directory / f"{name}.duckdb"
    temporary = directory / f"{name}.duckdb.tmp-{os.getpid()}"
    for leftover in (temporary, Path(f"{temporary}.wal")):
        leftover.unlink(missing_ok=True)
    began = time.perf_counter()
    anomalies, rows = [], {}
    con = duckdb.connect(str(temporary))
    try:
        con.execute("SET enable_progress_bar = false")
        for index in range(spec.instances):
            planted, counts = write_instance(con, spec, seed, index, start, end, anomalies=plant)
            anomalies.extend(a.to_json() for a in planted)
            rows[make_instance(seed, index).instance_id] = counts
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(temporary, final)

    instances = tuple(make_instance(seed, i) for i in range(spec.instances))
    dataset = Dataset(path=final, size=size, seed=seed, start_date=start, end_date=end, instances=instances,
                      anomalies_path=directory / f"{name}.anomalies.json")
    _write_json(dataset.anomalies_path, anomalies)
    manifest = dataset.to_manifest() | {
        "generator_version": GENERATOR_VERSION,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "generation_seconds": round(time.perf_counter() - began, 2),
        "generated_by_pid": os.getpid(),
        "rows": rows,
    }
    _write_json(directory / f"{name}.manifest.json", manifest)


def _write_json(path: Path, data: object) -> None:
    temporary = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    os.replace(temporary, path)
