"""The BigQuery -> Postgres refresh (issue 11): the BigQuery client for the project's settings
(``bigquery``), the table registry (``models``, ``registry``), operators' overrides
(``overrides``) and discovery of unconfigured tables (``discovery``).

No Dagster import here; ``google.cloud`` and sqlglot are imported only inside the functions that need them.
"""
