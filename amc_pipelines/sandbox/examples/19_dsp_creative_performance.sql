-- title: DSP creative performance
-- description: Impressions, reach, clicks, cost, attributed purchases and sales (traffic time,
--   promoted products) of every DSP creative, with CTR, eCPM and ROAS, to compare creatives and
--   creative sizes.

WITH creative_events AS (
  SELECT
    creative_id,
    creative,
    creative_type,
    creative_size,
    user_id,
    impressions,
    0 AS clicks,
    total_cost / 100000 AS cost,
    0 AS purchases,
    0 AS product_sales
  FROM
    dsp_impressions
  UNION ALL
  SELECT
    creative_id,
    creative,
    creative_type,
    creative_size,
    user_id,
    0,
    clicks,
    0,
    0,
    0
  FROM
    dsp_clicks
  UNION ALL
  SELECT
    creative_id,
    creative,
    creative_type,
    creative_size,
    user_id,
    0,
    0,
    0,
    purchases,
    product_sales
  FROM
    amazon_attributed_events_by_traffic_time
  WHERE
    ad_product_type IS NULL
)
SELECT
  creative_id,
  creative,
  creative_type,
  creative_size,
  SUM(impressions) AS impressions,
  COUNT(DISTINCT IF(impressions > 0, user_id, NULL)) AS reach,
  SUM(clicks) AS clicks,
  SUM(cost) AS cost,
  SUM(purchases) AS purchases,
  SUM(product_sales) AS product_sales,
  SUM(clicks) / NULLIF(SUM(impressions), 0) AS ctr,
  SUM(cost) / NULLIF(SUM(impressions), 0) * 1000 AS ecpm,
  SUM(product_sales) / NULLIF(SUM(cost), 0) AS roas
FROM
  creative_events
GROUP BY
  creative_id,
  creative,
  creative_type,
  creative_size
