-- Attributed purchasing by ad product, split into customers new to the brand (no brand purchase in
-- the previous 12 months) and returning ones. By conversion time, total_* columns.
SELECT
  COALESCE(ad_product_type, 'dsp') AS ad_product,
  SUM(total_purchases) AS purchases,
  SUM(new_to_brand_total_purchases) AS ntb_purchases,
  SUM(total_product_sales) AS sales,
  SUM(new_to_brand_total_product_sales) AS ntb_sales,
  SUM(total_units_sold) AS units,
  COUNT(DISTINCT user_id) AS purchasers,
  COUNT(DISTINCT IF(new_to_brand_total_purchases > 0, user_id, NULL)) AS ntb_purchasers
FROM
  amazon_attributed_events_by_conversion_time
WHERE
  total_purchases > 0
GROUP BY
  COALESCE(ad_product_type, 'dsp')
