{#-
  The tidy marts of the reports other than campaign_performance (stg_<report> -> fct_<report>_week).
-#}

{#- FROM clause of a staging model: the rows of `template`'s own definition (named like the template)
    with its CURRENT parameters hash, weekly windows only, as `r`. Rows of ad hoc runs (other
    parameters), of other definitions of the template, loaded with older default parameters, or of ad
    hoc windows (window_end other than week_start + 7 days) are left out, as in stg_campaign_performance. -#}
{% macro current_weekly_rows(template) -%}
    {{ source('amc_results', template) }} as r
    join {{ source('amc_control', 'report_definitions') }} as d
        on d.name = '{{ template }}' and d.template = '{{ template }}'
       and r.definition = d.name and r.parameters_hash = d.parameters_hash
    where r.window_end = r.week_start + interval '7 days'
{%- endmacro %}

{#- A tidy mart's rows: the staging model's rows of `template` with the instance's currency and the
    week's `provisional` (the ledger's loading execution, stg_weekly_loads). -#}
{% macro tidy_week_rows(template) -%}
    select s.*, c.currency, l.provisional
    from {{ ref('stg_' ~ template) }} as s
    join {{ ref('stg_weekly_loads') }} as l
        on l.template = '{{ template }}' and l.instance_id = s.instance_id and l.week_start = s.week_start
    left join {{ ref('int_instance_currency') }} as c on c.instance_id = s.instance_id
{%- endmacro %}
