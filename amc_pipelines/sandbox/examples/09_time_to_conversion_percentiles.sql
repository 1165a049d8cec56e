-- title: Time to conversion percentiles by ad product
-- description: Mean, median, quartiles and 90th percentile of the hours between an attributed ad
--   interaction and the purchase, by ad product, for purchases in the window (by conversion time).
--   Hours are counted between the hour-truncated timestamps (*_dt_hour_utc, LOW threshold), since
--   percentiles of exact (MEDIUM) timestamps would need 100 users per ad product.

WITH attributed_purchases AS (
  SELECT
    COALESCE(ad_product_type, 'dsp') AS ad_product,
    SECONDS_BETWEEN(traffic_event_dt_hour_utc, conversion_event_dt_hour_utc) / 3600 AS hours_to_conversion,
    user_id
  FROM
    amazon_attributed_events_by_conversion_time
  WHERE
    total_purchases > 0
)
SELECT
  ad_product,
  COUNT(*) AS attributed_purchase_events,
  COUNT(DISTINCT user_id) AS purchasers,
  AVG(hours_to_conversion) AS mean_hours,
  MEDIAN(hours_to_conversion) AS median_hours,
  APPROX_PERCENTILE(hours_to_conversion, 0.25) AS p25_hours,
  APPROX_PERCENTILE(hours_to_conversion, 0.75) AS p75_hours,
  APPROX_PERCENTILE(hours_to_conversion, 0.9) AS p90_hours,
  STDDEV_POP(hours_to_conversion) AS stddev_hours
FROM
  attributed_purchases
GROUP BY
  ad_product
