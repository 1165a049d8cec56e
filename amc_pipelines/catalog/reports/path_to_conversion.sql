-- The order in which users first met each ad product (DSP, SP, SB, SD, STV) in the window before
-- their first attributed purchase, how many users followed each path and how many of them bought.
-- Touch points after a user's first purchase are left out of that user's path.
WITH first_touches AS (
  SELECT
    user_id,
    'DSP' AS channel,
    MIN(impression_dt_utc) AS first_touch_utc
  FROM
    dsp_impressions
  WHERE
    user_id IS NOT NULL
  GROUP BY
    user_id
  UNION ALL
  SELECT
    user_id,
    CASE ad_product_type
      WHEN 'sponsored_products' THEN 'SP'
      WHEN 'sponsored_brands' THEN 'SB'
      WHEN 'sponsored_display' THEN 'SD'
      ELSE 'STV'
    END AS channel,
    MIN(event_dt_utc) AS first_touch_utc
  FROM
    sponsored_ads_traffic
  WHERE
    user_id IS NOT NULL
    AND impressions > 0
  GROUP BY
    user_id,
    ad_product_type
),
purchasers AS (
  SELECT
    user_id,
    MIN(conversion_event_dt_utc) AS first_purchase_utc,
    SUM(total_purchases) AS purchases,
    SUM(total_product_sales) AS sales
  FROM
    amazon_attributed_events_by_traffic_time
  WHERE
    total_purchases > 0
    AND user_id IS NOT NULL
  GROUP BY
    user_id
),
ordered_touches AS (
  SELECT
    t.user_id,
    t.channel,
    ROW_NUMBER() OVER (PARTITION BY t.user_id ORDER BY t.first_touch_utc, t.channel) AS step
  FROM
    first_touches t
    LEFT JOIN purchasers p ON p.user_id = t.user_id
  WHERE
    p.user_id IS NULL
    OR t.first_touch_utc < p.first_purchase_utc
),
paths AS (
  SELECT
    user_id,
    -- steps are single digits (at most five channels), so the strings sort in step order
    ARRAY_TO_STRING(ARRAY_SORT(COLLECT(CONCAT(CAST(step AS STRING), ':', channel))), ' > ') AS path,
    MAX(step) AS path_length
  FROM
    ordered_touches
  GROUP BY
    user_id
)
SELECT
  p.path,
  p.path_length,
  COUNT(DISTINCT p.user_id) AS users,
  COUNT(DISTINCT c.user_id) AS purchasers,
  COALESCE(SUM(c.purchases), 0) AS purchases,
  COALESCE(SUM(c.sales), 0) AS sales
FROM
  paths p
  LEFT JOIN purchasers c ON c.user_id = p.user_id
GROUP BY
  p.path,
  p.path_length
