-- Sponsored Products / DSP audience overlap per instance, week and exposure group, in the instance's
-- currency. user_share: the group's share of the week's users reached (the groups partition them;
-- a group under AMC's aggregation threshold is not reported, so not counted).
-- Incremental on (instance, week) as fct_campaign_week. A loaded week with no rows has none here: it
-- is in fct_report_week with has_rows = false.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_partition_weeks() }}",
) }}

with rows as (
    {{ tidy_week_rows('sp_dsp_overlap') }}
)

select
    instance_id,
    week_start,
    currency,
    exposure_group,
    users, purchasers, purchases, sales,
    {{ share_of_total('users', 'instance_id, week_start') }} as user_share,
    {{ user_conversion_rate('purchasers', 'users') }} as user_conversion_rate,
    {{ average_order_value('sales', 'purchases') }} as average_order_value,
    provisional
from rows
{% if is_incremental() %}where {{ partition_weeks_filter() }}{% endif %}
