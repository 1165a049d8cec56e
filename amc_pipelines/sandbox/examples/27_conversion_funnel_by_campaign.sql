-- title: Conversion funnel by campaign
-- description: Attributed detail page views, add-to-carts and purchases of every campaign (traffic
--   time, total_* columns) and the step-to-step rates of that funnel, next to the campaign's clicks.

WITH funnel_events AS (
  SELECT
    COALESCE(ad_product_type, 'dsp') AS ad_product,
    campaign_id_string,
    campaign,
    0 AS clicks,
    total_detail_page_view AS detail_page_views,
    total_add_to_cart AS add_to_carts,
    total_purchases AS purchases
  FROM
    amazon_attributed_events_by_traffic_time
  UNION ALL
  SELECT
    ad_product_type,
    campaign_id_string,
    campaign,
    clicks,
    0,
    0,
    0
  FROM
    sponsored_ads_traffic
  WHERE
    clicks > 0
  UNION ALL
  SELECT
    'dsp',
    campaign_id_string,
    campaign,
    clicks,
    0,
    0,
    0
  FROM
    dsp_clicks
)
SELECT
  ad_product,
  campaign_id_string AS campaign_id,
  campaign,
  SUM(clicks) AS clicks,
  SUM(detail_page_views) AS detail_page_views,
  SUM(add_to_carts) AS add_to_carts,
  SUM(purchases) AS purchases,
  SUM(add_to_carts) / NULLIF(SUM(detail_page_views), 0) AS add_to_cart_rate,
  SUM(purchases) / NULLIF(SUM(add_to_carts), 0) AS cart_to_purchase_rate,
  SUM(purchases) / NULLIF(SUM(clicks), 0) AS cvr
FROM
  funnel_events
GROUP BY
  ad_product,
  campaign_id_string,
  campaign
