-- title: New and cumulative reach by week
-- description: Users reached for the first time in each week of the window (sponsored ads or DSP),
--   and the cumulative unique reach week by week: how fast the campaigns stop finding new people.
--   Weeks in the advertiser's time zone.

WITH exposures AS (
  SELECT
    user_id,
    event_date AS exposure_date
  FROM
    sponsored_ads_traffic
  WHERE
    impressions > 0
    AND user_id IS NOT NULL
  UNION ALL
  SELECT
    user_id,
    impression_date
  FROM
    dsp_impressions
  WHERE
    user_id IS NOT NULL
),
first_exposure AS (
  SELECT
    user_id,
    CAST(DATE_TRUNC('WEEK', MIN(exposure_date)) AS DATE) AS first_week
  FROM
    exposures
  GROUP BY
    user_id
),
weekly_reach AS (
  SELECT
    CAST(DATE_TRUNC('WEEK', exposure_date) AS DATE) AS week_start,
    COUNT(DISTINCT user_id) AS users_reached
  FROM
    exposures
  GROUP BY
    CAST(DATE_TRUNC('WEEK', exposure_date) AS DATE)
),
new_reach AS (
  SELECT
    first_week AS week_start,
    COUNT(DISTINCT user_id) AS new_users
  FROM
    first_exposure
  GROUP BY
    first_week
)
SELECT
  w.week_start,
  w.users_reached,
  COALESCE(n.new_users, 0) AS new_users,
  SUM(COALESCE(n.new_users, 0)) OVER (ORDER BY w.week_start ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cumulative_reach,
  COALESCE(n.new_users, 0) / w.users_reached AS new_user_share
FROM
  weekly_reach w
  LEFT JOIN new_reach n ON n.week_start = w.week_start
