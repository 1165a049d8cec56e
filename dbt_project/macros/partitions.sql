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

{#-
  The calendar months an incremental build of the monthly marts replaces: for every week in
  var('weeks'), the months its seven days fall in (two for a week that straddles a month's edge), and
  the months whose month-over-month (+1 month) and year-over-year (+12 months) changes read those.
  No weeks: every month ("true").
-#}
{% macro partition_months_filter(month_column='month_start') -%}
  {%- set weeks = var('weeks', []) -%}
  {%- if weeks | length == 0 -%}
    true
  {%- else -%}
    {{ month_column }} in (
      select (date_trunc('month', built.week_start + edge.days) + later.months * interval '1 month')::date
      from (values
      {%- for week in weeks %}
        (date '{{ week | replace("'", "") }}'){{ "," if not loop.last }}
      {%- endfor %}) as built (week_start)
      cross join (values (0), (6)) as edge (days)
      cross join (values (0), (1), (12)) as later (months))
  {%- endif -%}
{%- endmacro %}

{#- pre_hook of the monthly marts, as delete_partition_weeks for the weekly ones. -#}
{% macro delete_partition_months() -%}
  {%- if is_incremental() -%}
    delete from {{ this }} where {{ partition_months_filter() }}
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}
