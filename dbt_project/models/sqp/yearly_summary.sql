-- SQP per account, marketplace and year (macros/sqp.sql: counts summed, a query's totals once per
-- week, shares and rates recomputed, no medians; a week counts in the year of its Wednesday).
{{ sqp_period_summary('year') }}
