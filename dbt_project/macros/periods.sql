{#-
  One campaign's totals over a period (a week or a calendar month) from its days: the one way both
  int_campaign_week and int_campaign_month group days. Expects a relation or CTE `days` with
  instance_id, the period column, ad_product, campaign_id, campaign, event_date, the base measures
  and privacy_withheld. A campaign renamed within the period is one row, named after the name with the
  most impressions in the period (ties: the first name). privacy_withheld_days: the campaign-days of
  the period whose measures AMC withheld (under its aggregation threshold); the totals exclude them.
-#}
{% macro campaign_period_totals(days, period) -%}
    select
        t.instance_id,
        t.{{ period }},
        t.ad_product,
        t.campaign_id,
        n.campaign,
        t.impressions, t.clicks, t.spend, t.purchases, t.sales, t.ntb_purchases, t.ntb_sales,
        t.privacy_withheld_days
    from (
        select
            instance_id, {{ period }}, ad_product, campaign_id,
            {{ base_metric_sums() }},
            count(distinct event_date) filter (where privacy_withheld) as privacy_withheld_days
        from {{ days }}
        group by instance_id, {{ period }}, ad_product, campaign_id
    ) as t
    join (
        select distinct on (instance_id, {{ period }}, ad_product, campaign_id)
            instance_id, {{ period }}, ad_product, campaign_id, campaign
        from {{ days }}
        group by instance_id, {{ period }}, ad_product, campaign_id, campaign
        order by instance_id, {{ period }}, ad_product, campaign_id, sum(impressions) desc, campaign
    ) as n using (instance_id, {{ period }}, ad_product, campaign_id)
{%- endmacro %}

{#-
  Advertiser totals per instance and period: every row of `periods` (instance_id, the period column:
  the loaded weeks, or the months they touch) with the totals of its campaigns in `campaigns`. A period
  without campaign rows has zeros and has_rows = false (explicit, not missing and not silently zero).
-#}
{% macro instance_period_totals(periods, campaigns, period) -%}
    select
        p.instance_id,
        p.{{ period }},
        coalesce(t.campaigns, 0) as campaigns,
        {%- for m in base_metrics() %}
        coalesce(t.{{ m }}, 0) as {{ m }},
        {%- endfor %}
        coalesce(t.privacy_withheld_days, 0) as privacy_withheld_days,
        t.instance_id is not null as has_rows
    from {{ periods }} as p
    left join (
        select
            instance_id, {{ period }},
            count(*) as campaigns,
            {{ base_metric_sums() }},
            sum(privacy_withheld_days) as privacy_withheld_days
        from {{ campaigns }}
        group by instance_id, {{ period }}
    ) as t using (instance_id, {{ period }})
{%- endmacro %}
