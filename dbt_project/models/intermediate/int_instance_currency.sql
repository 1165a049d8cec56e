-- Each instance's currency, from its marketplace. An instance whose marketplace is missing from the
-- seed has currency NULL here; amc_pipelines.marts.check_currencies refuses to build before that.
select i.instance_id, i.instance_name, i.marketplace_id, m.country, m.currency
from {{ ref('stg_instances') }} as i
left join {{ ref('marketplaces') }} as m on m.marketplace_id = i.marketplace_id
