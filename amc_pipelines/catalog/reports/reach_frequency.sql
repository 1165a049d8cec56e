-- Unique users reached, impressions and spend of every sponsored ads and DSP campaign in the window.
-- Average frequency = impressions / reach; reach is not additive across weeks or campaigns.
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
  SUM(spend) AS spend
FROM
  exposures
GROUP BY
  ad_product,
  campaign_id_string,
  campaign
HAVING
  SUM(impressions) >= CUSTOM_PARAMETER('min_impressions')
