-- Time from ad interaction to purchase per instance, week, ad product and bucket, in the instance's
-- currency. purchase_share / cumulative_purchase_share: the bucket's share (and the share up to and
-- including it, buckets in label order) of the ad product's reported purchases in the week.
-- Incremental on (instance, week) as fct_campaign_week. A loaded week with no rows has none here: it
-- is in fct_report_week with has_rows = false.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_partition_weeks() }}",
) }}

with rows as (
    {{ tidy_week_rows('time_to_conversion') }}
)

select
    instance_id,
    week_start,
    currency,
    ad_product,
    time_to_conversion,
    purchases, sales, purchasers,
    {{ share_of_total('purchases', 'instance_id, week_start, ad_product') }} as purchase_share,
    {{ cumulative_share('purchases', 'instance_id, week_start, ad_product', 'time_to_conversion') }}
        as cumulative_purchase_share,
    {{ average_order_value('sales', 'purchases') }} as average_order_value,
    provisional
from rows
{% if is_incremental() %}where {{ partition_weeks_filter() }}{% endif %}
