-- title: Daily spend pacing by campaign
-- description: Each campaign's daily spend with its running total through the window and the share
--   of its window spend reached by each day, to spot campaigns that front-load or stall. Days in the
--   advertiser's time zone.

WITH daily_spend AS (
  SELECT
    event_date AS spend_date,
    ad_product_type AS ad_product,
    campaign_id_string,
    campaign,
    SUM(spend) / 100000000 AS spend
  FROM
    sponsored_ads_traffic
  GROUP BY
    event_date,
    ad_product_type,
    campaign_id_string,
    campaign
  UNION ALL
  SELECT
    impression_date,
    'dsp',
    campaign_id_string,
    campaign,
    SUM(total_cost) / 100000
  FROM
    dsp_impressions
  GROUP BY
    impression_date,
    campaign_id_string,
    campaign
)
SELECT
  spend_date,
  ad_product,
  campaign_id_string AS campaign_id,
  campaign,
  spend,
  SUM(spend) OVER (
    PARTITION BY ad_product, campaign_id_string
    ORDER BY spend_date
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
  ) AS cumulative_spend,
  SUM(spend) OVER (
    PARTITION BY ad_product, campaign_id_string
    ORDER BY spend_date
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
  ) / NULLIF(SUM(spend) OVER (PARTITION BY ad_product, campaign_id_string), 0) AS share_of_window_spend
FROM
  daily_spend
