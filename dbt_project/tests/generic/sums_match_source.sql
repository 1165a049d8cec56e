{#-
  The summary's counts add up to the refresh table's, per account and marketplace over all periods
  (so no week is dropped or counted in two periods). `columns` are summed row by row on both sides;
  `query_columns` (a query's totals, repeated on each of its ASIN rows) are taken once per (week,
  query) at the source. Exact (counts and NUMERIC money). Returns the disagreeing accounts with both sums.
-#}
{% test sums_match_source(model, source_table, columns=[], query_columns=[]) %}
{%- set keys = ['account_id', 'marketplace_id'] %}
{%- set measures = columns + query_columns %}
with source_rows as (
    select * from {{ sqp_source(source_table) }} as s
),

row_totals as (
    select
        {{ keys | join(', ') }}{% for c in columns %},
        sum({{ c }})::numeric as {{ c }}
        {%- endfor %}
    from source_rows
    group by {{ keys | join(', ') }}
),
{%- if query_columns %}

query_totals as (
    select
        {{ keys | join(', ') }}{% for c in query_columns %},
        sum({{ c }})::numeric as {{ c }}
        {%- endfor %}
    from (
        select
            {{ keys | join(', ') }}{% for c in query_columns %},
            max({{ c }}) as {{ c }}
            {%- endfor %}
        from source_rows
        group by {{ keys | join(', ') }}, start_date, search_query
    ) as query_weeks
    group by {{ keys | join(', ') }}
),
{%- endif %}

source_totals as (
    select * from row_totals
    {%- if query_columns %}
    full outer join query_totals using ({{ keys | join(', ') }})
    {%- endif %}
),

model_totals as (
    select
        {{ keys | join(', ') }}{% for c in measures %},
        sum({{ c }})::numeric as {{ c }}
        {%- endfor %}
    from {{ model }}
    group by {{ keys | join(', ') }}
)

select
    {%- for k in keys %}
    coalesce(m.{{ k }}, s.{{ k }}) as {{ k }},
    {%- endfor %}
    {%- for c in measures %}
    s.{{ c }} as source_{{ c }}, m.{{ c }} as model_{{ c }}{{ "," if not loop.last }}
    {%- endfor %}
from model_totals as m
full outer join source_totals as s using ({{ keys | join(', ') }})
where false
    {%- for c in measures %}
    or coalesce(m.{{ c }}, 0) <> coalesce(s.{{ c }}, 0)
    {%- endfor %}
{% endtest %}
