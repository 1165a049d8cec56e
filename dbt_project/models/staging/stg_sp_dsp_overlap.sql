-- sp_dsp_overlap rows of the template's current definition, weekly windows only (current_weekly_rows):
-- one row per exposure group; every user reached in the week is in exactly one group.
-- NULL measures: the report drops rows under AMC's aggregation threshold (privacy REMOVE_ROWS, no
-- discriminator column; amc_pipelines.marts.check_mart_inputs refuses any other setting), so AMC never
-- withholds a value as NULL here: a NULL measure is a SUM over no values and means zero (coalesced).
select
    r.instance_id,
    r.week_start,
    r.amc_execution_id,
    r.exposure_group,
    coalesce(r.users, 0) as users,
    coalesce(r.purchasers, 0) as purchasers,
    coalesce(r.purchases, 0) as purchases,
    coalesce(r.sales, 0)::numeric as sales
from {{ current_weekly_rows('sp_dsp_overlap') }}
