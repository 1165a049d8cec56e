-- path_to_conversion rows of the template's current definition, weekly windows only
-- (current_weekly_rows): one row per path; every user of the week is on exactly one path.
-- NULL measures: the report drops rows under AMC's aggregation threshold (privacy REMOVE_ROWS, no
-- discriminator column; amc_pipelines.marts.check_mart_inputs refuses any other setting), so AMC never
-- withholds a value as NULL here: a NULL measure is a SUM over no values and means zero (coalesced).
select
    r.instance_id,
    r.week_start,
    r.amc_execution_id,
    r.path,
    r.path_length::integer as path_length,
    coalesce(r.users, 0) as users,
    coalesce(r.purchasers, 0) as purchasers,
    coalesce(r.purchases, 0) as purchases,
    coalesce(r.sales, 0)::numeric as sales
from {{ current_weekly_rows('path_to_conversion') }}
