"""The BigQuery resource of the refresh: dagster-gcp's ``BigQueryResource`` with an API endpoint.

Imported only by a run that talks to BigQuery (``defs/bigquery_refresh`` registers it lazily):
dagster-gcp imports google-cloud-bigquery and pandas, about 2 s that every other run process of the
code location would otherwise pay.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

from dagster_gcp import BigQueryResource
from google.cloud import bigquery
from pydantic import Field

from amc_pipelines.settings import Settings, get_settings


class RefreshBigQueryResource(BigQueryResource):
    """``BigQueryResource`` plus ``api_endpoint``. Unset fields come from the settings
    (``AMC_BIGQUERY_ENDPOINT``, ``_PROJECT``, ``_LOCATION``). The client is the refresh's own
    (``refresh.bigquery.bigquery_client``): anonymous credentials for the stand-in, Google's normal
    credentials otherwise (Application Default Credentials, or ``gcp_credentials`` as dagster-gcp reads them)."""

    api_endpoint: str | None = Field(
        default=None,
        description="BigQuery API root; default AMC_BIGQUERY_ENDPOINT (the sandbox's stand-in unless set).",
    )

    def refresh_settings(self) -> Settings:
        settings = get_settings()
        return dataclasses.replace(
            settings,
            bigquery_endpoint=(self.api_endpoint or settings.bigquery_endpoint).rstrip("/"),
            bigquery_project=self.project or settings.bigquery_project,
            bigquery_location=self.location or settings.bigquery_location,
        )

    @contextmanager
    def get_client(self) -> Iterator[bigquery.Client]:
        from dagster_gcp.bigquery.utils import setup_gcp_creds

        from amc_pipelines.refresh.bigquery import bigquery_client

        settings = self.refresh_settings()
        if self.gcp_credentials and not settings.bigquery_stand_in:
            with setup_gcp_creds(self.gcp_credentials):
                client = bigquery_client(settings)
        else:
            client = bigquery_client(settings)
        try:
            yield client
        finally:
            client.close()
