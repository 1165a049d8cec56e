-- title: Sponsored ads and DSP traffic by day
-- description: Daily impressions, clicks, spend and reach of sponsored ads and DSP side by side (one
--   UNION ALL of both traffic sources), days in the advertiser's time zone.

WITH traffic AS (
  SELECT
    event_date AS traffic_date,
    'sponsored_ads' AS channel,
    user_id,
    impressions,
    clicks,
    spend / 100000000 AS spend
  FROM
    sponsored_ads_traffic
  UNION ALL
  SELECT
    impression_date,
    'dsp',
    user_id,
    impressions,
    0,
    total_cost / 100000
  FROM
    dsp_impressions
  UNION ALL
  SELECT
    click_date,
    'dsp',
    user_id,
    0,
    clicks,
    0
  FROM
    dsp_clicks
)
SELECT
  traffic_date,
  channel,
  SUM(impressions) AS impressions,
  SUM(clicks) AS clicks,
  SUM(spend) AS spend,
  COUNT(DISTINCT IF(impressions > 0, user_id, NULL)) AS reach,
  SUM(spend) / SUM(SUM(spend)) OVER (PARTITION BY traffic_date) AS share_of_daily_spend
FROM
  traffic
GROUP BY
  traffic_date,
  channel
