-- Advertiser totals per instance and calendar month touched by a loaded week. Every such month has a
-- row: one whose covered days have no campaign rows has zeros and has_rows = false.
with totals as (
    {{ instance_period_totals(ref('int_month_loads'), ref('int_campaign_month'), 'month_start') }}
)

select
    t.instance_id,
    t.month_start,
    c.currency,
    t.campaigns,
    t.impressions, t.clicks, t.spend, t.purchases, t.sales, t.ntb_purchases, t.ntb_sales,
    t.privacy_withheld_days,
    t.has_rows,
    m.days_covered,
    m.days_covered = m.days_in_month as complete,
    m.undated_weeks,
    m.provisional
from totals as t
join {{ ref('int_month_loads') }} as m using (instance_id, month_start)
left join {{ ref('int_instance_currency') }} as c on c.instance_id = t.instance_id
