{#-
  The weeks an incremental build replaces: for every partition in var('partitions')
  ([[instance_id, "YYYY-MM-DD"], ...]), that week and the weeks whose week-over-week (+7 days) and
  year-over-year (+364 days) changes read it. No partitions: every week ("true").
-#}
{% macro partition_weeks_filter(instance_column='instance_id', week_column='week_start') -%}
  {%- set partitions = var('partitions', []) -%}
  {%- if partitions | length == 0 -%}
    true
  {%- else -%}
    ({{ instance_column }}, {{ week_column }}) in (
    {%- for instance_id, week in partitions %}
      {%- set i = "'" ~ (instance_id | replace("'", "''")) ~ "'" %}
      {%- set w = "date '" ~ (week | replace("'", "")) ~ "'" %}
      ({{ i }}, {{ w }}), ({{ i }}, {{ w }} + 7), ({{ i }}, {{ w }} + 364){{ "," if not loop.last }}
    {%- endfor %})
  {%- endif -%}
{%- endmacro %}

{#- pre_hook of the weekly marts: an incremental build first deletes the weeks it rebuilds (also a
    week that now has no rows), then appends them, in one transaction. -#}
{% macro delete_partition_weeks() -%}
  {%- if is_incremental() -%}
    delete from {{ this }} where {{ partition_weeks_filter() }}
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}
