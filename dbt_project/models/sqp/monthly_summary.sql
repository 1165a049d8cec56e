-- SQP per account, marketplace and month (macros/sqp.sql: counts summed, a query's totals once per
-- week, shares and rates recomputed, no medians; a week counts in the month of its Wednesday).
{{ sqp_period_summary('month') }}
