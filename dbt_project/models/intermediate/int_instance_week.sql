-- Advertiser totals per instance and loaded week. Every loaded week has a row: a week loaded with
-- no rows has zeros and has_rows = false (not missing, not silently zero).
with loads as (
    select instance_id, week_start, provisional
    from {{ ref('stg_weekly_loads') }}
    where template = 'campaign_performance'
),

totals as (
    {{ instance_period_totals('loads', ref('int_campaign_week'), 'week_start') }}
)

select
    t.instance_id,
    t.week_start,
    c.currency,
    t.campaigns,
    t.impressions, t.clicks, t.spend, t.purchases, t.sales, t.ntb_purchases, t.ntb_sales,
    t.privacy_withheld_days,
    t.has_rows,
    l.provisional
from totals as t
join loads as l using (instance_id, week_start)
left join {{ ref('int_instance_currency') }} as c on c.instance_id = t.instance_id
