-- title: Custom last-touch attribution, 7-day lookback
-- description: Credits each purchase in the window to the last ad interaction of the buyer in the 7
--   days before it: the last click if there was one, otherwise the last impression, across sponsored
--   ads and DSP. Traffic tables are extended 7 days back so that early-window purchases see their
--   full lookback.

WITH purchases_in_window AS (
  SELECT
    conversion_id,
    user_id,
    event_dt_utc AS purchase_dt_utc,
    total_product_sales,
    total_units_sold
  FROM
    conversions
  WHERE
    event_category = 'purchase'
    AND user_id IS NOT NULL
),
touches AS (
  SELECT
    user_id,
    ad_product_type AS ad_product,
    campaign_id_string,
    campaign,
    event_dt_utc AS touch_dt_utc,
    IF(clicks > 0, 'click', 'impression') AS touch_type
  FROM
    TABLE(EXTEND_TIME_WINDOW('sponsored_ads_traffic', 'P7D', 'P0D'))
  WHERE
    user_id IS NOT NULL
  UNION ALL
  SELECT
    user_id,
    'dsp',
    campaign_id_string,
    campaign,
    impression_dt_utc,
    'impression'
  FROM
    TABLE(EXTEND_TIME_WINDOW('dsp_impressions', 'P7D', 'P0D'))
  WHERE
    user_id IS NOT NULL
  UNION ALL
  SELECT
    user_id,
    'dsp',
    campaign_id_string,
    campaign,
    click_dt_utc,
    'click'
  FROM
    TABLE(EXTEND_TIME_WINDOW('dsp_clicks', 'P7D', 'P0D'))
  WHERE
    user_id IS NOT NULL
),
ranked_touches AS (
  SELECT
    p.conversion_id,
    p.total_product_sales,
    p.total_units_sold,
    t.ad_product,
    t.campaign_id_string,
    t.campaign,
    t.touch_type,
    ROW_NUMBER() OVER (
      PARTITION BY p.conversion_id
      ORDER BY IF(t.touch_type = 'click', 1, 0) DESC, t.touch_dt_utc DESC, t.campaign_id_string
    ) AS touch_rank
  FROM
    purchases_in_window p
    JOIN touches t ON t.user_id = p.user_id
  WHERE
    t.touch_dt_utc <= p.purchase_dt_utc
    AND SECONDS_BETWEEN(t.touch_dt_utc, p.purchase_dt_utc) <= 7 * 86400
)
SELECT
  ad_product,
  campaign_id_string AS campaign_id,
  campaign,
  touch_type AS winning_touch_type,
  COUNT(DISTINCT conversion_id) AS attributed_purchases,
  SUM(total_units_sold) AS attributed_units,
  SUM(total_product_sales) AS attributed_sales
FROM
  ranked_touches
WHERE
  touch_rank = 1
GROUP BY
  ad_product,
  campaign_id_string,
  campaign,
  touch_type
