-- Attributed purchases, units and sales of each purchased ASIN in the window (by conversion time,
-- total_* columns), with the new-to-brand part. The asins parameter restricts the report to a list
-- of ASINs; an empty list keeps every ASIN.
SELECT
  tracked_asin AS asin,
  SUM(total_purchases) AS purchases,
  SUM(total_units_sold) AS units,
  SUM(total_product_sales) AS sales,
  SUM(new_to_brand_total_purchases) AS ntb_purchases,
  SUM(new_to_brand_total_product_sales) AS ntb_sales,
  SUM(brand_halo_purchases) AS brand_halo_purchases,
  COUNT(DISTINCT user_id) AS purchasers
FROM
  amazon_attributed_events_by_conversion_time
WHERE
  total_purchases > 0
  AND tracked_asin IS NOT NULL
  AND (
    CARDINALITY(CUSTOM_PARAMETER('asins')) = 0
    OR ARRAY_CONTAINS(CUSTOM_PARAMETER('asins'), tracked_asin)
  )
GROUP BY
  tracked_asin
