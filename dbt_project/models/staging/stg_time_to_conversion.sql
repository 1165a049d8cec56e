-- time_to_conversion rows of the template's current definition, weekly windows only
-- (current_weekly_rows): one row per ad product and bucket; the bucket labels ('1: same hour' ...
-- '6: 14 days or more') sort in order. purchasers is a distinct count (not additive across buckets).
-- NULL measures: the report drops rows under AMC's aggregation threshold (privacy REMOVE_ROWS, no
-- discriminator column; amc_pipelines.marts.check_mart_inputs refuses any other setting), so AMC never
-- withholds a value as NULL here: a NULL measure is a SUM over no values and means zero (coalesced).
select
    r.instance_id,
    r.week_start,
    r.amc_execution_id,
    r.ad_product,
    r.time_to_conversion,
    coalesce(r.purchases, 0) as purchases,
    coalesce(r.sales, 0)::numeric as sales,
    coalesce(r.purchasers, 0) as purchasers
from {{ current_weekly_rows('time_to_conversion') }}
