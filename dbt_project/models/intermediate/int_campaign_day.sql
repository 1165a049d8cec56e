-- One row per instance, loaded week, traffic date, ad product, campaign and campaign name: the grain
-- weeks and calendar months are summed from. event_date is NULL for rows loaded before the report had
-- it (they belong to their week only). privacy_withheld: AMC withheld some of the day's measures.
select
    instance_id,
    week_start,
    event_date,
    ad_product,
    campaign_id,
    campaign,
    {{ base_metric_sums() }},
    bool_or(privacy_withheld) as privacy_withheld
from {{ ref('stg_campaign_performance') }}
group by instance_id, week_start, event_date, ad_product, campaign_id, campaign
