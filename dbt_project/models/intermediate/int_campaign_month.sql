-- One row per instance, calendar month, ad product and campaign: the sum of the campaign's days in
-- the month, taken from every loaded week that overlaps it (the weeks that straddle the month's first
-- and last days give it only their days of the month). Undated rows (loaded before the report had
-- event_date) are left out; int_month_loads counts their weeks.
with days as (
    select *, date_trunc('month', event_date)::date as month_start
    from {{ ref('int_campaign_day') }}
    where event_date is not null
),

periods as (
    {{ campaign_period_totals('days', 'month_start') }}
)

select
    p.instance_id,
    p.month_start,
    c.currency,
    p.ad_product,
    p.campaign_id,
    p.campaign,
    p.impressions, p.clicks, p.spend, p.purchases, p.sales, p.ntb_purchases, p.ntb_sales,
    p.privacy_withheld_days,
    m.days_covered,
    m.days_covered = m.days_in_month as complete,
    m.provisional
from periods as p
join {{ ref('int_month_loads') }} as m using (instance_id, month_start)
left join {{ ref('int_instance_currency') }} as c on c.instance_id = p.instance_id
