-- title: Purchase rate by channel mix
-- description: Users grouped by the combination of ad products they were exposed to in the window
--   (e.g. "DSP + SD + SP"), with the share of each group that purchased the brand (purchase events
--   in the conversions table).

WITH exposures AS (
  SELECT
    user_id,
    CASE ad_product_type
      WHEN 'sponsored_products' THEN 'SP'
      WHEN 'sponsored_brands' THEN 'SB'
      WHEN 'sponsored_display' THEN 'SD'
      ELSE 'STV'
    END AS channel
  FROM
    sponsored_ads_traffic
  WHERE
    impressions > 0
    AND user_id IS NOT NULL
  UNION ALL
  SELECT
    user_id,
    'DSP'
  FROM
    dsp_impressions
  WHERE
    user_id IS NOT NULL
),
channel_mix_by_user AS (
  SELECT
    user_id,
    ARRAY_TO_STRING(ARRAY_SORT(COLLECT(DISTINCT channel)), ' + ') AS channel_mix,
    CARDINALITY(COLLECT(DISTINCT channel)) AS channel_count
  FROM
    exposures
  GROUP BY
    user_id
),
purchasers AS (
  SELECT
    user_id,
    SUM(conversions) AS purchases,
    SUM(total_product_sales) AS product_sales
  FROM
    conversions
  WHERE
    event_category = 'purchase'
    AND user_id IS NOT NULL
  GROUP BY
    user_id
)
SELECT
  m.channel_mix,
  m.channel_count,
  COUNT(DISTINCT m.user_id) AS users,
  COUNT(DISTINCT p.user_id) AS purchasers,
  COALESCE(SUM(p.purchases), 0) AS purchases,
  COALESCE(SUM(p.product_sales), 0) AS product_sales,
  COUNT(DISTINCT p.user_id) / COUNT(DISTINCT m.user_id) AS purchase_rate
FROM
  channel_mix_by_user m
  LEFT JOIN purchasers p ON p.user_id = m.user_id
GROUP BY
  m.channel_mix,
  m.channel_count
