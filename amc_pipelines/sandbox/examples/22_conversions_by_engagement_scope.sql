-- title: Conversions by campaign and engagement scope
-- description: Conversions relevant to each campaign split by engagement scope (PROMOTED products
--   or BRAND_HALO) and event category, from conversions_with_relevance. A conversion relevant to
--   several campaigns counts once for each of them.

SELECT
  campaign_id_string AS campaign_id,
  campaign,
  COALESCE(engagement_scope, 'UNSPECIFIED') AS engagement_scope,
  event_category,
  SUM(conversions) AS conversions,
  COUNT(DISTINCT conversion_id) AS distinct_conversions,
  COUNT(DISTINCT user_id) AS users,
  SUM(total_units_sold) AS units_sold,
  SUM(total_product_sales) AS product_sales,
  SUM(conversions) / SUM(SUM(conversions)) OVER (PARTITION BY campaign_id_string) AS share_of_campaign_conversions
FROM
  conversions_with_relevance
GROUP BY
  campaign_id_string,
  campaign,
  COALESCE(engagement_scope, 'UNSPECIFIED'),
  event_category
