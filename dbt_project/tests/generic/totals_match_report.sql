{#-
  Reconciliation, per instance and week being built (var('weeks'); every week when empty): the
  model's totals of these measures equal the raw result table's, read straight from the source with
  current_weekly_rows (the rows the staging models keep), not through staging.
  Integers exactly; money to 1e-9 relative. A week that is only on one side fails too. Returns the
  disagreeing (instance, week) rows with both totals, so the check's failure names them.
-#}
{% test totals_match_report(model, report, integers, money) %}
{%- set measures = integers + money %}
with report_totals as (
    select
        r.instance_id,
        r.week_start,
        {%- for m in measures %}
        coalesce(sum(r.{{ m }}), 0)::numeric as {{ m }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ current_weekly_rows(report) }}
      and {{ partition_weeks_filter('r.week_start') }}
    group by r.instance_id, r.week_start
),

model_totals as (
    select
        instance_id,
        week_start,
        {%- for m in measures %}
        coalesce(sum({{ m }}), 0)::numeric as {{ m }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ model }}
    where {{ partition_weeks_filter() }}
    group by instance_id, week_start
)

select
    coalesce(m.instance_id, r.instance_id) as instance_id,
    coalesce(m.week_start, r.week_start) as week_start,
    {%- for x in measures %}
    r.{{ x }} as report_{{ x }}, m.{{ x }} as model_{{ x }}{{ "," if not loop.last }}
    {%- endfor %}
from model_totals as m
full outer join report_totals as r using (instance_id, week_start)
where
    {%- for x in integers %}
    coalesce(m.{{ x }}, 0) <> coalesce(r.{{ x }}, 0) or
    {%- endfor %}
    {%- for x in money %}
    abs(coalesce(m.{{ x }}, 0) - coalesce(r.{{ x }}, 0))
        > 1e-9 * greatest(abs(coalesce(m.{{ x }}, 0)), abs(coalesce(r.{{ x }}, 0))){{ " or" if not loop.last }}
    {%- endfor %}
{% endtest %}
