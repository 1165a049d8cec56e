"""Aggregation thresholds: rows under their minimum distinct users are dropped, blanked or merged."""

from __future__ import annotations

from .conftest import INSTANCE, request

BY_CAMPAIGN = "SELECT campaign, SUM(impressions) AS impressions FROM sponsored_ads_traffic GROUP BY campaign"


def run(engine, sql: str, **overrides):
    return engine.run(request(sql, **overrides), INSTANCE)


def test_remove_rows_drops_rows_under_the_low_threshold(engine):
    result = run(engine, BY_CAMPAIGN)  # campaign B has one user, LOW needs two
    assert result.rows == [("A", 65)]
    assert result.rows_removed == 1


def test_remove_values_keeps_dimensions_and_nulls_metrics(engine):
    result = run(engine, BY_CAMPAIGN, privacy_filtering_behavior="REMOVE_VALUES")
    assert sorted(result.rows, key=str) == [("A", 65), ("B", None)]
    assert result.rows_removed == 1


def test_discriminator_column_marks_filtered_rows_and_nulls_their_dimensions(engine):
    result = run(engine, BY_CAMPAIGN, filtered_metrics_discriminator_column="filtered")
    assert result.columns == ["campaign", "impressions", "filtered"]
    assert result.column_types[-1] == "BOOLEAN"
    assert sorted(result.rows, key=str) == [("A", 65, False), (None, 7, True)]


def test_discriminator_re_aggregates_rows_that_match_after_filtering(engine):
    result = run(
        engine,
        "SELECT campaign, ad_product_type, SUM(impressions) AS impressions "
        "FROM TABLE(EXTEND_TIME_WINDOW('sponsored_ads_traffic', 'P14D', 'P0D')) GROUP BY 1, 2",
        filtered_metrics_discriminator_column="filtered",
    )
    # B (u4) and C (u7) have one user each: both lose campaign and product type and merge
    assert sorted(result.rows, key=str) == [("A", "sponsored_products", 1065, False), (None, None, 10, True)]
    assert result.rows_removed == 2


def test_discriminator_with_remove_values_flags_blanked_rows(engine):
    result = run(engine, BY_CAMPAIGN, privacy_filtering_behavior="REMOVE_VALUES", filtered_metrics_discriminator_column="f")
    assert sorted(result.rows, key=str) == [("A", 65, False), ("B", None, True)]


def test_medium_dimension_needs_a_hundred_users(engine):
    result = run(engine, "SELECT event_dt_utc, SUM(impressions) AS impressions FROM sponsored_ads_traffic GROUP BY 1")
    assert result.rows == []
    assert result.rows_removed == 5


def test_metric_only_rows_need_no_users(engine):
    assert run(engine, "SELECT COUNT(DISTINCT user_id) AS users FROM sponsored_ads_traffic").rows == [(4,)]


def test_users_flow_through_user_level_ctes(engine):
    result = run(
        engine,
        "WITH per_user AS (SELECT campaign, user_id, SUM(impressions) AS impressions FROM sponsored_ads_traffic GROUP BY 1, 2) "
        "SELECT campaign, COUNT(*) AS users, SUM(impressions) AS impressions FROM per_user GROUP BY 1",
    )
    assert result.rows == [("A", 3, 65)]


def test_joins_union_the_users_of_both_sides(engine):
    result = run(
        engine,
        "SELECT t.campaign, COUNT(DISTINCT d.user_id) AS dsp_users FROM sponsored_ads_traffic t "
        "JOIN dsp_impressions d ON d.user_id = t.user_id GROUP BY 1",
    )
    assert result.rows == [("A", 2)]


def test_left_join_to_a_values_cte(engine):
    result = run(
        engine,
        "WITH names(code, label) AS (VALUES ('A', 'alpha'), ('B', 'beta')) "
        "SELECT t.campaign, n.label, SUM(t.impressions) AS impressions FROM sponsored_ads_traffic t "
        "LEFT JOIN names n ON n.code = t.campaign GROUP BY 1, 2",
    )
    assert result.rows == [("A", "alpha", 65)]


def test_values_only_query_has_no_threshold(engine):
    result = run(engine, "WITH v(a) AS (VALUES ('x'), ('y'), ('x')) SELECT a, COUNT(*) AS n FROM v GROUP BY a")
    assert sorted(result.rows) == [("x", 2), ("y", 1)]
    assert result.rows_removed == 0


def test_union_all_branches_carry_their_own_users(engine):
    result = run(
        engine,
        BY_CAMPAIGN + " UNION ALL SELECT campaign, SUM(impressions) AS impressions FROM dsp_impressions GROUP BY campaign",
    )
    assert sorted(result.rows) == [("A", 65), ("D", 3)]


def test_union_distinct_is_regrouped_with_merged_users(engine):
    result = run(
        engine,
        "SELECT campaign, COUNT(*) AS n FROM (SELECT campaign FROM sponsored_ads_traffic "
        "UNION SELECT campaign FROM dsp_impressions) u GROUP BY 1",
    )
    assert sorted(result.rows) == [("A", 1), ("D", 1)]


def test_select_distinct_keeps_users(engine):
    result = run(
        engine,
        "WITH x AS (SELECT DISTINCT campaign, user_id FROM sponsored_ads_traffic) "
        "SELECT campaign, COUNT(*) AS users FROM x GROUP BY 1",
    )
    assert result.rows == [("A", 3)]


def test_window_function_selects_pass_users_through(engine):
    result = run(
        engine,
        "WITH ranked AS (SELECT campaign, impressions, ROW_NUMBER() OVER (PARTITION BY campaign ORDER BY impressions DESC) AS rn "
        "FROM sponsored_ads_traffic) SELECT campaign, SUM(impressions) AS top_two FROM ranked WHERE rn <= 2 GROUP BY 1",
    )
    assert result.rows == [("A", 50)]


def test_values_picked_by_collect_keep_their_threshold(engine):
    result = run(
        engine,
        "WITH paths AS (SELECT user_id, ARRAY_TO_STRING(ARRAY_SORT(COLLECT(DISTINCT campaign)), '>') AS path "
        "FROM sponsored_ads_traffic GROUP BY user_id) SELECT path, COUNT(*) AS users FROM paths GROUP BY path",
    )
    assert result.rows == [("A", 3)]  # the path 'B' has one user
    assert result.rows_removed == 1


def test_min_of_a_dimension_exposes_it(engine):
    result = run(engine, "SELECT MIN(campaign) AS first_campaign, COUNT(*) AS n FROM sponsored_ads_traffic WHERE campaign = 'B'")
    assert result.rows == []
