-- Paths to conversion per instance, week and path, in the instance's currency. user_share: the path's
-- share of the week's users on the reported paths (every user is on one path; paths under AMC's
-- aggregation threshold are not reported, so not counted).
-- Incremental on (instance, week) as fct_campaign_week. A loaded week with no rows has none here: it
-- is in fct_report_week with has_rows = false.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_partition_weeks() }}",
) }}

with rows as (
    {{ tidy_week_rows('path_to_conversion') }}
)

select
    instance_id,
    week_start,
    currency,
    path,
    path_length,
    users, purchasers, purchases, sales,
    {{ user_conversion_rate('purchasers', 'users') }} as user_conversion_rate,
    {{ share_of_total('users', 'instance_id, week_start') }} as user_share,
    {{ average_order_value('sales', 'purchases') }} as average_order_value,
    provisional
from rows
{% if is_incremental() %}where {{ partition_weeks_filter() }}{% endif %}
