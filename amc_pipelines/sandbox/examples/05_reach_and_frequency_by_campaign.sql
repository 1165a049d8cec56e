-- title: Reach and frequency by campaign
-- description: Unique users reached, impressions, average frequency and cost per thousand users
--   reached for every sponsored ads and DSP campaign over the window.

WITH exposures AS (
  SELECT
    'dsp' AS ad_product,
    campaign_id_string,
    campaign,
    user_id,
    impressions,
    total_cost / 100000 AS spend
  FROM
    dsp_impressions
  UNION ALL
  SELECT
    ad_product_type,
    campaign_id_string,
    campaign,
    user_id,
    impressions,
    spend / 100000000
  FROM
    sponsored_ads_traffic
)
SELECT
  ad_product,
  campaign_id_string AS campaign_id,
  campaign,
  COUNT(DISTINCT IF(impressions > 0, user_id, NULL)) AS reach,
  SUM(impressions) AS impressions,
  SUM(impressions) / NULLIF(COUNT(DISTINCT IF(impressions > 0, user_id, NULL)), 0) AS average_frequency,
  SUM(spend) AS spend,
  SUM(spend) / NULLIF(COUNT(DISTINCT IF(impressions > 0, user_id, NULL)), 0) * 1000 AS cost_per_thousand_reached
FROM
  exposures
GROUP BY
  ad_product,
  campaign_id_string,
  campaign
