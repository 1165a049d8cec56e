{#-
  The SQP summaries (models/sqp/, schema sqp_summary) over the refresh's tables in schema sqp.

  SQP counts are per week and add up across weeks, ASINs and queries; shares, rates, scores and
  median prices do not (../shared/reference/SQP.md): shares and rates are recomputed from summed
  counts and medians are left out. A query's totals (search_query_volume, total_*) are the query's
  over all ASINs and repeat on each of the brand's ASIN rows of that query, so they are counted once
  per (week, query) (their max over its rows), while the ASIN's counts (asin_*) are summed.
-#}

{% macro sqp_query_counts() -%}
  {{ return(["search_query_volume", "total_query_impression_count", "total_click_count", "total_cart_add_count",
             "total_purchase_count",
             "total_same_day_shipping_click_count", "total_one_day_shipping_click_count", "total_two_day_shipping_click_count",
             "total_same_day_shipping_cart_add_count", "total_one_day_shipping_cart_add_count", "total_two_day_shipping_cart_add_count",
             "total_same_day_shipping_purchase_count", "total_one_day_shipping_purchase_count", "total_two_day_shipping_purchase_count"]) }}
{%- endmacro %}

{% macro sqp_asin_counts() -%}
  {{ return(["asin_impression_count", "asin_click_count", "asin_cart_add_count", "asin_purchase_count"]) }}
{%- endmacro %}

{#- Shares (the brand's ASINs' part of the query totals) and rates (per search), from summed counts. -#}
{% macro sqp_ratios() -%}
    {{ safe_ratio('asin_impression_count', 'total_query_impression_count') }} as asin_impression_share,
    {{ safe_ratio('asin_click_count', 'total_click_count') }} as asin_click_share,
    {{ safe_ratio('asin_cart_add_count', 'total_cart_add_count') }} as asin_cart_add_share,
    {{ safe_ratio('asin_purchase_count', 'total_purchase_count') }} as asin_purchase_share,
    {{ safe_ratio('total_click_count', 'search_query_volume') }} as total_click_rate,
    {{ safe_ratio('total_cart_add_count', 'search_query_volume') }} as total_cart_add_rate,
    {{ safe_ratio('total_purchase_count', 'search_query_volume') }} as total_purchase_rate
{%- endmacro %}

{#-
  A refresh table as a relation. One the refresh has not created yet (a database where it never ran)
  reads as no rows of the columns its source declares, like a missing AMC result table is created
  empty before the marts build: a plain `amc dbt build` works without the refresh, and the summaries
  are empty until it runs. source() is always called, so dbt records the dependency.
-#}
{% macro sqp_source(table) -%}
  {%- set relation = source('sqp', table) -%}
  {%- if execute and adapter.get_relation(database=relation.database, schema=relation.schema,
                                          identifier=relation.identifier) is none -%}
    {%- set node = graph.sources['source.' ~ project_name ~ '.sqp.' ~ table] -%}
    {%- do log(relation ~ " does not exist (the BigQuery refresh has not copied it yet): read as empty", info=true) -%}
    (select
      {%- for column in node.columns.values() %}
      null::{{ column.data_type }} as {{ column.name }}{{ "," if not loop.last }}
      {%- endfor %}
    where false)
  {%- else -%}
    {{ relation }}
  {%- endif -%}
{%- endmacro %}

{#-
  The period a Sunday-to-Saturday week belongs to: the month (quarter, year) holding most of its
  days, i.e. its Wednesday's (start + 3), as ISO 8601 gives a week to the year of its Thursday. Whole
  weeks, not days split across months: every count stays exactly what Amazon reported for the week.
-#}
{% macro sqp_period_start(period, week_start) -%}
  {%- if period == 'week' -%}
    {{ week_start }}
  {%- else -%}
    date_trunc('{{ period }}', {{ week_start }} + 3)::date
  {%- endif -%}
{%- endmacro %}

{% macro sqp_period_end(period, period_start) -%}
  {%- if period == 'week' -%}
    {{ period_start }} + 6
  {%- else -%}
    ({{ period_start }} + interval '{{ {'month': '1 month', 'quarter': '3 months', 'year': '1 year'}[period] }}')::date - 1
  {%- endif -%}
{%- endmacro %}

{#- How many weeks belong to the period: the Wednesdays (dow 3) from its start to its end. -#}
{% macro sqp_expected_weeks(period_start, period_end) -%}
  ((({{ period_end }}) - ({{ period_start }} + (3 - extract(dow from {{ period_start }})::int + 7) % 7)) / 7 + 1)
{%- endmacro %}

{#-
  One summary per account, marketplace and period ('week', 'month', 'quarter', 'year'). A
  marketplace is its own row: SQP is reported per marketplace and a query's totals are that
  marketplace's. weeks / expected_weeks / complete: a period whose weeks are not all refreshed yet
  (the current month, the first of the history) says so.
-#}
{% macro sqp_period_summary(period) -%}
{%- set query_counts = sqp_query_counts() -%}
{%- set asin_counts = sqp_asin_counts() -%}
with sqp as (
    select * from {{ sqp_source('search_query_performance') }} as s
),

query_weeks as (
    select
        account_id,
        marketplace_id,
        start_date,
        search_query,
        {%- for c in query_counts %}
        max({{ c }}) as {{ c }},
        {%- endfor %}
        {%- for c in asin_counts %}
        sum({{ c }}) as {{ c }}{{ "," if not loop.last }}
        {%- endfor %}
    from sqp
    group by account_id, marketplace_id, start_date, search_query
),

periods as (
    select
        account_id,
        marketplace_id,
        {{ sqp_period_start(period, 'start_date') }} as period_start,
        count(distinct start_date) as weeks,
        min(start_date) as first_week_start,
        max(start_date) as last_week_start,
        count(distinct search_query) as search_queries,
        {%- for c in query_counts + asin_counts %}
        sum({{ c }}) as {{ c }}{{ "," if not loop.last }}
        {%- endfor %}
    from query_weeks
    group by 1, 2, 3
),

asins as (
    select
        account_id,
        marketplace_id,
        {{ sqp_period_start(period, 'start_date') }} as period_start,
        count(distinct asin) as asins,
        (array_agg(advertiser order by start_date desc, advertiser))[1] as advertiser,
        max(updated_at) as last_updated_at
    from sqp
    group by 1, 2, 3
),

summary as (
    select
        p.account_id,
        p.marketplace_id,
        a.advertiser,
        p.period_start,
        {{ sqp_period_end(period, 'p.period_start') }} as period_end,
        p.weeks,
        p.first_week_start,
        p.last_week_start,
        a.asins,
        p.search_queries,
        {%- for c in query_counts + asin_counts %}
        p.{{ c }},
        {%- endfor %}
        a.last_updated_at
    from periods as p
    join asins as a using (account_id, marketplace_id, period_start)
)

select
    account_id,
    marketplace_id,
    advertiser,
    period_start,
    period_end,
    weeks,
    {{ sqp_expected_weeks('period_start', 'period_end') }} as expected_weeks,
    weeks = {{ sqp_expected_weeks('period_start', 'period_end') }} as complete,
    first_week_start,
    last_week_start,
    asins,
    search_queries,
    {%- for c in query_counts + asin_counts %}
    {{ c }},
    {%- endfor %}
    {{ sqp_ratios() }},
    last_updated_at
from summary
{%- endmacro %}
