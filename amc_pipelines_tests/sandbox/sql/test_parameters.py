"""CUSTOM_PARAMETER / BUILT_IN_PARAMETER: declared, typed, bound as values (never spliced into SQL)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from amc_pipelines.sandbox.sql import InputParameter, QueryRejected, run_sql_text
from amc_pipelines.sandbox.sql.engine import compile_query

from .conftest import INSTANCE, SCHEMA, WINDOW_END, WINDOW_START, request

BY_CAMPAIGN = "SELECT campaign, SUM(impressions) AS impressions FROM sponsored_ads_traffic WHERE {condition} GROUP BY 1"


def run(engine, condition: str, parameters, values):
    return engine.run(
        request(BY_CAMPAIGN.format(condition=condition), input_parameters=parameters, parameter_values=values),
        INSTANCE,
    )


def test_from_api_reads_scalar_and_both_array_shapes():
    assert InputParameter.from_api({"name": "n", "dataType": "INTEGER", "defaultValue": 20}) == InputParameter(
        "n", "INTEGER", None, 20
    )
    nested = InputParameter.from_api(
        {"name": "ids", "dataType": {"type": "ARRAY", "elementDataType": "STRING"}, "defaultValue": ["1"]}
    )
    flat = InputParameter.from_api({"name": "ids", "dataType": "ARRAY", "elementDataType": "STRING", "defaultValue": ["1"]})
    assert nested == flat == InputParameter("ids", "ARRAY", "STRING", ["1"])


def test_declared_string_parameter(engine):
    result = run(engine, "campaign = CUSTOM_PARAMETER('c')", (InputParameter("c", "STRING"),), {"c": "A"})
    assert result.rows == [("A", 65)]


def test_default_value_applies(engine):
    result = run(engine, "campaign = CUSTOM_PARAMETER('c')", (InputParameter("c", "STRING", default_value="A"),), {})
    assert result.rows == [("A", 65)]


def test_array_parameter_with_array_contains(engine):
    parameter = InputParameter("campaigns", "ARRAY", "STRING")
    result = run(engine, "ARRAY_CONTAINS(CUSTOM_PARAMETER('campaigns'), campaign)", (parameter,), {"campaigns": ["A", "Z"]})
    assert result.rows == [("A", 65)]


def test_long_parameter(engine):
    result = run(engine, "impressions >= CUSTOM_PARAMETER('min')", (InputParameter("min", "LONG"),), {"min": 20})
    assert result.rows == [("A", 50)]


def test_undeclared_parameter_is_rejected():
    with pytest.raises(QueryRejected, match="'ghost' is used in the query but not declared"):
        compile_query(request(BY_CAMPAIGN.format(condition="campaign = CUSTOM_PARAMETER('ghost')")))


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        (InputParameter("p", "LONG"), "12"),
        (InputParameter("p", "LONG"), True),
        (InputParameter("p", "INTEGER"), 2**40),
        (InputParameter("p", "STRING"), 5),
        (InputParameter("p", "BOOLEAN"), "true"),
        (InputParameter("p", "DATE"), "yesterday-ish"),
        (InputParameter("p", "ARRAY", "LONG"), [1, "two"]),
        (InputParameter("p", "ARRAY", "STRING"), "not-a-list"),
    ],
)
def test_wrong_type_is_rejected_naming_the_parameter(parameter, value):
    with pytest.raises(QueryRejected, match="parameter 'p'"):
        compile_query(
            request(
                "SELECT COUNT(*) AS n, CUSTOM_PARAMETER('p') AS p FROM sponsored_ads_traffic",
                input_parameters=(parameter,),
                parameter_values={"p": value},
            )
        )


def test_missing_value_without_default_is_rejected():
    with pytest.raises(QueryRejected, match="No value was provided for parameter 'c'"):
        compile_query(
            request(BY_CAMPAIGN.format(condition="campaign = CUSTOM_PARAMETER('c')"), input_parameters=(InputParameter("c", "STRING"),))
        )


@pytest.mark.parametrize("attack", ["A'; DROP TABLE sponsored_ads_traffic; --", "' OR '1'='1", "A\" OR 1=1 --"])
def test_injection_attempts_stay_plain_values(engine, attack):
    parameters = (InputParameter("c", "STRING"),)
    sql, values = engine.translate(
        request(BY_CAMPAIGN.format(condition="campaign = CUSTOM_PARAMETER('c')"), input_parameters=parameters,
                parameter_values={"c": attack}),
        SCHEMA,
    )
    assert attack not in sql and "DROP" not in sql
    assert attack in values.values()
    assert run(engine, "campaign = CUSTOM_PARAMETER('c')", parameters, {"c": attack}).rows == []
    # the table is still there
    assert run(engine, "campaign = CUSTOM_PARAMETER('c')", parameters, {"c": "A"}).rows == [("A", 65)]


def test_built_in_time_window_parameters_are_the_utc_window(engine):
    result = engine.run(
        request(
            "SELECT BUILT_IN_PARAMETER('TIME_WINDOW_START') AS window_start, "
            "BUILT_IN_PARAMETER('TIME_WINDOW_END') AS window_end, SUM(impressions) AS impressions "
            "FROM sponsored_ads_traffic",
            time_zone="America/New_York",
        ),
        INSTANCE,
    )
    assert result.rows[0][:2] == (datetime(2024, 1, 1, 5), datetime(2024, 1, 8, 5))
    assert result.column_types[:2] == ["TIMESTAMP", "TIMESTAMP"]


def test_unknown_built_in_parameter_is_rejected():
    with pytest.raises(QueryRejected, match="Unknown built-in parameter 'NOW'"):
        compile_query(request("SELECT BUILT_IN_PARAMETER('NOW') AS n, COUNT(*) AS c FROM sponsored_ads_traffic"))


def test_cast_today_and_now_are_bound(engine):
    result = engine.run(
        request("SELECT CAST('today' AS DATE) AS d, CAST('now' AS TIMESTAMP) AS t, COUNT(*) AS n FROM sponsored_ads_traffic"),
        INSTANCE,
    )
    today, now, _ = result.rows[0]
    assert isinstance(today, date) and isinstance(now, datetime)
    assert (datetime.utcnow() - now).total_seconds() < 3600  # noqa: DTZ003 - both naive UTC


def test_date_and_timestamp_parameters(engine):
    parameters = (InputParameter("since", "TIMESTAMP"), InputParameter("day", "DATE"))
    result = engine.run(
        request(
            "SELECT campaign, SUM(impressions) AS impressions FROM sponsored_ads_traffic "
            "WHERE event_dt_utc >= CUSTOM_PARAMETER('since') AND CAST(event_dt_utc AS DATE) <> CUSTOM_PARAMETER('day') "
            "GROUP BY 1",
            input_parameters=parameters,
            parameter_values={"since": "2024-01-02T00:00:00", "day": "2024-01-07"},
        ),
        INSTANCE,
    )
    assert result.rows == [("A", 25)]


def test_run_sql_text_infers_parameter_types(engine):
    result = run_sql_text(
        engine,
        "SELECT campaign, SUM(impressions) AS impressions FROM sponsored_ads_traffic "
        "WHERE ARRAY_CONTAINS(CUSTOM_PARAMETER('campaigns'), campaign) AND impressions >= CUSTOM_PARAMETER('min') "
        "GROUP BY 1",
        WINDOW_START,
        WINDOW_END,
        "UTC",
        {"campaigns": ["A"], "min": 10},
        INSTANCE,
    )
    assert result.rows == [("A", 60)]
