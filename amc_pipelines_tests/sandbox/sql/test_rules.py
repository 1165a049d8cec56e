"""AMC's restrictions reject the query, before any data is touched, with AMC-like reasons."""

from __future__ import annotations

import pytest

from amc_pipelines.sandbox.sql import QueryRejected
from amc_pipelines.sandbox.sql.engine import compile_query

from .conftest import request

TRAFFIC = "sponsored_ads_traffic"


def rejected(sql: str) -> str:
    with pytest.raises(QueryRejected) as caught:
        compile_query(request(sql))
    return caught.value.reason


def test_a_valid_query_passes():
    compile_query(request(f"SELECT campaign, SUM(impressions) AS impressions FROM {TRAFFIC} GROUP BY campaign"))


def test_select_star():
    assert "SELECT * is not supported" in rejected(f"SELECT * FROM {TRAFFIC}")
    assert "SELECT * is not supported" in rejected(
        f"WITH x AS (SELECT * FROM {TRAFFIC}) SELECT campaign, COUNT(*) AS n FROM x GROUP BY 1"
    )


def test_count_star_and_values_ctes_are_allowed():
    compile_query(request(f"WITH v(a) AS (VALUES (1), (2)) SELECT COUNT(*) AS n FROM {TRAFFIC} JOIN v ON v.a = clicks"))


def test_limit():
    assert "LIMIT is not supported" in rejected(f"SELECT campaign, SUM(clicks) AS c FROM {TRAFFIC} GROUP BY 1 LIMIT 10")


def test_right_join():
    assert "RIGHT JOIN is not supported" in rejected(
        f"SELECT a.campaign, COUNT(*) AS n FROM {TRAFFIC} a RIGHT JOIN dsp_clicks b ON a.user_id = b.user_id GROUP BY 1"
    )


def test_top_level_order_by():
    assert "ORDER BY is not supported" in rejected(f"SELECT campaign, SUM(clicks) AS c FROM {TRAFFIC} GROUP BY 1 ORDER BY 2")


def test_order_by_inside_a_window_is_allowed():
    compile_query(
        request(
            f"WITH c AS (SELECT campaign, SUM(clicks) AS clicks FROM {TRAFFIC} GROUP BY 1) "
            "SELECT campaign, clicks, RANK() OVER (ORDER BY clicks DESC) AS position FROM c"
        )
    )


def test_no_aggregation():
    assert "must contain at least one aggregation" in rejected(f"SELECT campaign, clicks FROM {TRAFFIC}")


def test_very_high_column_in_the_final_select():
    reason = rejected(f"SELECT user_id, SUM(clicks) AS c FROM {TRAFFIC} GROUP BY 1")
    assert "user_id" in reason and "VERY_HIGH" in reason and "final SELECT" in reason


def test_very_high_column_through_a_cte_alias():
    reason = rejected(
        f"WITH x AS (SELECT user_id AS shopper, clicks FROM {TRAFFIC}) SELECT shopper, SUM(clicks) AS c FROM x GROUP BY 1"
    )
    assert "user_id" in reason


@pytest.mark.parametrize("column", ["device_id", "request_tag"])
def test_other_very_high_columns(column):
    assert column in rejected(f"SELECT {column}, COUNT(*) AS n FROM dsp_impressions GROUP BY 1")


def test_conversion_id_and_traffic_event_id():
    assert "conversion_id" in rejected("SELECT conversion_id, COUNT(*) AS n FROM conversions GROUP BY 1")
    assert "traffic_event_id" in rejected(
        "SELECT traffic_event_id, COUNT(*) AS n FROM amazon_attributed_events_by_traffic_time GROUP BY 1"
    )


def test_very_high_in_the_final_group_by():
    assert "final GROUP BY" in rejected(f"SELECT SUM(clicks) AS c FROM {TRAFFIC} GROUP BY user_id")


def test_very_high_inside_aggregates_and_joins_is_allowed():
    compile_query(
        request(
            f"WITH per_user AS (SELECT user_id, COUNT(*) AS events FROM {TRAFFIC} GROUP BY user_id) "
            "SELECT p.events, COUNT(DISTINCT p.user_id) AS users FROM per_user p "
            "JOIN dsp_clicks c ON c.user_id = p.user_id WHERE p.user_id IS NOT NULL GROUP BY 1"
        )
    )


def test_getdate():
    assert "GETDATE() is not supported" in rejected(f"SELECT GETDATE() AS d, COUNT(*) AS n FROM {TRAFFIC}")


def test_concat_operator():
    assert "|| operator is not supported" in rejected(f"SELECT campaign || 'x' AS c, COUNT(*) AS n FROM {TRAFFIC} GROUP BY 1")


@pytest.mark.parametrize(
    "condition",
    ["postal_code = '10001'", "postal_code IN ('10001', '10011')", "city_name LIKE 'New%'", "user_id = 'abc'",
     "CUSTOM_PARAMETER('zip') = postal_code"],
)
def test_literal_filters_on_high_columns(condition):
    from amc_pipelines.sandbox.sql import InputParameter

    with pytest.raises(QueryRejected) as caught:
        compile_query(
            request(
                f"SELECT campaign, SUM(impressions) AS i FROM dsp_impressions WHERE {condition} GROUP BY 1",
                input_parameters=(InputParameter("zip", "STRING", default_value="10001"),),
            )
        )
    assert "Filters using literal values cannot be applied" in caught.value.reason


def test_column_comparisons_and_null_checks_on_high_columns_are_allowed():
    compile_query(
        request(
            "SELECT i.campaign, SUM(i.impressions) AS n FROM dsp_impressions i JOIN dsp_clicks c "
            "ON c.postal_code = i.postal_code WHERE i.postal_code IS NOT NULL GROUP BY 1"
        )
    )


def test_syntax_error_has_a_position():
    reason = rejected(f"SELECT campaign, SUM(clicks) FROM {TRAFFIC} WHERE GROUP BY 1")
    assert reason.startswith("Syntax error at line 1, column")


def test_unknown_column():
    assert "no_such_column" in rejected(f"SELECT no_such_column, SUM(clicks) AS c FROM {TRAFFIC} GROUP BY 1")


def test_unknown_table_is_named():
    assert "Table or view not found: not_a_table" in rejected("SELECT COUNT(*) AS n FROM not_a_table")


def test_only_one_select_statement():
    assert "single SELECT" in rejected(f"SELECT COUNT(*) AS n FROM {TRAFFIC}; DROP TABLE {TRAFFIC}")
    assert "single SELECT" in rejected(f"DROP TABLE {TRAFFIC}")


def test_bad_privacy_behavior_and_time_window():
    with pytest.raises(QueryRejected, match="privacyFilteringBehavior"):
        compile_query(request(f"SELECT COUNT(*) AS n FROM {TRAFFIC}", privacy_filtering_behavior="KEEP"))
    with pytest.raises(QueryRejected, match="timeWindowTimeZone"):
        compile_query(request(f"SELECT COUNT(*) AS n FROM {TRAFFIC}", time_zone="Mars/Olympus"))


def test_value_picking_aggregate_of_a_very_high_column_in_the_final_select():
    assert "user_id" in rejected(f"SELECT campaign, MAX(user_id) AS last_user FROM {TRAFFIC} GROUP BY 1")
