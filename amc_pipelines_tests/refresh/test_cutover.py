"""Cutover and rollback on real Postgres with a real webhook receiver: refused until the last N
validations passed, then the live table takes the shadow's rows and state in one transaction, the
mode change is audited and ``refresh.cut_over`` is posted signed; rollback is audited and moves no row."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from amc_pipelines.notifications import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookNotifier, verify_signature
from amc_pipelines.refresh.cutover import CutoverRefused, cutover, rollback
from amc_pipelines.refresh.events import RefreshNotifier
from amc_pipelines.refresh.models import TableConfig
from amc_pipelines.refresh.overrides import config_history, effective_table, set_table
from amc_pipelines.refresh.registry import RefreshConfigError
from amc_pipelines.refresh.validation import validate_shadow
from amc_pipelines_tests.refresh.shadow_tables import (
    create_tables,
    execute,
    new_name,
    rows,
    table_config,
)
from amc_pipelines_tests.test_notifications import FAST_RETRY, SECRET, webhook_receiver

SHADOW_WATERMARK = datetime(2026, 10, 21, 6, 0, tzinfo=UTC)
LIVE_WATERMARK = datetime(2026, 10, 14, 6, 0, tzinfo=UTC)


def _validate(engine: Engine, registry: dict[str, TableConfig], name: str, times: int = 1, run_id: int | None = None):
    results = [validate_shadow(engine, effective_table(engine, registry, name), run_id=run_id) for _ in range(times)]
    return results[-1]


def _shadowed(engine: Engine, **validation) -> tuple[str, dict[str, TableConfig]]:
    """A live table with a shadow that an operator switched to shadow mode (audited)."""
    name = new_name()
    registry = {name: table_config(name, mode="live", **validation)}
    create_tables(engine, name)
    set_table(engine, registry, name, by="alice", mode="shadow")
    return name, registry


def _shadow_run(engine: Engine, name: str) -> int:
    """A successful shadow run's audit row (the copy engine writes these)."""
    with engine.begin() as connection:
        return connection.execute(text(
            "INSERT INTO refresh.runs (cycle_id, table_name, mode, target, status) "
            "VALUES ('c-test', :name, 'shadow', :target, 'success') RETURNING id"),
            {"name": name, "target": f"sqp_shadow.{name}"}).scalar_one()


def _payload(request) -> dict:
    assert verify_signature(SECRET, request.body, timestamp=request.headers[TIMESTAMP_HEADER],
                            signature=request.headers[SIGNATURE_HEADER])
    return json.loads(request.body)


def test_cutover_is_refused_until_the_last_n_validations_passed_then_takes_the_shadow(db_engine: Engine) -> None:
    # updated_at is left out of the checksums: the shadow holds newer correction times than live.
    name, registry = _shadowed(db_engine, checksum_columns=["clicks", "sales", "share"])
    execute(db_engine, f"UPDATE sqp_shadow.{name} SET updated_at = updated_at + interval '2 days' "
                       "WHERE start_date = '2026-10-18'")

    with pytest.raises(CutoverRefused, match=r"needs its last 3 validations to pass and it has none since it "
                                             r"entered shadow mode at .*amc refresh run " + name):
        cutover(db_engine, registry, name, by="bob")

    execute(db_engine, f"UPDATE sqp_shadow.{name} SET clicks = clicks + 1 WHERE asin = 'B000000001'")
    failed = _validate(db_engine, registry, name)
    assert not failed.passed
    execute(db_engine, f"UPDATE sqp_shadow.{name} SET clicks = clicks - 1 WHERE asin = 'B000000001'")
    assert _validate(db_engine, registry, name, times=2).passed
    with pytest.raises(CutoverRefused, match=rf"2 of its last 3 validations passed.*cutover needs the last 3 to pass; "
                                             rf"newest failure \(validation {failed.validation_id}\): failed 2 of 6"):
        cutover(db_engine, registry, name, by="bob")

    passes = [_validate(db_engine, registry, name).validation_id]
    passes.insert(0, passes[0] - 1)
    passes.insert(0, passes[0] - 1)
    # State to hand over: the shadow's watermark, and a live checkpoint a killed live copy left behind.
    with db_engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO refresh.table_state (table_name, target_schema, watermark, source_schema, last_success_at) "
            "VALUES (:n, 'sqp_shadow', :shadow, '[{\"name\": \"clicks\"}]', :shadow), (:n, 'sqp', :live, '[]', :live)"),
            {"n": name, "shadow": SHADOW_WATERMARK, "live": LIVE_WATERMARK})
        connection.execute(text(f"CREATE TABLE refresh_staging.{name}__sqp (LIKE sqp.{name})"))
        connection.execute(text(
            "INSERT INTO refresh.checkpoints (table_name, target_schema, run_id, job_id, staging_table, state) "
            "VALUES (:n, 'sqp', 1, 'job-old', :staging, 'reading')"), {"n": name, "staging": f"{name}__sqp"})
    shadow_before = rows(db_engine, f"sqp_shadow.{name}")

    with webhook_receiver() as receiver:
        result = cutover(db_engine, registry, name, by="bob",
                         notifier=RefreshNotifier(WebhookNotifier(receiver.url, SECRET, retry=FAST_RETRY)))

    assert (result.action, result.mode_before, result.mode_after, result.validation_ids) == (
        "cut_over", "shadow", "live", sorted(passes, reverse=True))
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (0, 8, 0)
    assert rows(db_engine, f"sqp.{name}") == rows(db_engine, f"sqp_shadow.{name}") == shadow_before
    assert effective_table(db_engine, registry, name).mode == "live"
    assert [(c.changed_by, c.field, c.old_value, c.new_value) for c in config_history(db_engine, name)] == [
        ("alice", "mode", "live", "shadow"), ("bob", "mode", "shadow", "live")]
    with db_engine.connect() as connection:
        states = dict(connection.execute(text(
            "SELECT target_schema, watermark FROM refresh.table_state WHERE table_name = :n"), {"n": name}).all())
        live_schema = connection.execute(text(
            "SELECT source_schema FROM refresh.table_state WHERE table_name = :n AND target_schema = 'sqp'"),
            {"n": name}).scalar_one()
        checkpoints = connection.execute(text("SELECT count(*) FROM refresh.checkpoints WHERE table_name = :n"),
                                         {"n": name}).scalar_one()
        staging = connection.execute(text("SELECT to_regclass(:t)"), {"t": f"refresh_staging.{name}__sqp"}).scalar()
    assert states == {"sqp": SHADOW_WATERMARK, "sqp_shadow": SHADOW_WATERMARK}  # the next live run continues there
    assert live_schema == [{"name": "clicks"}]
    assert (checkpoints, staging) == (0, None)

    [request] = receiver.requests
    payload = _payload(request)
    assert (payload["event"], payload["table"], payload["status"], payload["cycle_id"], payload["run_id"]) == (
        "refresh.cut_over", name, "live", None, None)
    details = payload["details"]
    assert (details["by"], details["mode_before"], details["rows_updated"], details["target"]) == (
        "bob", "shadow", 8, f"sqp.{name}")
    assert [v["id"] for v in details["validations"]] == result.validation_ids
    assert result.summary()["webhook"] == "delivered"

    with pytest.raises(CutoverRefused, match="is already live"):
        cutover(db_engine, registry, name, by="bob")


def test_the_live_table_takes_inserted_and_deleted_rows_too(db_engine: Engine) -> None:
    # Only the column check is configured, so these validations pass whatever the rows hold.
    name, registry = _shadowed(db_engine, row_counts_by_week=False, key_differences=False, checksum_columns=[],
                               metric_sums=[], passes_for_cutover=1)
    execute(db_engine, f"DELETE FROM sqp_shadow.{name} WHERE asin = 'B000000004'")
    execute(db_engine, f"INSERT INTO sqp_shadow.{name} VALUES ('acct_c', '2026-10-18', 'B000000009', 5, 1.5, 0.1, now())")
    execute(db_engine, f"UPDATE sqp_shadow.{name} SET sales = NULL WHERE asin = 'B000000001'")
    assert _validate(db_engine, registry, name).passed

    result = cutover(db_engine, registry, name, by="bob")

    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (1, 6, 6)
    assert rows(db_engine, f"sqp.{name}") == rows(db_engine, f"sqp_shadow.{name}")


def test_a_shadow_written_after_its_newest_validation_must_be_validated_again(db_engine: Engine) -> None:
    name, registry = _shadowed(db_engine, passes_for_cutover=2)
    first = _shadow_run(db_engine, name)
    _validate(db_engine, registry, name, times=2, run_id=first)
    later = _shadow_run(db_engine, name)  # e.g. a run whose validation crashed

    with pytest.raises(CutoverRefused, match=rf"shadow run {later} wrote the shadow after its newest validation "
                                             rf"\(of run {first}\).*amc refresh validate {name}"):
        cutover(db_engine, registry, name, by="bob")

    _validate(db_engine, registry, name, run_id=later)
    assert cutover(db_engine, registry, name, by="bob").mode_after == "live"


def test_rollback_is_audited_moves_no_row_and_a_new_cutover_needs_fresh_passes(db_engine: Engine) -> None:
    name, registry = _shadowed(db_engine, passes_for_cutover=2)
    _validate(db_engine, registry, name, times=2)
    cutover(db_engine, registry, name, by="bob")
    execute(db_engine, f"UPDATE sqp.{name} SET clicks = 0 WHERE asin = 'B000000002'")  # a live run's later change
    before = rows(db_engine, f"sqp.{name}"), rows(db_engine, f"sqp_shadow.{name}")

    with webhook_receiver() as receiver:
        result = rollback(db_engine, registry, name, by="carol",
                          notifier=RefreshNotifier(WebhookNotifier(receiver.url, SECRET, retry=FAST_RETRY)))

    assert (result.action, result.mode_before, result.mode_after) == ("rolled_back", "live", "shadow")
    assert (rows(db_engine, f"sqp.{name}"), rows(db_engine, f"sqp_shadow.{name}")) == before
    assert effective_table(db_engine, registry, name).mode == "shadow"
    assert [(c.changed_by, c.old_value, c.new_value) for c in config_history(db_engine, name)][-1] == (
        "carol", "live", "shadow")
    [request] = receiver.requests
    payload = _payload(request)
    assert (payload["event"], payload["status"], payload["details"]["by"]) == ("refresh.rolled_back", "shadow", "carol")

    # The passes before the rollback no longer count.
    with pytest.raises(CutoverRefused, match="it has none since it entered shadow mode"):
        cutover(db_engine, registry, name, by="bob")
    with pytest.raises(CutoverRefused, match="not live: there is nothing to roll back"):
        rollback(db_engine, registry, name, by="carol")


def test_a_table_never_shadowed_is_refused_with_the_ways_on(db_engine: Engine) -> None:
    name = new_name()
    registry = {name: table_config(name, mode="dry_run")}
    create_tables(db_engine, name, shadow=False)
    with pytest.raises(CutoverRefused) as refused:
        cutover(db_engine, registry, name, by="bob")
    message = str(refused.value)
    assert f"{name} is in mode dry_run, not shadow" in message
    assert f"amc refresh config set {name} --mode shadow" in message and f"amc refresh config set {name} --mode live" in message
    with pytest.raises(CutoverRefused, match="mode dry_run"):
        rollback(db_engine, registry, name, by="bob")
    with pytest.raises(RefreshConfigError, match="unknown table 'nope'"):
        cutover(db_engine, registry, "nope", by="bob")
    with pytest.raises(RefreshConfigError, match="give --by NAME"):
        cutover(db_engine, registry, name, by=" ")
    assert config_history(db_engine, name) == []  # a refusal changes nothing

    # In shadow mode but its shadow never written: no validation can pass.
    set_table(db_engine, registry, name, by="alice", mode="shadow")
    assert not _validate(db_engine, registry, name).passed
    with pytest.raises(CutoverRefused, match="0 of its last 1 validations passed"):
        cutover(db_engine, registry, name, by="bob")
