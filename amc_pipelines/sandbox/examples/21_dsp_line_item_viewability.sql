-- title: DSP line item delivery and viewability
-- description: Impressions, cost and CPM of every DSP line item next to its viewability
--   (viewable / measurable impressions from dsp_views). A FULL JOIN keeps line items that appear
--   in only one of the two tables.

WITH line_item_impressions AS (
  SELECT
    line_item_id,
    line_item,
    campaign,
    SUM(impressions) AS impressions,
    SUM(total_cost) / 100000 AS cost,
    COUNT(DISTINCT user_id) AS reach
  FROM
    dsp_impressions
  GROUP BY
    line_item_id,
    line_item,
    campaign
),
line_item_views AS (
  SELECT
    line_item_id,
    line_item,
    campaign,
    SUM(viewable_impressions) AS viewable_impressions,
    SUM(measurable_impressions) AS measurable_impressions
  FROM
    dsp_views
  GROUP BY
    line_item_id,
    line_item,
    campaign
)
SELECT
  COALESCE(i.line_item_id, v.line_item_id) AS line_item_id,
  COALESCE(i.line_item, v.line_item) AS line_item,
  COALESCE(i.campaign, v.campaign) AS campaign,
  COALESCE(i.impressions, 0) AS impressions,
  COALESCE(i.reach, 0) AS reach,
  COALESCE(i.cost, 0) AS cost,
  i.cost / NULLIF(i.impressions, 0) * 1000 AS cpm,
  COALESCE(v.viewable_impressions, 0) AS viewable_impressions,
  COALESCE(v.measurable_impressions, 0) AS measurable_impressions,
  v.viewable_impressions / NULLIF(v.measurable_impressions, 0) AS viewability_rate
FROM
  line_item_impressions i
  FULL OUTER JOIN line_item_views v ON v.line_item_id = i.line_item_id
