{#- FROM clause of a staging model: the rows of `template`'s own definition (named like the template)
    with its CURRENT parameters hash, weekly windows only, as `r`. Rows of ad hoc runs (other
    parameters), of other definitions of the template, loaded with older default parameters, or of ad
    hoc windows (window_end other than week_start + 7 days) are left out. The one definition of which
    result rows the marts count (staging models and the reconciliation test totals_match_report). -#}
{% macro current_weekly_rows(template) -%}
    {{ source('amc_results', template) }} as r
    join {{ source('amc_control', 'report_definitions') }} as d
        on d.name = '{{ template }}' and d.template = '{{ template }}'
       and r.definition = d.name and r.parameters_hash = d.parameters_hash
    where r.window_end = r.week_start + interval '7 days'
{%- endmacro %}
