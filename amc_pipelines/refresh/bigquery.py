"""The ``google.cloud.bigquery.Client`` for the project's settings.

Pointed at the stand-in (``AMC_BIGQUERY_ENDPOINT``, by default the sandbox), the client gets
anonymous credentials and the endpoint as ``api_endpoint``; pointed at Google
(``https://bigquery.googleapis.com``), it gets Application Default Credentials, which google-auth
reads from the environment (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's login, or the metadata
server): this project never stores or logs them. Read results over REST with
``create_bqstorage_client=False``: google-cloud-bigquery-storage is not a dependency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amc_pipelines.settings import Settings, get_settings

if TYPE_CHECKING:
    from google.cloud import bigquery


def bigquery_client(settings: Settings | None = None) -> bigquery.Client:
    """A client for ``settings`` (default: the environment's); project and location from them too."""
    from google.api_core.client_options import ClientOptions
    from google.cloud import bigquery

    settings = settings or get_settings()
    if settings.bigquery_stand_in:
        from google.auth.credentials import AnonymousCredentials

        return bigquery.Client(
            project=settings.bigquery_project,
            location=settings.bigquery_location,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=settings.bigquery_endpoint),
        )
    return bigquery.Client(
        project=settings.bigquery_project,
        location=settings.bigquery_location,
        client_options=ClientOptions(api_endpoint=settings.bigquery_endpoint),
    )
