-- Attributed purchasing per instance, week and purchased ASIN, in the instance's currency.
-- Incremental on (instance, week) as fct_campaign_week. A loaded week with no rows has none here: it
-- is in fct_report_week with has_rows = false.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_partition_weeks() }}",
) }}

with rows as (
    {{ tidy_week_rows('asin_performance') }}
)

select
    instance_id,
    week_start,
    currency,
    asin,
    purchases, units, sales, ntb_purchases, ntb_sales, brand_halo_purchases, purchasers,
    {{ ntb_purchase_share('ntb_purchases', 'purchases') }} as ntb_purchase_share,
    {{ ntb_sales_share('ntb_sales', 'sales') }} as ntb_sales_share,
    {{ brand_halo_share('brand_halo_purchases', 'purchases') }} as brand_halo_share,
    {{ average_order_value('sales', 'purchases') }} as average_order_value,
    provisional
from rows
{% if is_incremental() %}where {{ partition_weeks_filter() }}{% endif %}
