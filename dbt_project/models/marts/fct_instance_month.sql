-- Advertiser totals per instance and calendar month touched by a loaded week, same metrics as
-- fct_campaign_month. A month whose covered days have no rows has zeros, has_rows = false and NULL
-- ratios. Incremental by month as fct_campaign_month.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_partition_months() }}",
) }}

with months as (
    select * from {{ ref('int_instance_month') }}
),

built as (
    select * from months
    {% if is_incremental() %}where {{ partition_months_filter() }}{% endif %}
)

select
    cur.instance_id,
    cur.month_start,
    cur.currency,
    cur.campaigns,
    cur.impressions, cur.clicks, cur.spend, cur.purchases, cur.sales, cur.ntb_purchases, cur.ntb_sales,
    {{ metric_columns('cur.') }},
    cur.privacy_withheld_days,
    cur.has_rows,
    cur.days_covered,
    cur.complete,
    cur.undated_weeks,
    cur.provisional,
    {{ change_columns('cur', ['mom', 'yoy']) }}
from built as cur
left join months as mom
    on mom.instance_id = cur.instance_id and mom.month_start = (cur.month_start - interval '1 month')::date
left join months as yoy
    on yoy.instance_id = cur.instance_id and yoy.month_start = (cur.month_start - interval '12 months')::date
