-- One row per tidy report, instance and loaded week (stg_weekly_loads): how many rows the week has in
-- the report's mart (fct_<report>_week). A week loaded with no rows is here with result_rows = 0 and
-- has_rows = false, so it is explicit, not missing. Incremental on (instance, week) as fct_campaign_week.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_partition_weeks() }}",
) }}

{%- set templates = ['new_to_brand', 'reach_frequency', 'path_to_conversion', 'sp_dsp_overlap',
                     'time_to_conversion', 'asin_performance'] %}

with counted as (
    {%- for template in templates %}
    select '{{ template }}' as template, instance_id, week_start, count(*) as result_rows
    from {{ ref('stg_' ~ template) }}
    group by instance_id, week_start
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

weeks as (
    select
        l.template,
        l.instance_id,
        l.week_start,
        l.amc_execution_id,
        coalesce(c.result_rows, 0) as result_rows,
        c.template is not null as has_rows,
        l.provisional
    from {{ ref('stg_weekly_loads') }} as l
    left join counted as c using (template, instance_id, week_start)
    where l.template in ('{{ templates | join("', '") }}')
)

select * from weeks
{% if is_incremental() %}where {{ partition_weeks_filter() }}{% endif %}
