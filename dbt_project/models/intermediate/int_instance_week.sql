-- Advertiser totals per instance and loaded week. Every loaded week has a row: a week loaded with
-- no rows has zeros and has_rows = false (not missing, not silently zero).
with totals as (
    select
        instance_id, week_start,
        count(*) as campaigns,
        {{ base_metric_sums() }}
    from {{ ref('int_campaign_week') }}
    group by instance_id, week_start
)

select
    l.instance_id,
    l.week_start,
    c.currency,
    coalesce(t.campaigns, 0) as campaigns,
    coalesce(t.impressions, 0) as impressions,
    coalesce(t.clicks, 0) as clicks,
    coalesce(t.spend, 0) as spend,
    coalesce(t.purchases, 0) as purchases,
    coalesce(t.sales, 0) as sales,
    coalesce(t.ntb_purchases, 0) as ntb_purchases,
    coalesce(t.ntb_sales, 0) as ntb_sales,
    t.instance_id is not null as has_rows,
    l.provisional
from {{ ref('stg_weekly_loads') }} as l
left join totals as t using (instance_id, week_start)
left join {{ ref('int_instance_currency') }} as c on c.instance_id = l.instance_id
where l.template = 'campaign_performance'
