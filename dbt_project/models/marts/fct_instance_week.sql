-- Advertiser totals per instance and loaded week with the same metrics as fct_campaign_week. A week
-- loaded with no rows is a row with zeros, has_rows = false and NULL ratios. Incremental as fct_campaign_week.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_partition_weeks() }}",
) }}

with weeks as (
    select * from {{ ref('int_instance_week') }}
),

built as (
    select * from weeks
    {% if is_incremental() %}where {{ partition_weeks_filter() }}{% endif %}
)

select
    cur.instance_id,
    cur.week_start,
    cur.currency,
    cur.campaigns,
    cur.impressions, cur.clicks, cur.spend, cur.purchases, cur.sales, cur.ntb_purchases, cur.ntb_sales,
    {{ metric_columns('cur.') }},
    cur.privacy_withheld_days,
    cur.has_rows,
    cur.provisional,
    {{ change_columns('cur', ['wow', 'yoy']) }}
from built as cur
left join weeks as wow on wow.instance_id = cur.instance_id and wow.week_start = cur.week_start - 7
left join weeks as yoy on yoy.instance_id = cur.instance_id and yoy.week_start = cur.week_start - 364
