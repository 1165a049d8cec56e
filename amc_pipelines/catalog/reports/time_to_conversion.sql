-- For purchases attributed in the window (by conversion time), the time between the attributed ad
-- interaction and the purchase, in buckets, by ad product. The lag is measured between the
-- hour-truncated timestamps (*_dt_hour_utc, LOW threshold): exact timestamps (MEDIUM) would need
-- 100 users in every bucket.
WITH attributed_purchases AS (
  SELECT
    COALESCE(ad_product_type, 'dsp') AS ad_product,
    SECONDS_BETWEEN(traffic_event_dt_hour_utc, conversion_event_dt_hour_utc) / 3600 AS hours_to_conversion,
    total_purchases,
    total_product_sales,
    user_id
  FROM
    amazon_attributed_events_by_conversion_time
  WHERE
    total_purchases > 0
),
bucketed AS (
  SELECT
    ad_product,
    CASE
      WHEN hours_to_conversion < 1 THEN '1: same hour'
      WHEN hours_to_conversion < 24 THEN '2: 1-23 hours'
      WHEN hours_to_conversion < 3 * 24 THEN '3: 1-3 days'
      WHEN hours_to_conversion < 7 * 24 THEN '4: 3-7 days'
      WHEN hours_to_conversion < 14 * 24 THEN '5: 7-14 days'
      ELSE '6: 14 days or more'
    END AS time_to_conversion,
    total_purchases,
    total_product_sales,
    user_id
  FROM
    attributed_purchases
)
SELECT
  ad_product,
  time_to_conversion,
  SUM(total_purchases) AS purchases,
  SUM(total_product_sales) AS sales,
  COUNT(DISTINCT user_id) AS purchasers
FROM
  bucketed
GROUP BY
  ad_product,
  time_to_conversion
