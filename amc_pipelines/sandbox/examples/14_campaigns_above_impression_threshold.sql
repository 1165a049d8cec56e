-- title: Campaigns above a minimum number of impressions
-- description: Delivery and cost efficiency (CTR, CPC, CPM) of the sponsored ads and DSP campaigns
--   that served at least min_impressions impressions in the window, so that thinly delivered
--   campaigns do not clutter the comparison.
-- param: min_impressions LONG 1000

WITH traffic AS (
  SELECT
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
  ad_product,
  campaign_id_string AS campaign_id,
  campaign,
  SUM(impressions) AS impressions,
  SUM(clicks) AS clicks,
  SUM(spend) AS spend,
  SUM(clicks) / NULLIF(SUM(impressions), 0) AS ctr,
  SUM(spend) / NULLIF(SUM(clicks), 0) AS cpc,
  SUM(spend) / NULLIF(SUM(impressions), 0) * 1000 AS cpm
FROM
  traffic
GROUP BY
  ad_product,
  campaign_id_string,
  campaign
HAVING
  SUM(impressions) >= CUSTOM_PARAMETER('min_impressions')
