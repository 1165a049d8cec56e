-- title: Sponsored Products search term performance
-- description: For every Sponsored Products campaign and customer search term: impressions, clicks,
--   spend, attributed purchases and sales (traffic time), CTR, CPC, conversion rate, ACOS and ROAS.
--   Search terms that drove clicks but no purchase are kept (LEFT JOIN).

WITH search_term_traffic AS (
  SELECT
    campaign_id_string,
    campaign,
    customer_search_term,
    SUM(impressions) AS impressions,
    SUM(clicks) AS clicks,
    SUM(spend) / 100000000 AS spend,
    COUNT(DISTINCT user_id) AS users
  FROM
    sponsored_ads_traffic
  WHERE
    ad_product_type = 'sponsored_products'
    AND customer_search_term IS NOT NULL
  GROUP BY
    campaign_id_string,
    campaign,
    customer_search_term
),
search_term_conversions AS (
  SELECT
    campaign_id_string,
    customer_search_term,
    SUM(total_purchases) AS purchases,
    SUM(total_product_sales) AS product_sales
  FROM
    amazon_attributed_events_by_traffic_time
  WHERE
    ad_product_type = 'sponsored_products'
    AND customer_search_term IS NOT NULL
  GROUP BY
    campaign_id_string,
    customer_search_term
)
SELECT
  t.campaign_id_string AS campaign_id,
  t.campaign,
  t.customer_search_term,
  t.impressions,
  t.clicks,
  t.spend,
  COALESCE(c.purchases, 0) AS purchases,
  COALESCE(c.product_sales, 0) AS product_sales,
  t.clicks / NULLIF(t.impressions, 0) AS ctr,
  t.spend / NULLIF(t.clicks, 0) AS cpc,
  COALESCE(c.purchases, 0) / NULLIF(t.clicks, 0) AS cvr,
  t.spend / NULLIF(c.product_sales, 0) * 100 AS acos,
  COALESCE(c.product_sales, 0) / NULLIF(t.spend, 0) AS roas
FROM
  search_term_traffic t
  LEFT JOIN search_term_conversions c
    ON c.campaign_id_string = t.campaign_id_string
    AND c.customer_search_term = t.customer_search_term
