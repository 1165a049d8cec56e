-- title: ASIN performance
-- description: Attributed purchases, units, sales and new-to-brand share of each purchased ASIN
--   (by conversion time), ranked by sales. The asins parameter restricts the report to a list of
--   ASINs; an empty list keeps every ASIN. Differs from the built-in report asin_performance on
--   purpose: it ranks the ASINs by sales and adds shares and the average unit price, computed
--   over every ASIN before the aggregation threshold removes rows; the report holds the additive
--   metrics, new-to-brand sales and brand-halo purchases among them.
-- variant_of: asin_performance
-- param: asins ARRAY<STRING> []

WITH asin_sales AS (
  SELECT
    tracked_asin,
    SUM(total_purchases) AS purchases,
    SUM(total_units_sold) AS units_sold,
    SUM(total_product_sales) AS product_sales,
    SUM(new_to_brand_total_purchases) AS ntb_purchases,
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
)
SELECT
  tracked_asin,
  purchases,
  units_sold,
  product_sales,
  purchasers,
  ntb_purchases / NULLIF(purchases, 0) AS ntb_purchase_share,
  brand_halo_purchases / NULLIF(purchases, 0) AS brand_halo_share,
  product_sales / NULLIF(units_sold, 0) AS average_unit_price,
  RANK() OVER (ORDER BY product_sales DESC) AS sales_rank,
  product_sales / SUM(product_sales) OVER () AS share_of_sales
FROM
  asin_sales
