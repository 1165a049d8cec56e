-- new_to_brand rows of the template's current definition, weekly windows only (current_weekly_rows):
-- one row per ad product; purchasers and ntb_purchasers are distinct users (not additive).
-- NULL measures: the report drops rows under AMC's aggregation threshold (privacy REMOVE_ROWS, no
-- discriminator column; amc_pipelines.marts.check_mart_inputs refuses any other setting), so AMC never
-- withholds a value as NULL here: a NULL measure is a SUM over no values and means zero (coalesced).
select
    r.instance_id,
    r.week_start,
    r.amc_execution_id,
    r.ad_product,
    coalesce(r.purchases, 0) as purchases,
    coalesce(r.ntb_purchases, 0) as ntb_purchases,
    coalesce(r.sales, 0)::numeric as sales,
    coalesce(r.ntb_sales, 0)::numeric as ntb_sales,
    coalesce(r.units, 0) as units,
    coalesce(r.purchasers, 0) as purchasers,
    coalesce(r.ntb_purchasers, 0) as ntb_purchasers
from {{ current_weekly_rows('new_to_brand') }}
