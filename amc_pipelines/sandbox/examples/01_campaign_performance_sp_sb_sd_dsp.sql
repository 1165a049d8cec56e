-- title: Campaign performance across SP, SB, SD and DSP
-- description: Weekly delivery, spend and attributed conversions of every sponsored ads and DSP
--   campaign, weeks in the advertiser's time zone. Spend is converted to local currency (sponsored
--   ads microcents / 1e8, DSP millicents / 1e5); conversions are by traffic time and use the total_*
--   columns (promoted products + brand halo). Weeks come from the local *_date columns (LOW
--   threshold) rather than the *_dt timestamps (MEDIUM): a campaign-week needs 2 users, not 100.
--   Differs from the built-in report campaign_performance on purpose: one row per week of a
--   window of several weeks, with CTR and ROAS, and no campaign filter; the report, run once a
--   week, holds one week's additive metrics per campaign and leaves ratios to its readers.
-- variant_of: campaign_performance

WITH traffic_and_conversions AS (
  SELECT
    CAST(DATE_TRUNC('WEEK', event_date) AS DATE) AS week_start,
    ad_product_type AS ad_product,
    campaign_id_string,
    campaign,
    user_id,
    impressions,
    clicks,
    spend / 100000000 AS spend,
    0 AS purchases,
    0 AS product_sales,
    0 AS ntb_purchases,
    0 AS ntb_product_sales
  FROM
    sponsored_ads_traffic
  UNION ALL
  SELECT
    CAST(DATE_TRUNC('WEEK', impression_date) AS DATE),
    'dsp',
    campaign_id_string,
    campaign,
    user_id,
    impressions,
    0,
    total_cost / 100000,
    0,
    0,
    0,
    0
  FROM
    dsp_impressions
  UNION ALL
  SELECT
    CAST(DATE_TRUNC('WEEK', click_date) AS DATE),
    'dsp',
    campaign_id_string,
    campaign,
    user_id,
    0,
    clicks,
    0,
    0,
    0,
    0,
    0
  FROM
    dsp_clicks
  UNION ALL
  -- ad_product_type is NULL for DSP traffic in the attributed-events tables
  SELECT
    CAST(DATE_TRUNC('WEEK', traffic_event_date) AS DATE),
    COALESCE(ad_product_type, 'dsp'),
    campaign_id_string,
    campaign,
    user_id,
    0,
    0,
    0,
    total_purchases,
    total_product_sales,
    new_to_brand_total_purchases,
    new_to_brand_total_product_sales
  FROM
    amazon_attributed_events_by_traffic_time
)
SELECT
  week_start,
  ad_product,
  campaign_id_string AS campaign_id,
  campaign,
  SUM(impressions) AS impressions,
  SUM(clicks) AS clicks,
  SUM(spend) AS spend,
  SUM(purchases) AS purchases,
  SUM(product_sales) AS product_sales,
  SUM(ntb_purchases) AS ntb_purchases,
  SUM(ntb_product_sales) AS ntb_product_sales,
  SUM(clicks) / NULLIF(SUM(impressions), 0) AS ctr,
  SUM(product_sales) / NULLIF(SUM(spend), 0) AS roas
FROM
  traffic_and_conversions
GROUP BY
  week_start,
  ad_product,
  campaign_id_string,
  campaign
