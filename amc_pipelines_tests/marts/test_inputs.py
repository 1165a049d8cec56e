"""What runs before dbt: input checks (metric roles, currencies), the profile's environment, definitions sync."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from amc_pipelines.catalog import load_catalog
from amc_pipelines.catalog.definitions import load_definitions
from amc_pipelines.marts import (
    MartsError,
    check_currencies,
    check_mart_inputs,
    dbt_environment,
    marketplace_currencies,
    partition_vars,
    prepare_database,
    sync_report_definitions,
)


def _with_columns(spec, change):
    columns = [change(c) for c in spec.output_columns]
    return spec.model_copy(update={"output_columns": tuple(c for c in columns if c is not None)})


def test_the_builtin_catalog_has_every_role_the_marts_read():
    check_mart_inputs(load_catalog(None, check_sql=False))


def test_a_report_without_a_metric_role_the_marts_need_fails_naming_report_and_column():
    catalog = load_catalog(None, check_sql=False)
    spec = catalog["campaign_performance"]
    no_role = {**catalog, spec.name: _with_columns(spec, lambda c: c.model_copy(update={"role": None}) if c.name == "spend" else c)}
    with pytest.raises(MartsError, match=r"report 'campaign_performance', column 'spend': the marts need a metric "
                                         r"column with role 'spend' \(column 'spend' has no role\)"):
        check_mart_inputs(no_role)
    renamed = {**catalog, spec.name: _with_columns(
        spec, lambda c: c.model_copy(update={"name": "cost"}) if c.name == "spend" else c)}
    with pytest.raises(MartsError, match=r"report 'campaign_performance', column 'cost': it holds role 'spend', but "
                                         r"dbt_project/models/staging/stg_campaign_performance.sql reads"):
        check_mart_inputs(renamed)
    no_dimension = {**catalog, spec.name: _with_columns(spec, lambda c: None if c.name == "campaign" else c)}
    with pytest.raises(MartsError, match=r"report 'campaign_performance', column 'campaign': the marts group by"):
        check_mart_inputs(no_dimension)
    with pytest.raises(MartsError, match=r"report 'campaign_performance': the marts read it"):
        check_mart_inputs({k: v for k, v in catalog.items() if k != "campaign_performance"})


def test_a_tidy_report_without_a_metric_or_withholding_values_as_null_fails_naming_report_and_column():
    from amc_pipelines.catalog import PrivacySpec

    catalog = load_catalog(None, check_sql=False)
    spec = catalog["sp_dsp_overlap"]
    no_purchasers = {**catalog, spec.name: _with_columns(spec, lambda c: None if c.name == "purchasers" else c)}
    with pytest.raises(MartsError, match=r"report 'sp_dsp_overlap', column 'purchasers': "
                                         r"dbt_project/models/staging/stg_sp_dsp_overlap.sql reads this metric and "
                                         r"the report has no such output column"):
        check_mart_inputs(no_purchasers)
    # Staging reads a NULL measure as zero: a report that keeps filtered rows with NULL values cannot be read so.
    withheld = {**catalog, spec.name: spec.model_copy(update={"privacy": PrivacySpec(behavior="REMOVE_VALUES")})}
    with pytest.raises(MartsError, match=r"report 'sp_dsp_overlap', privacy.behavior: privacy REMOVE_VALUES keeps "
                                         r"rows under AMC's aggregation threshold with NULL values"):
        check_mart_inputs(withheld)
    flagged = {**catalog, spec.name: spec.model_copy(update={"privacy": PrivacySpec(discriminator_column="filtered")})}
    with pytest.raises(MartsError, match=r"report 'sp_dsp_overlap', column 'filtered': privacy REMOVE_ROWS with a "
                                         r"discriminator column keeps rows"):
        check_mart_inputs(flagged)


def test_the_profile_environment_comes_from_the_project_url():
    env = dbt_environment("postgresql+psycopg://amc:s%40cret@db.example:6543/amc_prod?sslmode=require")
    assert {k: env[k] for k in ("DBT_AMC_HOST", "DBT_AMC_PORT", "DBT_AMC_USER", "DBT_AMC_PASSWORD", "DBT_AMC_DBNAME",
                                "DBT_AMC_SSLMODE")} == {
        "DBT_AMC_HOST": "db.example", "DBT_AMC_PORT": "6543", "DBT_AMC_USER": "amc", "DBT_AMC_PASSWORD": "s@cret",
        "DBT_AMC_DBNAME": "amc_prod", "DBT_AMC_SSLMODE": "require"}
    # The embedded server: a socket directory in the host query parameter, no password.
    embedded = dbt_environment("postgresql://postgres:@/amc?host=/tmp/amc%20home/pgdata")
    assert (embedded["DBT_AMC_HOST"], embedded["DBT_AMC_PASSWORD"], embedded["DBT_AMC_DBNAME"]) == (
        "/tmp/amc home/pgdata", "", "amc")
    assert embedded["DBT_PROFILES_DIR"].endswith("dbt_project")


def test_partition_vars_are_sorted_and_unique():
    from datetime import date

    assert partition_vars([date(2026, 11, 9), date(2026, 11, 2), date(2026, 11, 9)]) == (
        '{"weeks": ["2026-11-02", "2026-11-09"]}')


def test_every_sandbox_marketplace_has_a_currency():
    from amc_pipelines.sandbox.datagen.entities import MARKETS

    currencies = marketplace_currencies()
    assert {m["marketplace_id"]: m["currency"] for m in MARKETS} == {m["marketplace_id"]: currencies[m["marketplace_id"]]
                                                                     for m in MARKETS}


def _loaded_execution(conn, instance_id: str) -> None:
    conn.execute(text("""
        INSERT INTO amc.executions (execution_key, instance_id, report_name, sql_hash, window_start, window_end,
                                    timezone, parameters_hash, parameters, workflow_id, amc_execution_id, status)
        VALUES (md5(random()::text), :i, 'campaign_performance', 'sql', '2026-11-02', '2026-11-09', 'UTC', 'p', '{}',
                'w', md5(random()::text), 'LOADED')"""), {"i": instance_id})


def test_an_instance_whose_marketplace_has_no_currency_fails_naming_instance_and_marketplace(make_database):
    from amc_pipelines.db import get_engine, upgrade

    url = make_database()
    upgrade(url)
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO amc.instances (instance_id, name, account_id, marketplace_id, region, timezone) "
                          "VALUES ('amcknown00001', 'Known', 'ENTITY1', 'ATVPDKIKX0DER', 'NA', 'UTC'), "
                          "('amcmars000001', 'Mars', 'ENTITY2', 'AMARS0000000X', 'NA', 'UTC')"))
        _loaded_execution(conn, "amcknown00001")
    check_currencies(engine)  # the unknown marketplace has no loaded week yet
    with engine.begin() as conn:
        _loaded_execution(conn, "amcmars000001")
    with pytest.raises(MartsError, match=r"instance amcmars000001: marketplace AMARS0000000X is not in "
                                         r"dbt_project/seeds/marketplaces.csv"):
        check_currencies(engine)

    catalog = load_catalog(None, check_sql=False)
    with pytest.raises(MartsError, match="AMARS0000000X"):
        prepare_database(engine, catalog, load_definitions(catalog))
    # prepare_database created the result table the marts read before it failed on the currency.
    with engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('amc_results.campaign_performance') IS NOT NULL")).scalar()


def test_rows_in_another_currency_than_the_instances_fail_naming_report_and_column(make_database):
    from amc_pipelines.db import get_engine, upgrade
    from amc_pipelines.results import ensure_result_table

    url = make_database()
    upgrade(url)
    engine = get_engine(url)
    ensure_result_table(engine, load_catalog(None, check_sql=False)["campaign_performance"])
    insert = text("""INSERT INTO amc_results.campaign_performance (definition, parameters_hash, instance_id, week_start,
                         window_end, amc_execution_id, ad_product, campaign_id, campaign, event_date, currency, impressions)
                     VALUES ('campaign_performance', 'p', 'amcknown00001', '2026-11-02', '2026-11-09', 'x',
                             'dsp', '1', 'One', :day, :currency, 10)""")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO amc.instances (instance_id, name, account_id, marketplace_id, region, timezone) "
                          "VALUES ('amcknown00001', 'Known', 'ENTITY1', 'ATVPDKIKX0DER', 'NA', 'UTC')"))
        _loaded_execution(conn, "amcknown00001")
        conn.execute(insert, {"day": "2026-11-02", "currency": "USD"})
        conn.execute(insert, {"day": "2026-11-03", "currency": None})  # loaded before the column existed
    check_currencies(engine)  # US marketplace, USD rows
    with engine.begin() as conn:
        conn.execute(insert, {"day": "2026-11-04", "currency": "EUR"})
    with pytest.raises(MartsError, match=r"report 'campaign_performance', column 'currency': instance amcknown00001 "
                                         r"has 1 rows in EUR \(weeks 2026-11-02 to 2026-11-02\), but its marketplace "
                                         r"ATVPDKIKX0DER trades in USD"):
        check_currencies(engine)


def test_report_definitions_are_replaced_by_the_catalogs(database_url):
    from amc_pipelines.db import get_engine

    engine = get_engine(database_url)
    definitions = load_definitions(load_catalog(None, check_sql=False))
    assert sync_report_definitions(engine, definitions) == len(definitions)
    smaller = {name: d for name, d in definitions.items() if name == "campaign_performance"}
    sync_report_definitions(engine, smaller)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, template, parameters_hash, implicit FROM amc.report_definitions")).all()
    assert rows == [("campaign_performance", "campaign_performance", definitions["campaign_performance"].parameters_hash, True)]
