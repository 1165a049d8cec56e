-- title: DSP frequency distribution and purchase rate by frequency bucket
-- description: How many users saw the DSP campaigns 1, 2, 3... times over the window, what share of
--   reach and impressions each frequency bucket holds, and how often each bucket purchased
--   (purchases attributed to DSP, by traffic time).

WITH impressions_per_user AS (
  SELECT
    user_id,
    SUM(impressions) AS impressions
  FROM
    dsp_impressions
  WHERE
    user_id IS NOT NULL
  GROUP BY
    user_id
),
dsp_purchasers AS (
  SELECT
    user_id,
    SUM(total_purchases) AS purchases
  FROM
    amazon_attributed_events_by_traffic_time
  WHERE
    ad_product_type IS NULL
    AND total_purchases > 0
    AND user_id IS NOT NULL
  GROUP BY
    user_id
),
bucketed_users AS (
  SELECT
    i.user_id,
    i.impressions,
    CASE
      WHEN i.impressions >= 21 THEN 21
      WHEN i.impressions >= 11 THEN 11
      WHEN i.impressions >= 6 THEN 6
      ELSE i.impressions
    END AS bucket_min_impressions,
    COALESCE(p.purchases, 0) AS purchases
  FROM
    impressions_per_user i
    LEFT JOIN dsp_purchasers p ON p.user_id = i.user_id
)
SELECT
  CASE
    WHEN bucket_min_impressions = 21 THEN '21+'
    WHEN bucket_min_impressions = 11 THEN '11-20'
    WHEN bucket_min_impressions = 6 THEN '6-10'
    ELSE CAST(bucket_min_impressions AS STRING)
  END AS frequency_bucket,
  bucket_min_impressions,
  COUNT(DISTINCT user_id) AS users,
  SUM(impressions) AS impressions,
  COUNT(DISTINCT IF(purchases > 0, user_id, NULL)) AS purchasers,
  SUM(purchases) AS purchases,
  COUNT(DISTINCT IF(purchases > 0, user_id, NULL)) / COUNT(DISTINCT user_id) AS purchase_rate,
  COUNT(DISTINCT user_id) / SUM(COUNT(DISTINCT user_id)) OVER () AS share_of_reach,
  SUM(impressions) / SUM(SUM(impressions)) OVER () AS share_of_impressions
FROM
  bucketed_users
GROUP BY
  bucket_min_impressions
