-- title: New-to-brand purchases by week and ad product
-- description: How much of each ad product's attributed purchasing comes from customers new to the
--   brand (no brand purchase in the previous 12 months), by conversion week in the advertiser's time
--   zone. Uses the total_* columns (promoted products + brand halo). Differs from the built-in
--   report new_to_brand on purpose: one row per week of a longer window, with the new-to-brand
--   shares of purchases and sales; the report holds one week's additive metrics and units sold.
-- variant_of: new_to_brand

SELECT
  CAST(DATE_TRUNC('WEEK', conversion_event_date) AS DATE) AS week_start,
  COALESCE(ad_product_type, 'dsp') AS ad_product,
  SUM(total_purchases) AS purchases,
  SUM(new_to_brand_total_purchases) AS ntb_purchases,
  SUM(total_product_sales) AS product_sales,
  SUM(new_to_brand_total_product_sales) AS ntb_product_sales,
  COUNT(DISTINCT user_id) AS purchasers,
  COUNT(DISTINCT IF(new_to_brand_total_purchases > 0, user_id, NULL)) AS ntb_purchasers,
  SUM(new_to_brand_total_purchases) / NULLIF(SUM(total_purchases), 0) AS ntb_purchase_share,
  SUM(new_to_brand_total_product_sales) / NULLIF(SUM(total_product_sales), 0) AS ntb_sales_share
FROM
  amazon_attributed_events_by_conversion_time
WHERE
  total_purchases > 0
GROUP BY
  CAST(DATE_TRUNC('WEEK', conversion_event_date) AS DATE),
  COALESCE(ad_product_type, 'dsp')
