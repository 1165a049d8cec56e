-- The weeks loaded for each template's own definition (current parameters hash), from the ledger:
-- one row per (template, instance, week), the newest LOADED execution. A loaded week with no result
-- rows is here too, so the marts show it explicitly. provisional: loaded inside the settle period.
with definitions as (
    select name, template, parameters_hash
    from {{ source('amc_control', 'report_definitions') }}
    where name = template
),

loads as (
    select
        d.template,
        e.instance_id,
        e.window_start::date as week_start,
        e.amc_execution_id,
        e.provisional,
        e.rows as loaded_rows,
        e.loaded_at,
        e.id
    from {{ source('amc_control', 'executions') }} as e
    join definitions as d
        on e.report_name = d.name and e.parameters_hash = d.parameters_hash
    where e.status = 'LOADED'
      and e.window_end = e.window_start + interval '7 days'
)

select distinct on (template, instance_id, week_start)
    template, instance_id, week_start, amc_execution_id, provisional, loaded_rows, loaded_at
from loads
order by template, instance_id, week_start, loaded_at desc nulls last, id desc
