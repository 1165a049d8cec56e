{#-
  The weeks an incremental build replaces: for every week in var('weeks') (["YYYY-MM-DD", ...], the
  week_start of Dagster's week partitions, every instance), that week and the weeks whose
  week-over-week (+7 days) and year-over-year (+364 days) changes read it. No weeks: every week ("true").
-#}
{% macro partition_weeks_filter(week_column='week_start') -%}
  {%- set weeks = var('weeks', []) -%}
  {%- if weeks | length == 0 -%}
    true
  {%- else -%}
    {{ week_column }} in (
    {%- for week in weeks %}
      {%- set w = "date '" ~ (week | replace("'", "")) ~ "'" %}
      {{ w }}, {{ w }} + 7, {{ w }} + 364{{ "," if not loop.last }}
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
