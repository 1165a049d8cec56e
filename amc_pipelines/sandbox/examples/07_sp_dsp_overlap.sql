-- title: Sponsored Products and DSP audience overlap
-- description: Users reached by Sponsored Products only, by DSP only, or by both over the window,
--   and the share of each group that purchased the brand (purchase events in the conversions table
--   during the window).

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
  CASE
    WHEN e.saw_sp = 1 AND e.saw_dsp = 1 THEN 'SP and DSP'
    WHEN e.saw_sp = 1 THEN 'SP only'
    ELSE 'DSP only'
  END AS exposure_group,
  COUNT(DISTINCT e.user_id) AS users,
  COUNT(DISTINCT p.user_id) AS purchasers,
  COALESCE(SUM(p.purchases), 0) AS purchases,
  COALESCE(SUM(p.product_sales), 0) AS product_sales,
  COUNT(DISTINCT p.user_id) / COUNT(DISTINCT e.user_id) AS purchase_rate
FROM
  exposure_by_user e
  LEFT JOIN purchasers p ON p.user_id = e.user_id
GROUP BY
  CASE
    WHEN e.saw_sp = 1 AND e.saw_dsp = 1 THEN 'SP and DSP'
    WHEN e.saw_sp = 1 THEN 'SP only'
    ELSE 'DSP only'
  END
