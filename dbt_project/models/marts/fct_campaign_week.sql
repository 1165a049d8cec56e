-- Campaign metrics per instance, week, ad product and campaign, in the instance's currency.
-- Incremental on (instance, week): a build for Dagster partitions deletes and re-appends exactly the
-- weeks of partition_weeks_filter() (the partition's week, and the weeks whose changes read it).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_partition_weeks() }}",
) }}

with weeks as (
    select * from {{ ref('int_campaign_week') }}
),

built as (
    select * from weeks
    {% if is_incremental() %}where {{ partition_weeks_filter() }}{% endif %}
)

select
    cur.instance_id,
    cur.week_start,
    cur.currency,
    cur.ad_product,
    cur.campaign_id,
    cur.campaign,
    cur.impressions, cur.clicks, cur.spend, cur.purchases, cur.sales, cur.ntb_purchases, cur.ntb_sales,
    {{ metric_columns('cur.') }},
    cur.privacy_withheld_days,
    cur.provisional,
    {{ change_columns('cur', ['wow', 'yoy']) }}
from built as cur
left join weeks as wow
    on wow.instance_id = cur.instance_id and wow.ad_product = cur.ad_product
   and wow.campaign_id = cur.campaign_id and wow.week_start = cur.week_start - 7
left join weeks as yoy
    on yoy.instance_id = cur.instance_id and yoy.ad_product = cur.ad_product
   and yoy.campaign_id = cur.campaign_id and yoy.week_start = cur.week_start - 364
