"""The BigQuery -> Postgres refresh (issue 11): the BigQuery client for the project's settings so far.

No Dagster import here; ``google.cloud`` is imported only inside the functions that need it.
"""
