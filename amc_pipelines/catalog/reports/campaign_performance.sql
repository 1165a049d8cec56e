-- Delivery, spend and attributed conversions of every sponsored ads and DSP campaign in the window,
-- per day. Spend in local currency: sponsored ads microcents / 1e8, DSP millicents / 1e5. Conversions
-- by traffic time, total_* columns (promoted products + brand halo). event_date is the traffic date
-- in the advertiser's time zone, the zone of the execution window, so a week's execution holds exactly
-- its seven dates and any calendar month is the sum of its days. currency: the currency AMC reports the
-- money in (currency_iso_code of traffic, purchase_currency of conversions), checked against the
-- instance's marketplace before the marts are built.
WITH traffic_and_conversions AS (
  SELECT
    ad_product_type AS ad_product,
    campaign_id,
    campaign_id_string,
    campaign,
    event_date,
    currency_iso_code AS currency,
    impressions,
    clicks,
    spend / 100000000 AS spend,
    0 AS purchases,
    0 AS sales,
    0 AS ntb_purchases,
    0 AS ntb_sales
  FROM
    sponsored_ads_traffic
  UNION ALL
  SELECT
    'dsp',
    campaign_id,
    campaign_id_string,
    campaign,
    impression_date,
    currency_iso_code,
    impressions,
    0,
    total_cost / 100000,
    0,
    0,
    0,
    0
  FROM
    dsp_impressions
  UNION ALL
  SELECT
    'dsp',
    campaign_id,
    campaign_id_string,
    campaign,
    click_date,
    currency_iso_code,
    0,
    clicks,
    0,
    0,
    0,
    0,
    0
  FROM
    dsp_clicks
  UNION ALL
  -- ad_product_type is NULL for DSP traffic in the attributed-events tables
  SELECT
    COALESCE(ad_product_type, 'dsp'),
    campaign_id,
    campaign_id_string,
    campaign,
    traffic_event_date,
    purchase_currency,
    0,
    0,
    0,
    total_purchases,
    total_product_sales,
    new_to_brand_total_purchases,
    new_to_brand_total_product_sales
  FROM
    amazon_attributed_events_by_traffic_time
)
SELECT
  ad_product,
  campaign_id_string AS campaign_id,
  campaign,
  event_date,
  currency,
  SUM(impressions) AS impressions,
  SUM(clicks) AS clicks,
  SUM(spend) AS spend,
  SUM(purchases) AS purchases,
  SUM(sales) AS sales,
  SUM(ntb_purchases) AS ntb_purchases,
  SUM(ntb_sales) AS ntb_sales
FROM
  traffic_and_conversions
WHERE
  CARDINALITY(CUSTOM_PARAMETER('campaign_ids')) = 0
  OR ARRAY_CONTAINS(CUSTOM_PARAMETER('campaign_ids'), campaign_id)
GROUP BY
  ad_product,
  campaign_id_string,
  campaign,
  event_date,
  currency
