-- title: Top campaigns by attributed sales within each ad product
-- description: The top_n campaigns of each ad product by attributed sales (traffic time,
--   total_product_sales), with their rank, their share of the ad product's sales and the cumulative
--   share down the ranking.
-- param: top_n INTEGER 10

WITH campaign_sales AS (
  SELECT
    COALESCE(ad_product_type, 'dsp') AS ad_product,
    campaign_id_string,
    campaign,
    SUM(total_purchases) AS purchases,
    SUM(total_product_sales) AS product_sales,
    COUNT(DISTINCT user_id) AS purchasers
  FROM
    amazon_attributed_events_by_traffic_time
  WHERE
    total_purchases > 0
  GROUP BY
    COALESCE(ad_product_type, 'dsp'),
    campaign_id_string,
    campaign
),
ranked AS (
  SELECT
    ad_product,
    campaign_id_string,
    campaign,
    purchases,
    product_sales,
    purchasers,
    RANK() OVER (PARTITION BY ad_product ORDER BY product_sales DESC) AS sales_rank,
    ROW_NUMBER() OVER (PARTITION BY ad_product ORDER BY product_sales DESC, campaign_id_string) AS row_in_ranking,
    product_sales / SUM(product_sales) OVER (PARTITION BY ad_product) AS share_of_ad_product_sales,
    SUM(product_sales) OVER (
      PARTITION BY ad_product
      ORDER BY product_sales DESC, campaign_id_string
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) / SUM(product_sales) OVER (PARTITION BY ad_product) AS cumulative_share
  FROM
    campaign_sales
)
SELECT
  ad_product,
  campaign_id_string AS campaign_id,
  campaign,
  sales_rank,
  purchases,
  product_sales,
  purchasers,
  share_of_ad_product_sales,
  cumulative_share
FROM
  ranked
WHERE
  row_in_ranking <= CUSTOM_PARAMETER('top_n')
