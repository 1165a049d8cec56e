-- title: New-to-brand customers by campaign
-- description: New-to-brand purchasers, purchases and sales of every campaign (traffic time,
--   total_* columns), the campaign's NTB share, and its rank by NTB sales within its ad product:
--   which campaigns bring new customers rather than returning ones.

WITH campaign_ntb AS (
  SELECT
    COALESCE(ad_product_type, 'dsp') AS ad_product,
    campaign_id_string,
    campaign,
    COUNT(DISTINCT user_id) AS purchasers,
    COUNT(DISTINCT IF(new_to_brand_total_purchases > 0, user_id, NULL)) AS ntb_purchasers,
    SUM(total_purchases) AS purchases,
    SUM(new_to_brand_total_purchases) AS ntb_purchases,
    SUM(total_product_sales) AS product_sales,
    SUM(new_to_brand_total_product_sales) AS ntb_product_sales
  FROM
    amazon_attributed_events_by_traffic_time
  WHERE
    total_purchases > 0
  GROUP BY
    COALESCE(ad_product_type, 'dsp'),
    campaign_id_string,
    campaign
)
SELECT
  ad_product,
  campaign_id_string AS campaign_id,
  campaign,
  purchasers,
  ntb_purchasers,
  purchases,
  ntb_purchases,
  product_sales,
  ntb_product_sales,
  ntb_purchases / NULLIF(purchases, 0) AS ntb_purchase_share,
  ntb_product_sales / NULLIF(product_sales, 0) AS ntb_sales_share,
  DENSE_RANK() OVER (PARTITION BY ad_product ORDER BY ntb_product_sales DESC) AS ntb_sales_rank
FROM
  campaign_ntb
