-- title: KPIs by ad product, labelled through a VALUES table
-- description: CTR, CPC, CPM, CVR, ACOS and ROAS of each ad product over the window, with readable
--   ad product names and channel groups from an inline VALUES mapping. Sales are attributed by
--   traffic time, total_product_sales (promoted + brand halo).

WITH ad_product_labels (ad_product, ad_product_name, channel) AS (
  VALUES
    ('sponsored_products', 'Sponsored Products', 'Sponsored ads'),
    ('sponsored_brands', 'Sponsored Brands', 'Sponsored ads'),
    ('sponsored_display', 'Sponsored Display', 'Sponsored ads'),
    ('sponsored_television', 'Sponsored TV', 'Sponsored ads'),
    ('dsp', 'Amazon DSP', 'Programmatic')
),
traffic AS (
  SELECT
    ad_product_type AS ad_product,
    impressions,
    clicks,
    spend / 100000000 AS spend
  FROM
    sponsored_ads_traffic
  UNION ALL
  SELECT
    'dsp',
    impressions,
    0,
    total_cost / 100000
  FROM
    dsp_impressions
  UNION ALL
  SELECT
    'dsp',
    0,
    clicks,
    0
  FROM
    dsp_clicks
),
traffic_by_product AS (
  SELECT
    ad_product,
    SUM(impressions) AS impressions,
    SUM(clicks) AS clicks,
    SUM(spend) AS spend
  FROM
    traffic
  GROUP BY
    ad_product
),
conversions_by_product AS (
  SELECT
    COALESCE(ad_product_type, 'dsp') AS ad_product,
    SUM(total_purchases) AS purchases,
    SUM(total_product_sales) AS product_sales
  FROM
    amazon_attributed_events_by_traffic_time
  GROUP BY
    COALESCE(ad_product_type, 'dsp')
)
SELECT
  COALESCE(l.ad_product_name, t.ad_product) AS ad_product_name,
  COALESCE(l.channel, 'Other') AS channel,
  t.impressions,
  t.clicks,
  t.spend,
  COALESCE(c.purchases, 0) AS purchases,
  COALESCE(c.product_sales, 0) AS product_sales,
  t.clicks / NULLIF(t.impressions, 0) AS ctr,
  t.spend / NULLIF(t.clicks, 0) AS cpc,
  t.spend / NULLIF(t.impressions, 0) * 1000 AS cpm,
  c.purchases / NULLIF(t.clicks, 0) AS cvr,
  t.spend / NULLIF(c.product_sales, 0) * 100 AS acos,
  c.product_sales / NULLIF(t.spend, 0) AS roas
FROM
  traffic_by_product t
  LEFT JOIN ad_product_labels l ON l.ad_product = t.ad_product
  LEFT JOIN conversions_by_product c ON c.ad_product = t.ad_product
