-- Reach, frequency and spend per instance, week, ad product and campaign (id and name: reach is a
-- distinct count, so the rows of a campaign renamed within the week cannot be added), in the
-- instance's currency.
-- Incremental on (instance, week) as fct_campaign_week. A loaded week with no rows has none here: it
-- is in fct_report_week with has_rows = false.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_partition_weeks() }}",
) }}

with rows as (
    {{ tidy_week_rows('reach_frequency') }}
)

select
    instance_id,
    week_start,
    currency,
    ad_product,
    campaign_id,
    campaign,
    reach, impressions, spend,
    {{ average_frequency('impressions', 'reach') }} as average_frequency,
    {{ cpm('spend', 'impressions') }} as cpm,
    provisional
from rows
{% if is_incremental() %}where {{ partition_weeks_filter() }}{% endif %}
