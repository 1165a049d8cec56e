-- asin_performance rows of the template's current definition, weekly windows only
-- (current_weekly_rows): one row per purchased ASIN. An ad hoc run restricted to some ASINs has other
-- parameters, so its rows are not read.
-- NULL measures: the report drops rows under AMC's aggregation threshold (privacy REMOVE_ROWS, no
-- discriminator column; amc_pipelines.marts.check_mart_inputs refuses any other setting), so AMC never
-- withholds a value as NULL here: a NULL measure is a SUM over no values and means zero (coalesced).
select
    r.instance_id,
    r.week_start,
    r.amc_execution_id,
    r.asin,
    coalesce(r.purchases, 0) as purchases,
    coalesce(r.units, 0) as units,
    coalesce(r.sales, 0)::numeric as sales,
    coalesce(r.ntb_purchases, 0) as ntb_purchases,
    coalesce(r.ntb_sales, 0)::numeric as ntb_sales,
    coalesce(r.brand_halo_purchases, 0) as brand_halo_purchases,
    coalesce(r.purchasers, 0) as purchasers
from {{ current_weekly_rows('asin_performance') }}
