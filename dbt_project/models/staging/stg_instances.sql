select instance_id, name as instance_name, marketplace_id, timezone, week_start as instance_week_start
from {{ source('amc_control', 'instances') }}
