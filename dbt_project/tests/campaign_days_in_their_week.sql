-- Every dated campaign_performance row falls in the week whose execution loaded it: event_date is in
-- the advertiser's time zone, the zone of the execution window, so a week holds exactly its seven
-- dates and a month can be summed from days. A withheld row (measures NULL) keeps its date, or
-- privacy_withheld_days could not count it.
select instance_id, week_start, event_date, ad_product, campaign_id, privacy_withheld
from {{ ref('stg_campaign_performance') }}
where event_date not between week_start and week_start + 6
   or (privacy_withheld and event_date is null)
