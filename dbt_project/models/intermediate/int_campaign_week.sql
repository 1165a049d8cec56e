-- One row per instance, week, ad product and campaign (every loaded week). A campaign renamed within
-- the week is one row: grouped by campaign_id, named after its row with the most impressions.
with rows as (
    select * from {{ ref('stg_campaign_performance') }}
),

names as (
    select distinct on (instance_id, week_start, ad_product, campaign_id)
        instance_id, week_start, ad_product, campaign_id, campaign
    from rows
    order by instance_id, week_start, ad_product, campaign_id, impressions desc, campaign
),

totals as (
    select
        instance_id, week_start, ad_product, campaign_id,
        {{ base_metric_sums() }}
    from rows
    group by instance_id, week_start, ad_product, campaign_id
)

select
    t.instance_id,
    t.week_start,
    c.currency,
    t.ad_product,
    t.campaign_id,
    n.campaign,
    t.impressions, t.clicks, t.spend, t.purchases, t.sales, t.ntb_purchases, t.ntb_sales,
    l.provisional
from totals as t
join names as n using (instance_id, week_start, ad_product, campaign_id)
join {{ ref('stg_weekly_loads') }} as l
    on l.template = 'campaign_performance' and l.instance_id = t.instance_id and l.week_start = t.week_start
left join {{ ref('int_instance_currency') }} as c on c.instance_id = t.instance_id
