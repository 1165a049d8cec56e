-- One row per instance and calendar month touched by a loaded campaign_performance week (a week that
-- straddles two months touches both): how many of the month's days the loaded weeks cover, whether any
-- of those weeks is provisional, and how many of them were loaded before the report had event_date
-- (undated_weeks: their rows count in their week but cannot be placed in a month, so their days are
-- not covered; collecting the week again dates them).
with loads as (
    select
        l.instance_id,
        l.week_start,
        l.provisional,
        exists (
            select 1 from {{ ref('stg_campaign_performance') }} as r
            where r.instance_id = l.instance_id and r.week_start = l.week_start and r.event_date is null
        ) as undated
    from {{ ref('stg_weekly_loads') }} as l
    where l.template = 'campaign_performance'
),

load_days as (
    select
        loads.instance_id,
        loads.week_start,
        loads.provisional,
        loads.undated,
        date_trunc('month', loads.week_start + offset_days)::date as month_start,
        loads.week_start + offset_days as day
    from loads
    cross join generate_series(0, 6) as offset_days
)

select
    instance_id,
    month_start,
    (month_start + interval '1 month')::date - month_start as days_in_month,
    count(distinct day) filter (where not undated) as days_covered,
    count(distinct week_start) filter (where undated) as undated_weeks,
    bool_or(provisional) as provisional
from load_days
group by instance_id, month_start
