-- SQP per account, marketplace and week (macros/sqp.sql: counts summed, a query's totals once per
-- week, shares and rates recomputed, no medians).
{{ sqp_period_summary('week') }}
