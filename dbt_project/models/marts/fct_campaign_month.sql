-- Campaign metrics per instance, calendar month, ad product and campaign, in the instance's currency:
-- the sum of the campaign's days in the month (daily grain of campaign_performance). Incremental by
-- month: a build of some weeks deletes and re-appends the months of partition_months_filter() (the
-- months those weeks' days fall in, and the months whose changes read them).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_partition_months() }}",
) }}

with months as (
    select * from {{ ref('int_campaign_month') }}
),

built as (
    select * from months
    {% if is_incremental() %}where {{ partition_months_filter() }}{% endif %}
)

select
    cur.instance_id,
    cur.month_start,
    cur.currency,
    cur.ad_product,
    cur.campaign_id,
    cur.campaign,
    cur.impressions, cur.clicks, cur.spend, cur.purchases, cur.sales, cur.ntb_purchases, cur.ntb_sales,
    {{ metric_columns('cur.') }},
    cur.privacy_withheld_days,
    cur.days_covered,
    cur.complete,
    cur.provisional,
    {{ change_columns('cur', ['mom', 'yoy']) }}
from built as cur
left join months as mom
    on mom.instance_id = cur.instance_id and mom.ad_product = cur.ad_product
   and mom.campaign_id = cur.campaign_id and mom.month_start = (cur.month_start - interval '1 month')::date
left join months as yoy
    on yoy.instance_id = cur.instance_id and yoy.ad_product = cur.ad_product
   and yoy.campaign_id = cur.campaign_id and yoy.month_start = (cur.month_start - interval '12 months')::date
