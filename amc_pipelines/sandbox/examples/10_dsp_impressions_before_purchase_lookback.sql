-- title: DSP impressions in the 14 days before a purchase
-- description: For purchases made in the window, the DSP impressions the buyer saw in the 14 days
--   before buying, by campaign. DSP impressions are read with EXTEND_TIME_WINDOW so that impressions
--   served up to 14 days before the window start still count.

WITH purchases_in_window AS (
  SELECT
    conversion_id,
    user_id,
    event_dt_utc AS purchase_dt_utc
  FROM
    conversions
  WHERE
    event_category = 'purchase'
    AND user_id IS NOT NULL
),
lookback_impressions AS (
  SELECT
    user_id,
    campaign_id_string,
    campaign,
    impression_dt_utc,
    impressions
  FROM
    TABLE(EXTEND_TIME_WINDOW('dsp_impressions', 'P14D', 'P0D'))
  WHERE
    user_id IS NOT NULL
),
impressions_before_purchase AS (
  SELECT
    p.conversion_id,
    p.user_id,
    i.campaign_id_string,
    i.campaign,
    SUM(i.impressions) AS impressions,
    MIN(SECONDS_BETWEEN(i.impression_dt_utc, p.purchase_dt_utc)) AS seconds_since_last_impression
  FROM
    purchases_in_window p
    JOIN lookback_impressions i ON i.user_id = p.user_id
  WHERE
    i.impression_dt_utc < p.purchase_dt_utc
    AND SECONDS_BETWEEN(i.impression_dt_utc, p.purchase_dt_utc) <= 14 * 86400
  GROUP BY
    p.conversion_id,
    p.user_id,
    i.campaign_id_string,
    i.campaign
)
SELECT
  campaign_id_string AS campaign_id,
  campaign,
  COUNT(DISTINCT user_id) AS purchasers_reached,
  COUNT(DISTINCT conversion_id) AS purchases_after_impression,
  SUM(impressions) AS impressions_in_lookback,
  SUM(impressions) / COUNT(DISTINCT conversion_id) AS impressions_per_purchase,
  AVG(seconds_since_last_impression) / 3600 AS mean_hours_since_last_impression
FROM
  impressions_before_purchase
GROUP BY
  campaign_id_string,
  campaign
