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

{#- The base columns every metric is computed from, summed over a group: the one list of them. -#}
{% macro base_metric_sums() -%}
  sum(impressions) as impressions,
  sum(clicks) as clicks,
  sum(spend) as spend,
  sum(purchases) as purchases,
  sum(sales) as sales,
  sum(ntb_purchases) as ntb_purchases,
  sum(ntb_sales) as ntb_sales
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

{#- Week-over-week (the week 7 days earlier) and year-over-year (364 days earlier: the same weekday
    52 weeks back) changes of spend, sales and ROAS; `cur`, `wow` and `yoy` are row aliases. -#}
{% macro change_columns(cur, wow, yoy) -%}
  {{ relative_change(cur ~ '.spend', wow ~ '.spend') }} as spend_wow,
  {{ relative_change(cur ~ '.sales', wow ~ '.sales') }} as sales_wow,
  {{ relative_change(roas(cur ~ '.sales', cur ~ '.spend'), roas(wow ~ '.sales', wow ~ '.spend')) }} as roas_wow,
  {{ relative_change(cur ~ '.spend', yoy ~ '.spend') }} as spend_yoy,
  {{ relative_change(cur ~ '.sales', yoy ~ '.sales') }} as sales_yoy,
  {{ relative_change(roas(cur ~ '.sales', cur ~ '.spend'), roas(yoy ~ '.sales', yoy ~ '.spend')) }} as roas_yoy
{%- endmacro %}
