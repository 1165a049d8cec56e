-- Per account, marketplace, ASIN and week (Sunday to Saturday): the ASIN's search funnel from SQP
-- (summed over its search queries; each query's totals appear once per ASIN, so they are summed too)
-- beside its whole funnel from asin_performance. Either side may be missing for a week (has_* says
-- which). search_*_share: the part of the ASIN's clicks / purchases that SQP attributes to search
-- queries. Shares and rates recomputed from the counts; median prices are not combined.
{%- set query_counts = sqp_query_counts() %}
{%- set asin_counts = sqp_asin_counts() %}
{%- set funnel = ["impressions", "clicks", "cart_adds", "purchases", "units_ordered", "sessions", "page_views"] %}

with sqp as (
    select
        account_id,
        marketplace_id,
        asin,
        start_date,
        count(*) as search_queries,
        {%- for c in query_counts + asin_counts %}
        sum({{ c }}) as {{ c }},
        {%- endfor %}
        max(updated_at) as sqp_updated_at
    from {{ sqp_source('search_query_performance') }} as s
    group by account_id, marketplace_id, asin, start_date
),

funnel as (
    select
        account_id,
        marketplace_id,
        asin,
        start_date,
        {%- for c in funnel %}
        {{ c }},
        {%- endfor %}
        ordered_product_sales_amount,
        currency_code,
        updated_at as asin_performance_updated_at
    from {{ sqp_source('asin_performance') }} as a
),

joined as (
    select
        account_id,
        marketplace_id,
        asin,
        start_date,
        s.account_id is not null as has_search_query_data,
        f.account_id is not null as has_asin_performance,
        s.search_queries,
        {%- for c in query_counts + asin_counts %}
        s.{{ c }},
        {%- endfor %}
        {%- for c in funnel %}
        f.{{ c }},
        {%- endfor %}
        f.ordered_product_sales_amount,
        f.currency_code,
        greatest(s.sqp_updated_at, f.asin_performance_updated_at) as last_updated_at
    from sqp as s
    full outer join funnel as f using (account_id, marketplace_id, asin, start_date)
)

select
    account_id,
    marketplace_id,
    asin,
    start_date as period_start,
    start_date + 6 as period_end,
    has_search_query_data,
    has_asin_performance,
    search_queries,
    {%- for c in query_counts + asin_counts + funnel %}
    {{ c }},
    {%- endfor %}
    ordered_product_sales_amount,
    currency_code,
    {{ sqp_ratios() }},
    {{ safe_ratio('units_ordered', 'sessions') }} as unit_session_percentage,
    {{ safe_ratio('asin_click_count', 'clicks') }} as search_click_share,
    {{ safe_ratio('asin_purchase_count', 'purchases') }} as search_purchase_share,
    last_updated_at
from joined
