"""Revision 0005: result rows loaded before report definitions keep every row, attributed to the
template's implicit definition with the parameters their execution was recorded with."""

from __future__ import annotations

from sqlalchemy import text

from amc_pipelines.db import downgrade, get_engine, upgrade

BEFORE = "0004_paused_backfills"
OLD_TABLE = """
CREATE SCHEMA amc_results;
CREATE TABLE amc_results.campaign_performance (
    ad_product text, campaign_id text, campaign text, impressions bigint, spend numeric,
    instance_id text not null, week_start date not null, window_end timestamp not null,
    amc_execution_id text not null, loaded_at timestamp with time zone not null default now());
CREATE INDEX ON amc_results.campaign_performance (instance_id, week_start);
"""
LEDGER_ROW = """
INSERT INTO amc.executions (execution_key, instance_id, report_name, sql_hash, window_start, window_end, timezone,
                            parameters_hash, parameters, workflow_id, amc_execution_id, status)
VALUES (:key, 'amcsandbox001', 'campaign_performance', 'sqlhash', :start, :end, 'UTC', :hash, '{}', 'wf', :execution,
        'LOADED')
"""
ROW = """
INSERT INTO amc_results.campaign_performance
    (ad_product, campaign_id, campaign, impressions, spend, instance_id, week_start, window_end, amc_execution_id)
VALUES ('dsp', :campaign, 'Campaign ' || :campaign, 10, 1.5, 'amcsandbox001', :week, :end, :execution)
"""


def _rows(engine) -> list[tuple]:
    with engine.connect() as connection:
        return connection.execute(text(
            "SELECT campaign_id, week_start::text, amc_execution_id, definition, parameters_hash "
            "FROM amc_results.campaign_performance ORDER BY week_start, campaign_id")).all()


def test_rows_from_before_definitions_upgrade_to_the_implicit_definition_and_back(make_database) -> None:
    url = make_database()
    upgrade(url, BEFORE)
    engine = get_engine(url)
    with engine.begin() as connection:
        connection.execute(text(OLD_TABLE))
        for week, execution, hash_ in (("2026-11-02", "exec-defaults", "h-defaults"), ("2026-11-09", "exec-adhoc", "h-adhoc")):
            end = f"{week[:-2]}{int(week[-2:]) + 7:02d} 00:00"
            connection.execute(text(LEDGER_ROW), {"key": execution, "start": f"{week} 00:00", "end": end,
                                                  "hash": hash_, "execution": execution})
            for campaign in ("1", "2"):
                connection.execute(text(ROW), {"campaign": campaign, "week": week, "end": end, "execution": execution})
        # A row whose execution the ledger never saw (loaded by hand).
        connection.execute(text(ROW), {"campaign": "3", "week": "2026-11-16", "end": "2026-11-23 00:00",
                                       "execution": "exec-unknown"})

    upgrade(url)
    assert _rows(engine) == [
        ("1", "2026-11-02", "exec-defaults", "campaign_performance", "h-defaults"),
        ("2", "2026-11-02", "exec-defaults", "campaign_performance", "h-defaults"),
        ("1", "2026-11-09", "exec-adhoc", "campaign_performance", "h-adhoc"),
        ("2", "2026-11-09", "exec-adhoc", "campaign_performance", "h-adhoc"),
        ("3", "2026-11-16", "exec-unknown", "campaign_performance", "unknown"),
    ]
    with engine.connect() as connection:
        nullable = dict(connection.execute(text(
            "SELECT column_name, is_nullable FROM information_schema.columns WHERE table_schema = 'amc_results' "
            "AND table_name = 'campaign_performance' AND column_name IN ('definition', 'parameters_hash')")).all())
    assert nullable == {"definition": "NO", "parameters_hash": "NO"}

    # Back: another definition's rows cannot live in a table keyed by (instance, week) alone.
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO amc_results.campaign_performance SELECT ad_product, campaign_id, campaign, "
                                "impressions, spend, instance_id, week_start, window_end, amc_execution_id, loaded_at, "
                                "'acme_campaigns', 'h-acme' FROM amc_results.campaign_performance"))
    downgrade(url, BEFORE)
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT campaign_id, week_start::text FROM amc_results.campaign_performance "
                                       "ORDER BY week_start, campaign_id")).all()
    assert kept == [("1", "2026-11-02"), ("2", "2026-11-02"), ("1", "2026-11-09"), ("2", "2026-11-09"),
                    ("3", "2026-11-16")]
