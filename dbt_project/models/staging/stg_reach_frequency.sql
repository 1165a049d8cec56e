-- reach_frequency rows of the template's current definition, weekly windows only (current_weekly_rows):
-- one row per ad product, campaign id and campaign name (reach is a distinct count, so a campaign
-- renamed within the week stays two rows: their reach cannot be added). The report's own
-- average_frequency is not read: the mart computes it from impressions and reach (macros/metrics.sql).
-- NULL measures: the report drops rows under AMC's aggregation threshold (privacy REMOVE_ROWS, no
-- discriminator column; amc_pipelines.marts.check_mart_inputs refuses any other setting), so AMC never
-- withholds a value as NULL here: a NULL measure is a SUM over no values and means zero (coalesced).
select
    r.instance_id,
    r.week_start,
    r.amc_execution_id,
    r.ad_product,
    r.campaign_id,
    r.campaign,
    coalesce(r.reach, 0) as reach,
    coalesce(r.impressions, 0) as impressions,
    coalesce(r.spend, 0)::numeric as spend
from {{ current_weekly_rows('reach_frequency') }}
