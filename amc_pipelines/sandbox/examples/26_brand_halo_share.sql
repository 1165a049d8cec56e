-- title: Promoted versus brand halo sales by campaign
-- description: How much of each campaign's attributed sales (traffic time) comes from the promoted
--   products and how much from other products of the same brand (brand halo).

SELECT
  COALESCE(ad_product_type, 'dsp') AS ad_product,
  campaign_id_string AS campaign_id,
  campaign,
  SUM(purchases) AS promoted_purchases,
  SUM(brand_halo_purchases) AS brand_halo_purchases,
  SUM(product_sales) AS promoted_sales,
  SUM(brand_halo_product_sales) AS brand_halo_sales,
  SUM(total_product_sales) AS total_sales,
  SUM(brand_halo_product_sales) / NULLIF(SUM(total_product_sales), 0) AS brand_halo_sales_share
FROM
  amazon_attributed_events_by_traffic_time
WHERE
  total_purchases > 0
GROUP BY
  COALESCE(ad_product_type, 'dsp'),
  campaign_id_string,
  campaign
