-- One row per instance, week, ad product and campaign (every loaded week): the sum of the campaign's
-- days in the week (and of rows loaded before the report had dates). A campaign renamed within the
-- week is one row (campaign_period_totals).
with periods as (
    {{ campaign_period_totals(ref('int_campaign_day'), 'week_start') }}
)

select
    p.instance_id,
    p.week_start,
    c.currency,
    p.ad_product,
    p.campaign_id,
    p.campaign,
    p.impressions, p.clicks, p.spend, p.purchases, p.sales, p.ntb_purchases, p.ntb_sales,
    p.privacy_withheld_days,
    l.provisional
from periods as p
join {{ ref('stg_weekly_loads') }} as l
    on l.template = 'campaign_performance' and l.instance_id = p.instance_id and l.week_start = p.week_start
left join {{ ref('int_instance_currency') }} as c on c.instance_id = p.instance_id
