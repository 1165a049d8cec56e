-- title: DSP performance by device and environment
-- description: DSP impressions, reach, frequency, cost and attributed purchases (traffic time) by
--   device type and environment (web or app), to weigh device bid adjustments.

WITH impressions_by_device AS (
  SELECT
    device_type,
    environment_type,
    SUM(impressions) AS impressions,
    COUNT(DISTINCT user_id) AS reach,
    SUM(total_cost) / 100000 AS cost
  FROM
    dsp_impressions
  GROUP BY
    device_type,
    environment_type
),
conversions_by_device AS (
  SELECT
    device_type,
    environment_type,
    SUM(purchases) AS purchases,
    SUM(product_sales) AS product_sales,
    COUNT(DISTINCT IF(purchases > 0, user_id, NULL)) AS purchasers
  FROM
    amazon_attributed_events_by_traffic_time
  WHERE
    ad_product_type IS NULL
  GROUP BY
    device_type,
    environment_type
)
SELECT
  i.device_type,
  i.environment_type,
  i.impressions,
  i.reach,
  i.impressions / NULLIF(i.reach, 0) AS average_frequency,
  i.cost,
  COALESCE(c.purchases, 0) AS purchases,
  COALESCE(c.product_sales, 0) AS product_sales,
  COALESCE(c.purchasers, 0) AS purchasers,
  COALESCE(c.purchasers, 0) / NULLIF(i.reach, 0) AS purchaser_rate,
  COALESCE(c.product_sales, 0) / NULLIF(i.cost, 0) AS roas
FROM
  impressions_by_device i
  LEFT JOIN conversions_by_device c
    ON c.device_type = i.device_type
    AND c.environment_type = i.environment_type
