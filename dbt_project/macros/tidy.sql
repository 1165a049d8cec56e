{#-
  The tidy marts of the reports other than campaign_performance (stg_<report> -> fct_<report>_week).
-#}

{#- A tidy mart's rows: the staging model's rows of `template` with the instance's currency and the
    week's `provisional` (the ledger's loading execution, stg_weekly_loads). -#}
{% macro tidy_week_rows(template) -%}
    select s.*, c.currency, l.provisional
    from {{ ref('stg_' ~ template) }} as s
    join {{ ref('stg_weekly_loads') }} as l
        on l.template = '{{ template }}' and l.instance_id = s.instance_id and l.week_start = s.week_start
    left join {{ ref('int_instance_currency') }} as c on c.instance_id = s.instance_id
{%- endmacro %}
