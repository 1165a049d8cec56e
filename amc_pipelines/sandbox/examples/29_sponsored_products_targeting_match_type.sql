-- title: Sponsored Products targeting and match type performance
-- description: Clicks, spend, attributed purchases and ACOS of each Sponsored Products targeting
--   expression (keyword or product target) and match type, traffic time, total_* columns.

WITH targeting_events AS (
  SELECT
    targeting,
    match_type,
    impressions,
    clicks,
    spend / 100000000 AS spend,
    0 AS purchases,
    0 AS product_sales
  FROM
    sponsored_ads_traffic
  WHERE
    ad_product_type = 'sponsored_products'
  UNION ALL
  SELECT
    targeting,
    match_type,
    0,
    0,
    0,
    total_purchases,
    total_product_sales
  FROM
    amazon_attributed_events_by_traffic_time
  WHERE
    ad_product_type = 'sponsored_products'
)
SELECT
  targeting,
  match_type,
  SUM(impressions) AS impressions,
  SUM(clicks) AS clicks,
  SUM(spend) AS spend,
  SUM(purchases) AS purchases,
  SUM(product_sales) AS product_sales,
  SUM(purchases) / NULLIF(SUM(clicks), 0) AS cvr,
  SUM(spend) / NULLIF(SUM(product_sales), 0) * 100 AS acos
FROM
  targeting_events
GROUP BY
  targeting,
  match_type
