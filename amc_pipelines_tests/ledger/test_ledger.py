"""The ledger's tables, keys, state machine and lock, on a real Postgres."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from amc_pipelines import ledger
from amc_pipelines.db.models import executions
from amc_pipelines.ledger import ExecutionKey, LedgerError


def _key(**changes) -> ExecutionKey:
    base = ExecutionKey(instance_id="amcledgertest1", report_name="campaign_performance", sql_hash="a" * 64,
                        window_start=datetime(2025, 1, 6), window_end=datetime(2025, 1, 13),
                        timezone="America/New_York", parameters_hash=uuid.uuid4().hex)
    return replace(base, **changes)


def test_the_key_digest_is_stable_and_changes_with_every_field() -> None:
    key = _key(parameters_hash="p" * 64)
    assert key.digest == _key(parameters_hash="p" * 64).digest
    variants = [
        _key(parameters_hash="p" * 64, instance_id="amcledgertest2"),
        _key(parameters_hash="p" * 64, report_name="new_to_brand"),
        _key(parameters_hash="p" * 64, sql_hash="b" * 64),
        _key(parameters_hash="p" * 64, window_start=datetime(2025, 1, 5)),
        _key(parameters_hash="p" * 64, window_end=datetime(2025, 1, 12)),
        _key(parameters_hash="p" * 64, timezone="Europe/Berlin"),
        _key(parameters_hash="q" * 64),
    ]
    assert len({key.digest, *(v.digest for v in variants)}) == 8


def test_a_full_life_is_recorded_with_its_history(db_engine) -> None:
    key = _key()
    record = ledger.record_intent(db_engine, key, parameters={"asins": []}, workflow_id="wf-1", provisional=True)
    assert (record.status, record.attempt, record.amc_execution_id, record.provisional) == ("INTENDED", 1, None, True)
    amc_id = f"exec-{uuid.uuid4()}"
    record = ledger.transition(db_engine, record.id, "PENDING", amc_execution_id=amc_id, detail="submitted")
    assert record.submitted_at is not None and record.amc_execution_id == amc_id
    record = ledger.transition(db_engine, record.id, "PUBLISHING")  # AMC's extra status counts as RUNNING
    assert record.status == "RUNNING"
    record = ledger.transition(db_engine, record.id, "SUCCEEDED")
    record = ledger.transition(db_engine, record.id, "LOADED", rows=12, checksum="c0ffee", file_count=2, api_calls=9)
    assert (record.rows, record.checksum, record.file_count, record.api_calls) == (12, "c0ffee", 2, 9)
    assert record.finished_at <= record.loaded_at
    assert [e.status for e in ledger.execution_history(db_engine, record.id)] == [
        "INTENDED", "PENDING", "RUNNING", "SUCCEEDED", "LOADED"]
    assert ledger.live_execution(db_engine, key).id == record.id
    assert ledger.find_by_amc_id(db_engine, amc_id).id == record.id


@pytest.mark.parametrize(("path", "refused"), [
    (["PENDING", "RUNNING"], "PENDING"),
    (["PENDING", "SUCCEEDED", "LOADED"], "RUNNING"),
    (["FAILED"], "RUNNING"),
    (["REJECTED"], "SUCCEEDED"),
    (["SUPERSEDED"], "LOADED"),
    ([], "LOADED"),
    ([], "BOGUS"),
])
def test_impossible_moves_are_refused(db_engine, path, refused) -> None:
    record = ledger.record_intent(db_engine, _key(), parameters={}, workflow_id="wf")
    for status in path:
        record = ledger.transition(db_engine, record.id, status)
    with pytest.raises(LedgerError):
        ledger.transition(db_engine, record.id, refused)
    assert ledger.get_execution(db_engine, record.id).status == (path[-1] if path else "INTENDED")


def test_one_live_row_per_key_and_retired_rows_make_room(db_engine) -> None:
    key = _key()
    first = ledger.record_intent(db_engine, key, parameters={}, workflow_id="wf")
    with pytest.raises(LedgerError, match="already has a live ledger row"):
        ledger.record_intent(db_engine, key, parameters={}, workflow_id="wf")
    # The partial unique index itself, not only record_intent, refuses a second live row.
    with pytest.raises(IntegrityError, match="uq_executions_live_execution_key"), db_engine.begin() as connection:
        connection.execute(insert(executions).values(
            execution_key=key.digest, instance_id=key.instance_id, report_name=key.report_name, sql_hash=key.sql_hash,
            window_start=key.window_start, window_end=key.window_end, timezone=key.timezone,
            parameters_hash=key.parameters_hash, parameters={}, workflow_id="wf", status="PENDING"))
    ledger.transition(db_engine, first.id, "FAILED", error="internal error")
    second = ledger.record_intent(db_engine, key, parameters={}, workflow_id="wf", forced=True)
    assert (second.attempt, second.forced) == (2, True)
    assert ledger.get_execution(db_engine, first.id).error == "internal error"


def test_an_amc_execution_belongs_to_one_row(db_engine) -> None:
    amc_id = f"exec-{uuid.uuid4()}"
    first = ledger.record_intent(db_engine, _key(), parameters={}, workflow_id="wf")
    ledger.transition(db_engine, first.id, "PENDING", amc_execution_id=amc_id)
    other = ledger.record_intent(db_engine, _key(), parameters={}, workflow_id="wf")
    with pytest.raises(LedgerError, match="already recorded"):
        ledger.transition(db_engine, other.id, "PENDING", amc_execution_id=amc_id)
    assert ledger.recorded_amc_ids(db_engine, [amc_id, "exec-unknown"]) == {amc_id}


def test_the_key_lock_admits_one_holder_at_a_time(db_engine) -> None:
    key = _key()
    events: list[str] = []

    def second_holder() -> None:
        with ledger.key_lock(db_engine, key, on_wait=lambda: events.append("waited"), poll_seconds=0.02):
            events.append("second in")

    with ledger.key_lock(db_engine, key):
        thread = threading.Thread(target=second_holder)
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive() and events == ["waited"]
        events.append("first out")
    thread.join(timeout=10)
    assert events == ["waited", "first out", "second in"]
    with ledger.key_lock(db_engine, _key()):  # other keys never wait
        pass


def test_listing_filters_and_orders_newest_first(db_engine) -> None:
    instance = f"amc{uuid.uuid4().hex[:10]}"
    made = [ledger.record_intent(db_engine, _key(instance_id=instance), parameters={}, workflow_id="wf") for _ in range(3)]
    ledger.transition(db_engine, made[1].id, "CANCELLED")
    assert [r.id for r in ledger.list_executions(db_engine, instance_id=instance)] == [m.id for m in reversed(made)]
    assert [r.id for r in ledger.list_executions(db_engine, instance_id=instance, status="cancelled")] == [made[1].id]
    assert len(ledger.list_executions(db_engine, instance_id=instance, limit=2)) == 2
    assert ledger.list_executions(db_engine, instance_id=instance, report="nope") == []
