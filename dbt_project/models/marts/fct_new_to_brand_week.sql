-- New-to-brand purchasing per instance, week and ad product, in the instance's currency.
-- Incremental on (instance, week) as fct_campaign_week. A loaded week with no rows has none here: it
-- is in fct_report_week with has_rows = false.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_partition_weeks() }}",
) }}

with rows as (
    {{ tidy_week_rows('new_to_brand') }}
)

select
    instance_id,
    week_start,
    currency,
    ad_product,
    purchases, ntb_purchases, sales, ntb_sales, units, purchasers, ntb_purchasers,
    {{ ntb_purchase_share('ntb_purchases', 'purchases') }} as ntb_purchase_share,
    {{ ntb_sales_share('ntb_sales', 'sales') }} as ntb_sales_share,
    {{ ntb_purchaser_share('ntb_purchasers', 'purchasers') }} as ntb_purchaser_share,
    {{ average_order_value('sales', 'purchases') }} as average_order_value,
    provisional
from rows
{% if is_incremental() %}where {{ partition_weeks_filter() }}{% endif %}
