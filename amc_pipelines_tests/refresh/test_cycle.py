"""A refresh cycle over many tables (``refresh/cycle.py``) on real Postgres.

The cycle's own rules (order, skips, warnings, modes, refusals, callbacks, webhooks) are checked with
a stand-in copy function that writes real audit rows; the end-to-end tests copy the built-in tables
from the BigQuery stand-in over HTTP with the real client and the real copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, insert, select, text

from amc_pipelines.db import get_engine, upgrade
from amc_pipelines.db.models import refresh_checkpoints, refresh_runs, refresh_table_state
from amc_pipelines.refresh.copy import TableOutcome, target_schema_for
from amc_pipelines.refresh.cycle import run_cycle
from amc_pipelines.refresh.overrides import set_table
from amc_pipelines.refresh.registry import RefreshConfigError, load_registry

SQP, ASIN, BRAND = "search_query_performance", "asin_performance", "brand_search_query_weekly"
BUILT_IN = [ASIN, SQP, BRAND]  # dependency order: priority 20, 10, then SQP's hard dependent


@pytest.fixture
def engine(make_database):
    url = make_database()
    upgrade(url)
    return get_engine(url)


def _table_file(directory: Path, name: str, *, source: str | None = None, query: str | None = None,
                keys: list[str] | None = None, hard: list[str] = (), soft: list[str] = (), **fields: Any) -> None:
    config = {"name": name, "description": f"test table {name}",
              "source": {"query": query} if query else {"table": source or f"brand_analytics.{name}"},
              "key_columns": keys or ["account_id", "start_date"], "mode": "live",
              "dependencies": {"hard": list(hard), "soft": list(soft)}, **fields}
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(config))


class FakeCopy:
    """copy_table's signature; writes a real audit row with the planned status."""

    def __init__(self, failing: dict[str, str] | None = None) -> None:
        self.failing = failing or {}
        self.calls: list[tuple[str, str]] = []

    def __call__(self, engine, client, table, *, mode: str, cycle_id: str, triggered_by: str, clock=None) -> TableOutcome:
        error = self.failing.get(table.name)
        status = "failed" if error else "success"
        target = None if mode == "dry_run" else f"{target_schema_for(mode)}.{table.config.target_table}"
        with engine.begin() as connection:
            run_id = connection.execute(insert(refresh_runs).values(
                cycle_id=cycle_id, table_name=table.name, mode=mode, target=target, status=status, error=error,
                finished_at=func.now(), triggered_by=triggered_by, details={"copied_by": "fake"},
            ).returning(refresh_runs.c.id)).scalar_one()
        self.calls.append((table.name, mode))
        return TableOutcome(table=table.name, mode=mode, status=status, run_id=run_id, target=target, error=error,
                            details={"copied_by": "fake"})


class Receiver:
    def __init__(self) -> None:
        self.events = []

    def notify(self, event) -> None:
        self.events.append(event)


class NoBigQuery:
    """A client that fails the test if anything reaches it."""

    def __getattr__(self, name: str):
        raise AssertionError(f"BigQuery was called ({name}) before the cycle's checks")


def _audit(engine, cycle_id: str) -> dict[str, tuple]:
    with engine.connect() as connection:
        rows = connection.execute(select(refresh_runs).where(refresh_runs.c.cycle_id == cycle_id)).all()
    return {row.table_name: (row.mode, row.status, row.error, row.details) for row in rows}


def test_hard_dependents_are_skipped_soft_dependents_warn(engine, tmp_path: Path) -> None:
    _table_file(tmp_path, "root_table", priority=50)
    _table_file(tmp_path, "needs_root", hard=["root_table"])
    _table_file(tmp_path, "needs_needs_root", hard=["needs_root"])
    _table_file(tmp_path, "likes_root", soft=["root_table"])
    _table_file(tmp_path, "likes_sqp_needs_asin", soft=[SQP], hard=[ASIN])
    registry = load_registry(tmp_path)
    copy, receiver, seen = FakeCopy({"root_table": "source table not found"}), Receiver(), []

    result = run_cycle(engine, NoBigQuery(), registry, notifier=receiver, copy=copy, triggered_by="test",
                       on_outcome=lambda outcome, validation: seen.append((outcome.table, outcome.status, validation)))

    order = [o.table for o in result.outcomes]
    assert order == ["root_table", ASIN, SQP, BRAND, "likes_root", "likes_sqp_needs_asin", "needs_root",
                     "needs_needs_root"]
    statuses = {o.table: o.status for o in result.outcomes}
    assert statuses == {"root_table": "failed", ASIN: "success", SQP: "success", BRAND: "success",
                        "likes_root": "warning", "likes_sqp_needs_asin": "success", "needs_root": "skipped",
                        "needs_needs_root": "skipped"}
    assert [t for t, _ in copy.calls] == ["root_table", ASIN, SQP, BRAND, "likes_root", "likes_sqp_needs_asin"]
    assert seen == [(o.table, o.status, None) for o in result.outcomes]  # as each finished, skipped ones too
    assert [o.table for o in result.failed] == ["root_table"]
    assert [o.table for o in result.skipped] == ["needs_root", "needs_needs_root"]

    audit = _audit(engine, result.cycle_id)
    assert len(audit) == 8
    mode, status, _, details = audit["likes_root"]
    assert (mode, status) == ("live", "warning")
    assert details == {"copied_by": "fake", "warnings": [
        "soft dependency root_table failed in this cycle: source table not found; loaded from the rows it holds"]}
    assert result.outcomes[4].details["warnings"] == details["warnings"]
    assert audit["needs_root"][:2] == ("live", "skipped")
    assert "root_table" in str(audit["needs_root"][2:]) and "needs_root" in str(audit["needs_needs_root"][2:])

    kinds = [(e.kind, e.table, e.status) for e in receiver.events]
    assert kinds == [("refresh.failed", "root_table", "failed"), ("refresh.succeeded", ASIN, "success"),
                     ("refresh.succeeded", SQP, "success"), ("refresh.succeeded", BRAND, "success"),
                     ("refresh.succeeded", "likes_root", "warning"),
                     ("refresh.succeeded", "likes_sqp_needs_asin", "success")]
    failed = receiver.events[0]
    assert (failed.cycle_id, failed.run_id, failed.error) == (result.cycle_id, result.outcomes[0].run_id,
                                                              "source table not found")
    assert failed.details["mode"] == "live" and failed.details["rows_read"] == 0


def test_modes_follow_overrides_and_dry_run_forces_dry_runs(engine) -> None:
    registry = load_registry()
    set_table(engine, registry, BRAND, by="test", mode="dry_run")
    copy = FakeCopy()
    run_cycle(engine, NoBigQuery(), registry, copy=copy)
    assert copy.calls == [(ASIN, "live"), (SQP, "live"), (BRAND, "dry_run")]

    copy = FakeCopy()
    result = run_cycle(engine, NoBigQuery(), registry, tables=[BRAND, ASIN], dry_run=True, copy=copy)
    assert copy.calls == [(ASIN, "dry_run"), (BRAND, "dry_run")]  # dependency order, not the order given
    assert {o.target for o in result.outcomes} == {None}

    set_table(engine, registry, ASIN, by="test", enabled=False)
    copy = FakeCopy()
    run_cycle(engine, NoBigQuery(), registry, copy=copy)
    assert copy.calls == [(SQP, "live"), (BRAND, "dry_run")]  # a paused table is left out of a full cycle


def test_unknown_and_not_refreshing_tables_are_refused_before_anything_runs(engine) -> None:
    registry = load_registry()
    copy = FakeCopy()
    with pytest.raises(RefreshConfigError) as raised:
        run_cycle(engine, NoBigQuery(), registry, tables=["search_query_perfomance", "nope"], copy=copy)
    assert raised.value.problems[0].startswith("unknown table 'search_query_perfomance' (did you mean "
                                               "'search_query_performance'?)")
    assert raised.value.problems[1].startswith("unknown table 'nope'")

    set_table(engine, registry, SQP, by="alice", mode="disabled")
    set_table(engine, registry, ASIN, by="bob", enabled=False)
    with pytest.raises(RefreshConfigError) as raised:
        run_cycle(engine, NoBigQuery(), registry, tables=[SQP, ASIN, BRAND], dry_run=True, copy=copy)
    assert raised.value.problems == [
        "table 'search_query_performance' does not refresh: its mode is disabled (an override by alice); enable it "
        "with `amc refresh config set search_query_performance --mode dry_run` (or shadow, live)",
        "table 'asin_performance' does not refresh: it is paused (enabled false, set by bob); enable it with "
        "`amc refresh config set asin_performance --enable`",
    ]
    assert copy.calls == []
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(refresh_runs)).scalar_one() == 0
    # A caller naming tables it did not choose (Dagster's schedules select every asset) leaves them out.
    result = run_cycle(engine, NoBigQuery(), registry, tables=[SQP, ASIN, BRAND], refuse_not_refreshing=False,
                       copy=copy)
    assert copy.calls == [(BRAND, "live")] and [o.table for o in result.outcomes] == [BRAND]


# ---- end to end: the stand-in over HTTP, the real client, the real copy ---------------------------

def _counts(engine, schema: str = "sqp") -> dict[str, int]:
    with engine.connect() as connection:
        return {name: connection.execute(text(f'SELECT count(*) FROM {schema}."{name}"')).scalar_one()
                for name in BUILT_IN}


def test_built_in_tables_end_to_end_and_a_second_run_changes_nothing(engine, bigquery_sandbox) -> None:
    registry = load_registry()
    client = bigquery_sandbox.client
    first = run_cycle(engine, client, registry, triggered_by="test")
    assert [(o.table, o.mode, o.status) for o in first.outcomes] == [(t, "live", "success") for t in BUILT_IN], \
        [o.error for o in first.outcomes]
    counts = _counts(engine)
    for outcome in first.outcomes:
        assert outcome.rows_read > 0 and outcome.rows_inserted == counts[outcome.table] > 0
        assert outcome.target == f"sqp.{outcome.table}"
    source = client.query("SELECT COUNT(*) AS n FROM brand_analytics.search_query_performance").result()
    assert counts[SQP] == next(iter(source)).n

    second = run_cycle(engine, client, registry, triggered_by="test")
    assert [o.status for o in second.outcomes] == ["success"] * 3
    assert [(o.rows_inserted, o.rows_updated, o.rows_deleted) for o in second.outcomes] == [(0, 0, 0)] * 3
    assert _counts(engine) == counts
    with engine.connect() as connection:
        audit = connection.execute(select(refresh_runs.c.cycle_id, func.count()).group_by(refresh_runs.c.cycle_id)).all()
    assert sorted(n for _, n in audit) == [3, 3] and {c for c, _ in audit} == {first.cycle_id, second.cycle_id}


def test_a_failing_table_skips_its_hard_dependents_and_not_its_soft_ones(engine, bigquery_sandbox, tmp_path) -> None:
    _table_file(tmp_path, "missing_source", source="brand_analytics.no_such_table", priority=90)
    rollup = ("SELECT account_id, start_date, SUM(clicks) AS clicks, MAX(updated_at) AS updated_at "
              "FROM brand_analytics.asin_performance GROUP BY account_id, start_date")
    _table_file(tmp_path, "needs_missing", query=rollup, hard=["missing_source"])
    _table_file(tmp_path, "likes_missing", query=rollup, soft=["missing_source"])
    registry = load_registry(tmp_path)
    receiver = Receiver()
    result = run_cycle(engine, bigquery_sandbox.client, registry, tables=["needs_missing", "likes_missing",
                                                                          "missing_source", SQP, BRAND],
                       notifier=receiver)
    statuses = {o.table: o.status for o in result.outcomes}
    assert statuses == {"missing_source": "failed", SQP: "success", BRAND: "success", "likes_missing": "warning",
                        "needs_missing": "skipped"}
    failed = result.failed[0]
    assert "no_such_table" in failed.error
    likes = next(o for o in result.outcomes if o.table == "likes_missing")
    assert likes.rows_inserted > 0 and "soft dependency missing_source failed" in likes.details["warnings"][0]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM sqp.likes_missing")).scalar_one() == likes.rows_inserted
        assert connection.execute(text("SELECT to_regclass('sqp.needs_missing')")).scalar() is None
        stored = connection.execute(select(refresh_runs.c.status, refresh_runs.c.details)
                                    .where(refresh_runs.c.id == likes.run_id)).one()
    assert stored.status == "warning" and stored.details["warnings"] == likes.details["warnings"]
    assert [(e.kind, e.table) for e in receiver.events if e.kind == "refresh.failed"] == [
        ("refresh.failed", "missing_source")]


def test_a_dry_run_writes_only_audit_rows(engine, bigquery_sandbox) -> None:
    registry = load_registry()
    result = run_cycle(engine, bigquery_sandbox.client, registry, dry_run=True)
    assert [(o.table, o.mode, o.status, o.target) for o in result.outcomes] == [
        (t, "dry_run", "success", None) for t in BUILT_IN], [o.error for o in result.outcomes]
    assert all(o.rows_read > 0 for o in result.outcomes)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(refresh_runs)).scalar_one() == 3
        assert connection.execute(select(func.count()).select_from(refresh_table_state)).scalar_one() == 0
        assert connection.execute(select(func.count()).select_from(refresh_checkpoints)).scalar_one() == 0
        for name in BUILT_IN:
            assert connection.execute(text(f"SELECT to_regclass('sqp.{name}')")).scalar() is None
            assert connection.execute(text(f"SELECT to_regclass('sqp_shadow.{name}')")).scalar() is None
