-- title: Traffic by day of week and hour of day
-- description: Impressions, clicks and spend of sponsored ads and DSP by day of the week
--   (1 = Sunday ... 7 = Saturday) and hour of the day, in the advertiser's time zone, to find the
--   hours worth dayparting. Day and hour come from the local *_date and *_hour columns (LOW
--   threshold); the *_dt timestamps would raise every row's threshold to 100 users.

WITH traffic AS (
  SELECT
    'sponsored_ads' AS channel,
    event_date AS local_date,
    event_hour AS local_hour,
    impressions,
    clicks,
    spend / 100000000 AS spend
  FROM
    sponsored_ads_traffic
  UNION ALL
  SELECT
    'dsp',
    impression_date,
    impression_hour,
    impressions,
    0,
    total_cost / 100000
  FROM
    dsp_impressions
  UNION ALL
  SELECT
    'dsp',
    click_date,
    click_hour,
    0,
    clicks,
    0
  FROM
    dsp_clicks
)
SELECT
  channel,
  EXTRACT(DOW FROM local_date) AS day_of_week,
  CASE EXTRACT(DOW FROM local_date)
    WHEN 1 THEN 'Sunday'
    WHEN 2 THEN 'Monday'
    WHEN 3 THEN 'Tuesday'
    WHEN 4 THEN 'Wednesday'
    WHEN 5 THEN 'Thursday'
    WHEN 6 THEN 'Friday'
    ELSE 'Saturday'
  END AS day_name,
  local_hour AS hour_of_day,
  SUM(impressions) AS impressions,
  SUM(clicks) AS clicks,
  SUM(spend) AS spend,
  SUM(clicks) / NULLIF(SUM(impressions), 0) AS ctr
FROM
  traffic
GROUP BY
  channel,
  EXTRACT(DOW FROM local_date),
  local_hour
