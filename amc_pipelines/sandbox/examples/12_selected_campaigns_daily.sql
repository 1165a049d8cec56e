-- title: Daily performance of selected campaigns
-- description: Daily impressions, clicks and spend of the campaigns listed in the campaign_ids
--   parameter (campaign_id_string values, sponsored ads or DSP), days in the advertiser's time zone.
--   An empty list selects every campaign.
-- param: campaign_ids ARRAY<STRING> []

WITH traffic AS (
  SELECT
    event_date,
    ad_product_type AS ad_product,
    campaign_id_string,
    campaign,
    impressions,
    clicks,
    spend / 100000000 AS spend
  FROM
    sponsored_ads_traffic
  UNION ALL
  SELECT
    impression_date,
    'dsp',
    campaign_id_string,
    campaign,
    impressions,
    0,
    total_cost / 100000
  FROM
    dsp_impressions
  UNION ALL
  SELECT
    click_date,
    'dsp',
    campaign_id_string,
    campaign,
    0,
    clicks,
    0
  FROM
    dsp_clicks
)
SELECT
  event_date,
  ad_product,
  campaign_id_string AS campaign_id,
  campaign,
  SUM(impressions) AS impressions,
  SUM(clicks) AS clicks,
  SUM(spend) AS spend,
  SUM(clicks) / NULLIF(SUM(impressions), 0) AS ctr
FROM
  traffic
WHERE
  CARDINALITY(CUSTOM_PARAMETER('campaign_ids')) = 0
  OR ARRAY_CONTAINS(CUSTOM_PARAMETER('campaign_ids'), campaign_id_string)
GROUP BY
  event_date,
  ad_product,
  campaign_id_string,
  campaign
