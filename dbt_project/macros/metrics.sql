{#-
  The one definition of every marketing metric (issue 10; Amazon Ads' definitions of ROAS, ACOS, CTR, CPC, CPM, CVR and new-to-brand share).
  A zero (or missing) denominator gives NULL, never 0 or infinity. Ratios are numeric; ACOS is the
  ratio spend / sales (multiply by 100 for a percentage). Money is already in the instance's currency:
  the unit conversion (sponsored ads microcents / 1e8, DSP millicents / 1e5) happens once, in the
  report's AMC SQL (amc_pipelines/catalog/reports/campaign_performance.sql).
-#}
{% macro safe_ratio(numerator, denominator) -%}
  (({{ numerator }})::numeric / nullif(({{ denominator }})::numeric, 0))
{%- endmacro %}

{% macro roas(sales, spend) %}{{ safe_ratio(sales, spend) }}{% endmacro %}
{% macro acos(spend, sales) %}{{ safe_ratio(spend, sales) }}{% endmacro %}
{% macro ctr(clicks, impressions) %}{{ safe_ratio(clicks, impressions) }}{% endmacro %}
{% macro cpc(spend, clicks) %}{{ safe_ratio(spend, clicks) }}{% endmacro %}
{% macro cpm(spend, impressions) %}(1000 * {{ safe_ratio(spend, impressions) }}){% endmacro %}
{% macro cvr(purchases, clicks) %}{{ safe_ratio(purchases, clicks) }}{% endmacro %}
{% macro ntb_purchase_share(ntb_purchases, purchases) %}{{ safe_ratio(ntb_purchases, purchases) }}{% endmacro %}
{% macro ntb_sales_share(ntb_sales, sales) %}{{ safe_ratio(ntb_sales, sales) }}{% endmacro %}

{#- Relative change against an earlier period: current / earlier - 1; NULL when the earlier value is 0 or missing. -#}
{% macro relative_change(current, earlier) %}({{ safe_ratio(current, earlier) }} - 1){% endmacro %}

{#- The base columns every metric is computed from: the one list of them. -#}
{% macro base_metrics() %}{{ return(['impressions', 'clicks', 'spend', 'purchases', 'sales', 'ntb_purchases', 'ntb_sales']) }}{% endmacro %}

{#- The base columns summed over a group. -#}
{% macro base_metric_sums() -%}
  {%- for m in base_metrics() %}
  sum({{ m }}) as {{ m }}{{ "," if not loop.last }}
  {%- endfor %}
{%- endmacro %}

{#- Every metric of a row with the base columns impressions, clicks, spend, purchases, sales, ntb_*. -#}
{% macro metric_columns(p='') -%}
  {{ ctr(p ~ 'clicks', p ~ 'impressions') }} as ctr,
  {{ cpc(p ~ 'spend', p ~ 'clicks') }} as cpc,
  {{ cpm(p ~ 'spend', p ~ 'impressions') }} as cpm,
  {{ cvr(p ~ 'purchases', p ~ 'clicks') }} as cvr,
  {{ roas(p ~ 'sales', p ~ 'spend') }} as roas,
  {{ acos(p ~ 'spend', p ~ 'sales') }} as acos,
  {{ ntb_purchase_share(p ~ 'ntb_purchases', p ~ 'purchases') }} as ntb_purchase_share,
  {{ ntb_sales_share(p ~ 'ntb_sales', p ~ 'sales') }} as ntb_sales_share
{%- endmacro %}

{#- Relative changes of spend, sales and ROAS against earlier periods: for each alias in `earlier`
    (the row of an earlier period, e.g. wow = the week 7 days earlier, yoy = 364 days earlier, mom =
    the previous calendar month), columns spend_<alias>, sales_<alias>, roas_<alias>; `cur` is the
    current row's alias. -#}
{% macro change_columns(cur, earlier) -%}
  {%- for e in earlier %}
  {{ relative_change(cur ~ '.spend', e ~ '.spend') }} as spend_{{ e }},
  {{ relative_change(cur ~ '.sales', e ~ '.sales') }} as sales_{{ e }},
  {{ relative_change(roas(cur ~ '.sales', cur ~ '.spend'), roas(e ~ '.sales', e ~ '.spend')) }} as roas_{{ e }}{{ "," if not loop.last }}
  {%- endfor %}
{%- endmacro %}

{#- The tidy marts of the other reports (fct_<report>_week). Distinct-user counts (reach, users,
    purchasers) never add up across weeks or rows of different users, so every ratio below divides
    within one row, or by a sum over rows that partition the users (paths, exposure groups). -#}
{% macro average_order_value(sales, purchases) %}{{ safe_ratio(sales, purchases) }}{% endmacro %}
{% macro ntb_purchaser_share(ntb_purchasers, purchasers) %}{{ safe_ratio(ntb_purchasers, purchasers) }}{% endmacro %}
{% macro brand_halo_share(brand_halo_purchases, purchases) %}{{ safe_ratio(brand_halo_purchases, purchases) }}{% endmacro %}
{#- Impressions per user reached (>= 1: reach counts users with at least one impression). -#}
{% macro average_frequency(impressions, reach) %}{{ safe_ratio(impressions, reach) }}{% endmacro %}
{#- Users who purchased / users (path_to_conversion, sp_dsp_overlap). -#}
{% macro user_conversion_rate(purchasers, users) %}{{ safe_ratio(purchasers, users) }}{% endmacro %}

{#- A row's share of the total of `value` over its group (`partition_by`: a SQL list of columns). -#}
{% macro share_of_total(value, partition_by) -%}
  {{ safe_ratio(value, 'sum(' ~ value ~ ') over (partition by ' ~ partition_by ~ ')') }}
{%- endmacro %}

{#- Running share: the total of `value` over the group's rows up to this one (in `order_by`, which must
    be unique within the group) over the group's total. -#}
{% macro cumulative_share(value, partition_by, order_by) -%}
  {{ safe_ratio('sum(' ~ value ~ ') over (partition by ' ~ partition_by ~ ' order by ' ~ order_by
                ~ ' rows between unbounded preceding and current row)',
                'sum(' ~ value ~ ') over (partition by ' ~ partition_by ~ ')') }}
{%- endmacro %}
