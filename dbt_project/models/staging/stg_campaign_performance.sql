-- campaign_performance rows of the template's own definition with its CURRENT parameters hash, weekly
-- windows only (current_weekly_rows): rows of ad hoc runs (other parameters), rows loaded
-- with older default parameters and ad hoc windows (window_end other than week_start + 7 days) are left out.
-- Money is already in the instance's currency (converted once, in the report's AMC SQL).
-- One row per campaign and traffic date (event_date, advertiser time zone). Rows loaded before the
-- report had event_date hold NULL there: they count in their week, never in a month.
-- privacy_withheld: AMC withheld the row's measures (NULL, counted as 0 here, and flagged).
select
    r.instance_id,
    r.week_start,
    r.amc_execution_id,
    r.ad_product,
    r.campaign_id,
    r.campaign,
    r.event_date,
    coalesce(r.impressions, 0) as impressions,
    coalesce(r.clicks, 0) as clicks,
    coalesce(r.spend, 0)::numeric as spend,
    coalesce(r.purchases, 0) as purchases,
    coalesce(r.sales, 0)::numeric as sales,
    coalesce(r.ntb_purchases, 0) as ntb_purchases,
    coalesce(r.ntb_sales, 0)::numeric as ntb_sales,
    coalesce(r.privacy_filtered, false) as privacy_withheld
from {{ current_weekly_rows('campaign_performance') }}
