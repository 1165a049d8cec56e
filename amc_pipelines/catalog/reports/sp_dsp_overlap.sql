-- Users reached by Sponsored Products only, by DSP only, or by both in the window, and how many of
-- each group purchased the brand (purchase events of the conversions table in the window).
WITH exposures AS (
  SELECT
    user_id,
    1 AS saw_sp,
    0 AS saw_dsp
  FROM
    sponsored_ads_traffic
  WHERE
    ad_product_type = 'sponsored_products'
    AND impressions > 0
    AND user_id IS NOT NULL
  GROUP BY
    user_id
  UNION ALL
  SELECT
    user_id,
    0 AS saw_sp,
    1 AS saw_dsp
  FROM
    dsp_impressions
  WHERE
    user_id IS NOT NULL
  GROUP BY
    user_id
),
exposure_by_user AS (
  SELECT
    user_id,
    MAX(saw_sp) AS saw_sp,
    MAX(saw_dsp) AS saw_dsp
  FROM
    exposures
  GROUP BY
    user_id
),
purchasers AS (
  SELECT
    user_id,
    SUM(conversions) AS purchases,
    SUM(total_product_sales) AS sales
  FROM
    conversions
  WHERE
    event_category = 'purchase'
    AND user_id IS NOT NULL
  GROUP BY
    user_id
),
grouped_users AS (
  SELECT
    CASE
      WHEN e.saw_sp = 1 AND e.saw_dsp = 1 THEN 'SP and DSP'
      WHEN e.saw_sp = 1 THEN 'SP only'
      ELSE 'DSP only'
    END AS exposure_group,
    e.user_id,
    p.user_id AS purchaser_id,
    p.purchases,
    p.sales
  FROM
    exposure_by_user e
    LEFT JOIN purchasers p ON p.user_id = e.user_id
)
SELECT
  exposure_group,
  COUNT(DISTINCT user_id) AS users,
  COUNT(DISTINCT purchaser_id) AS purchasers,
  COALESCE(SUM(purchases), 0) AS purchases,
  COALESCE(SUM(sales), 0) AS sales
FROM
  grouped_users
GROUP BY
  exposure_group
