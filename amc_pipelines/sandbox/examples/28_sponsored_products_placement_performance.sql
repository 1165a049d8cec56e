-- title: Sponsored Products performance by placement
-- description: Impressions, clicks, spend and attributed sales (traffic time) of Sponsored Products
--   by placement (top of search, product pages...), with CTR, CPC and ROAS. Conversions are joined
--   to their traffic event (traffic_event_id = event_id) to learn the placement that earned them.

WITH placement_traffic AS (
  SELECT
    placement_type,
    SUM(impressions) AS impressions,
    SUM(clicks) AS clicks,
    SUM(spend) / 100000000 AS spend
  FROM
    sponsored_ads_traffic
  WHERE
    ad_product_type = 'sponsored_products'
  GROUP BY
    placement_type
),
placement_conversions AS (
  -- the placement is read from the traffic event that earned each conversion
  SELECT
    t.placement_type,
    SUM(a.total_purchases) AS purchases,
    SUM(a.total_product_sales) AS product_sales
  FROM
    amazon_attributed_events_by_traffic_time a
    JOIN sponsored_ads_traffic t ON t.event_id = a.traffic_event_id
  WHERE
    a.ad_product_type = 'sponsored_products'
  GROUP BY
    t.placement_type
)
SELECT
  COALESCE(t.placement_type, 'unknown') AS placement_type,
  t.impressions,
  t.clicks,
  t.spend,
  COALESCE(c.purchases, 0) AS purchases,
  COALESCE(c.product_sales, 0) AS product_sales,
  t.clicks / NULLIF(t.impressions, 0) AS ctr,
  t.spend / NULLIF(t.clicks, 0) AS cpc,
  COALESCE(c.product_sales, 0) / NULLIF(t.spend, 0) AS roas
FROM
  placement_traffic t
  LEFT JOIN placement_conversions c ON c.placement_type = t.placement_type
